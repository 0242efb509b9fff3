"""A directory of image files, walked recursively in sorted order (JPEG, PNG, WebP, BMP, TIFF,
GIF; matched by suffix, case-insensitive). Files with other suffixes are ignored and counted."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from ...errors import UserError
from ..images import IMAGE_SUFFIXES
from .base import Item, Source


def walk_sorted(root: Path) -> Iterator[Path]:
    """Every file under `root`, depth first, names sorted: a stable order on any file system."""
    for directory, subdirs, files in os.walk(root):
        subdirs.sort()
        for name in sorted(files):
            yield Path(directory, name)


class FolderSource(Source):
    name = "folder"

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        if not self.root.is_dir():
            raise UserError(f"{self.root}: not a directory")
        self.ignored: list[str] = []  # files without an image suffix (the last pass)

    def candidates(self) -> Iterator[Item]:
        self.ignored = []
        for path in walk_sorted(self.root):
            relative = path.relative_to(self.root).as_posix()
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                self.ignored.append(relative)
                continue
            yield Item(key=relative, provenance={"source": relative}, path=str(path))

    def describe(self) -> dict:
        return {"ignored_files": len(self.ignored)}

    def warnings(self) -> list[str]:
        if not self.ignored:
            return []
        return [
            f"ignored {len(self.ignored):,} files without an image suffix, e.g. {self.ignored[0]}"
        ]

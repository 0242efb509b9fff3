"""A directory of image files, walked recursively in sorted order (JPEG, PNG, WebP, BMP, TIFF,
GIF; matched by suffix, case-insensitive). Files with other suffixes are ignored and counted;
an image name that is not a regular file (a FIFO, a socket, a broken link) is skipped with the
reason, and subfolders that cannot be read are named in a warning."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from ...errors import UserError
from ..images import IMAGE_SUFFIXES, Rejected
from .base import Item, Source


def walk_sorted(root: Path, unreadable: list[str] | None = None) -> Iterator[Path]:
    """Every file under `root`, depth first, names sorted: a stable order on any file system.
    Folders that cannot be listed are appended to `unreadable` (as `root`-relative paths)."""

    def note(err: OSError) -> None:
        if unreadable is not None:
            where = Path(err.filename or root)
            shown = where.relative_to(root).as_posix() if where != root else "."
            unreadable.append(f"{shown} ({err.strerror or err})")

    for directory, subdirs, files in os.walk(root, onerror=note):
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
        self.unreadable: list[str] = []  # subfolders that could not be listed

    def candidates(self) -> Iterator[Item]:
        self.ignored, self.unreadable = [], []
        for path in walk_sorted(self.root, self.unreadable):
            # a name that is not UTF-8 keeps its bytes, shown as \xNN: a stable, printable key
            relative = os.fsencode(path.relative_to(self.root).as_posix()).decode(
                "utf-8", "backslashreplace"
            )
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                self.ignored.append(relative)
                continue
            item = Item(key=relative, provenance={"source": relative}, path=str(path))
            if not path.is_file():  # reading a FIFO would wait forever
                item.path, item.rejected = None, Rejected("not-a-file", "not a regular file")
            yield item

    def describe(self) -> dict:
        return {"ignored_files": len(self.ignored), "unreadable_folders": len(self.unreadable)}

    def warnings(self) -> list[str]:
        notes = []
        if self.ignored:
            notes.append(
                f"ignored {len(self.ignored):,} files without an image suffix, "
                f"e.g. {self.ignored[0]}"
            )
        if self.unreadable:
            notes.append(
                f"could not read {len(self.unreadable):,} subfolder(s), their images left out: "
                + ", ".join(self.unreadable[:5])
            )
        return notes

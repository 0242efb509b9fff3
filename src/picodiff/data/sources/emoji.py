"""Emoji packages from npm, read from the `.tgz` that `npm pack` writes or from an unpacked folder:

- the emoji-datasource layout (`emoji-datasource-twitter`, `-google`...): `emoji.json` lists every
  emoji (name, short names, category, skin-tone variations) and `img/SET/64/*.png` draws it;
- the Fluent Emoji 3D layout (`@lobehub/fluent-emoji-3d`): `assets/*.webp` named by code points,
  with no names of its own (an emoji-datasource package in the same run names them; regional
  indicator pairs are flags).

Several packages go into one store. Each index row records the package, code points, name,
short names and category; skin-tone variants can be kept or dropped, and categories dropped.
Files listed but missing are skipped with their reason, like any unusable image.
"""

from __future__ import annotations

import json
import re
import tarfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from ...choices import check_choice
from ...errors import UserError
from ..images import Rejected
from .base import Item, Source

SkinTones = Literal["keep", "drop"]
SKIN_TONES: tuple[str, ...] = get_args(SkinTones)
SKIN_TONE_POINTS = {"1f3fb", "1f3fc", "1f3fd", "1f3fe", "1f3ff"}
FLAG = re.compile(r"^1f1[e-f][0-9a-f]-1f1[e-f][0-9a-f]$")  # two regional indicators
FLAGS = "Flags"
# the images' licences (an emoji-datasource package.json gives its code's, MIT) and what they
# ask to be said of the images
IMAGE_LICENCES = {
    "emoji-datasource-twitter": (
        "CC-BY-4.0",
        "Twemoji graphics by Twitter, Inc. and other contributors, licensed under CC-BY 4.0 "
        "(https://creativecommons.org/licenses/by/4.0/)",
    ),
    "emoji-datasource-google": (
        "Apache-2.0",
        "Noto Emoji by Google, licensed under the Apache License 2.0",
    ),
    "@lobehub/fluent-emoji-3d": (
        "MIT",
        "Fluent Emoji by Microsoft (packaged by LobeHub), MIT licence",
    ),
}


@dataclass(frozen=True)
class Emoji:
    points: str  # lower-case code points joined by "-", as in the file names
    name: str
    short_names: tuple[str, ...]
    category: str


class Package:
    """An npm package's files, from a .tgz or a folder (the package root or its parent)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if self.path.is_file():
            self._contents = _read_tarball(self.path)
            self.files = set(self._contents)
        elif (self.path / "package" / "package.json").is_file():
            self.path = self.path / "package"
            self.files = self._walk()
        elif self.path.is_dir():
            self.files = self._walk()
        else:
            raise UserError(f"{self.path}: no such emoji package (.tgz or folder)")
        if "package.json" not in self.files:
            raise UserError(f"{path}: no package.json: not an npm package")
        self.manifest = json.loads(self.read("package.json"))
        self.name = str(self.manifest.get("name", self.path.name))

    def _walk(self) -> set[str]:
        return {p.relative_to(self.path).as_posix() for p in self.path.rglob("*") if p.is_file()}

    def read(self, name: str) -> bytes:
        if self.path.is_file():
            return self._contents[name]
        return (self.path / name).read_bytes()

    def licence(self) -> dict[str, Any]:
        """The images' licence: known for the packages picodiff reads; else the package's own
        (which may cover only its code: check what its images say)."""
        package_licence = str(self.manifest.get("license", "unknown"))
        unknown = (package_licence, f"{self.name}: its package.json says {package_licence}")
        license_, attribution = IMAGE_LICENCES.get(self.name, unknown)
        version = self.manifest.get("version")
        return {
            "name": self.name,
            "version": version,
            "license": license_,
            "attribution": attribution,
        }


WANTED = re.compile(r"^(package\.json|emoji\.json|img/[^/]+/64/[^/]+|assets/[^/]+)$")


def _read_tarball(path: Path) -> dict[str, bytes]:
    """The files an emoji source reads, from a .tgz in one pass (random access into a gzip
    stream would decompress it again for every file)."""
    contents = {}
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                name = member.name.removeprefix("package/")
                if member.isfile() and WANTED.match(name):
                    contents[name] = tar.extractfile(member).read()  # type: ignore[union-attr]
    except (tarfile.TarError, OSError, EOFError) as err:
        raise UserError(f"{path}: not a readable npm package tarball ({err})") from None
    return contents


def catalogue(package: Package) -> tuple[str, dict[str, Emoji], list[dict]] | None:
    """(image folder, emoji by code points, emoji.json rows) of an emoji-datasource package;
    None for another layout."""
    if "emoji.json" not in package.files:
        return None
    sets = sorted({f.split("/")[1] for f in package.files if re.match(r"img/[^/]+/64/", f)})
    if not sets:
        raise UserError(f"{package.path}: emoji.json but no img/SET/64/ images")
    wanted = package.name.rsplit("-", 1)[-1]
    folder = f"img/{wanted if wanted in sets else sets[0]}/64"
    try:
        rows = json.loads(package.read("emoji.json"))
    except json.JSONDecodeError as err:
        raise UserError(f"{package.path}: emoji.json is not valid JSON ({err})") from None
    names = {}
    for row in rows:
        base = Emoji(_points(row["image"]), row["name"], tuple(row["short_names"]), row["category"])
        names[base.points] = base
        for tone in (row.get("skin_variations") or {}).values():
            points = _points(tone["image"])
            names[points] = Emoji(points, base.name, base.short_names, base.category)
    return folder, names, rows


def _points(file_name: str) -> str:
    return Path(file_name).stem.lower()


class EmojiSource(Source):
    name = "emoji"

    def __init__(
        self,
        paths: Sequence[str],
        skin_tones: SkinTones = "keep",
        drop_categories: Sequence[str] = (),
    ):
        self.skin_tones = check_choice("--skin-tones", skin_tones, SkinTones)
        self.packages = [Package(p) for p in paths]
        self.layouts = [catalogue(p) for p in self.packages]
        self.names: dict[str, Emoji] = {}  # what every emoji-datasource package calls them
        for layout in self.layouts:
            if layout is not None:
                self.names.update(layout[1])
        for package, layout in zip(self.packages, self.layouts):
            if layout is None and not any(f.startswith("assets/") for f in package.files):
                raise UserError(
                    f"{package.path}: neither the emoji-datasource layout (emoji.json, img/) "
                    "nor the Fluent Emoji layout (assets/*.webp)"
                )
        self.drop = set(drop_categories)
        present = {e.category for e in self._all()}
        unknown = sorted(self.drop - present)
        if unknown:
            raise UserError(
                f"--drop-category {', '.join(unknown)}: no such category in these packages "
                f"(they have {', '.join(sorted(present))})"
            )

    def _all(self) -> Iterator[Emoji]:
        """Every emoji of every package, with the package and file it comes from."""
        for package, layout in zip(self.packages, self.layouts):
            for emoji, _ in self._listed(package, layout):
                yield emoji

    def _listed(self, package: Package, layout) -> Iterator[tuple[Emoji, str]]:
        if layout is None:  # Fluent: the files are the list
            for file in sorted(f for f in package.files if f.startswith("assets/")):
                points = _points(file)
                emoji = self.names.get(points) or Emoji(
                    points, points, (), FLAGS if FLAG.match(points) else "Uncategorised"
                )
                yield emoji, file
            return
        folder, names, rows = layout
        for row in rows:
            tones = [t["image"] for t in (row.get("skin_variations") or {}).values()]
            for image in [row["image"], *tones]:
                yield names[_points(image)], f"{folder}/{image}"

    def candidates(self) -> Iterator[Item]:
        for package, layout in zip(self.packages, self.layouts):
            for emoji, file in self._listed(package, layout):
                tone = bool(SKIN_TONE_POINTS & set(emoji.points.split("-")))
                if emoji.category in self.drop or (tone and self.skin_tones == "drop"):
                    continue
                provenance = {
                    "source": package.name,
                    "file": file,
                    "points": emoji.points,
                    "name": emoji.name,
                    "short_names": list(emoji.short_names),
                    "category": emoji.category,
                    "skin_tone": tone,
                }
                item = Item(key=f"{package.name}:{emoji.points}", provenance=provenance)
                if file in package.files:
                    item.data = package.read(file)
                else:
                    item.rejected = Rejected("missing-file", f"{file} is listed but absent")
                yield item

    def describe(self) -> dict:
        return {
            "packages": [p.name for p in self.packages],
            "skin_tones": self.skin_tones,
            "dropped_categories": sorted(self.drop),
        }

    def licences(self) -> list[dict]:
        return [p.licence() for p in self.packages]


def is_package(path: Path) -> bool:
    """Whether `path` looks like an npm emoji package (.tgz, or a folder with package.json)."""
    if path.is_file():
        return path.name.endswith((".tgz", ".tar.gz"))
    return (path / "package.json").is_file() or (path / "package" / "package.json").is_file()

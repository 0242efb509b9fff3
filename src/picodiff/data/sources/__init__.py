"""Image sources for `picodiff prepare`, one module per format, and the format detector."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from ...errors import UserError
from ..download import DownloadOptions, default_cache_dir
from .base import Item, Source
from .celeba import IMAGE_DIR as CELEBA_IMAGE_DIR
from .celeba import CelebASource
from .cifar10 import TRAIN_FILES as CIFAR_TRAIN_FILES
from .cifar10 import Cifar10Source
from .digits import SOURCE_NAME as DIGITS_SOURCE
from .digits import DigitsSource
from .emoji import EmojiSource, SkinTones, is_package
from .folder import FolderSource
from .idx import SOURCE_NAME as FASHION_SOURCE
from .idx import IdxSource, is_idx_dir
from .picobanana import PicoBananaOptions, PicoBananaSource, is_url

Format = Literal["folder", "picobanana", "cifar10", "celeba", "digits", "idx", "emoji"]
FORMATS: tuple[str, ...] = get_args(Format)

__all__ = [
    "FORMATS",
    "Format",
    "Item",
    "PicoBananaOptions",
    "Source",
    "SourceOptions",
    "detect_format",
    "open_source",
]


@dataclass(frozen=True)
class SourceOptions:
    """Options of particular formats: emoji packages, IDX class names, Pico-Banana."""

    skin_tones: SkinTones = "keep"
    drop_categories: tuple[str, ...] = ()
    classes: tuple[str, ...] = ()  # IDX: a name per label (Fashion-MNIST's are known)
    picobanana: PicoBananaOptions | None = None
    download: DownloadOptions | None = None


def detect_format(source: str | Sequence[str]) -> str:
    """The format SOURCE looks like (several SOURCEs: emoji packages); a UserError says how to
    name it when unclear."""
    if not isinstance(source, str):
        if len(source) == 1:
            return detect_format(source[0])
        if all(is_package(Path(s)) for s in source):
            return "emoji"
        raise UserError("several sources go into one store only as emoji packages (.tgz)")
    path = Path(source)
    if source == DIGITS_SOURCE:
        return "digits"
    if source == FASHION_SOURCE:
        return "idx"
    if is_url(source) or path.suffix.lower() in (".jsonl", ".txt"):
        return "picobanana"
    if not path.exists():
        raise UserError(f"{source}: no such file or directory")
    if is_package(path):
        return "emoji"
    if path.is_dir():
        if any((d / CIFAR_TRAIN_FILES[0]).is_file() for d in (path, path / "cifar-10-batches-py")):
            return "cifar10"
        if is_idx_dir(path):
            return "idx"
        if (path / CELEBA_IMAGE_DIR).is_dir():
            return "celeba"
        return "folder"
    raise UserError(f"{source}: cannot tell its format; pass --format ({', '.join(FORMATS)})")


def open_source(
    fmt: str,
    source: str | Sequence[str],
    *,
    official_split: bool = True,
    options: SourceOptions | None = None,
) -> Source:
    """The Source object for `fmt` ("auto" detects it), with the options of that format."""
    fmt = detect_format(source) if fmt == "auto" else fmt
    options = options or SourceOptions()
    if fmt == "emoji":
        paths = [source] if isinstance(source, str) else list(source)
        return EmojiSource(paths, options.skin_tones, options.drop_categories)
    if not isinstance(source, str):
        if len(source) != 1:
            raise UserError(f"the {fmt} format takes one SOURCE, got {len(source)}")
        source = source[0]
    if fmt == "idx":
        return IdxSource(source, official_split, options.classes)
    if fmt == "folder":
        return FolderSource(source)
    if fmt == "cifar10":
        return Cifar10Source(source, official_split)
    if fmt == "celeba":
        return CelebASource(source, official_split)
    if fmt == "digits":
        return DigitsSource(source)
    if fmt == "picobanana":
        download = options.download or DownloadOptions(default_cache_dir())
        return PicoBananaSource(source, options.picobanana or PicoBananaOptions(), download)
    raise UserError(f"unknown format {fmt!r}; expected auto or one of {', '.join(FORMATS)}")

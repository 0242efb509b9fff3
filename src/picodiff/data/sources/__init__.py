"""Image sources for `picodiff prepare`, one module per format, and the format detector."""

from __future__ import annotations

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
from .folder import FolderSource
from .picobanana import PicoBananaOptions, PicoBananaSource, is_url

Format = Literal["folder", "picobanana", "cifar10", "celeba", "digits"]
FORMATS: tuple[str, ...] = get_args(Format)

__all__ = [
    "FORMATS",
    "Format",
    "Item",
    "PicoBananaOptions",
    "Source",
    "detect_format",
    "open_source",
]


def detect_format(source: str) -> str:
    """The format SOURCE looks like; a UserError says how to name it when unclear."""
    path = Path(source)
    if source == DIGITS_SOURCE:
        return "digits"
    if is_url(source) or path.suffix.lower() in (".jsonl", ".txt"):
        return "picobanana"
    if not path.exists():
        raise UserError(f"{source}: no such file or directory")
    if path.is_dir():
        if any((d / CIFAR_TRAIN_FILES[0]).is_file() for d in (path, path / "cifar-10-batches-py")):
            return "cifar10"
        if (path / CELEBA_IMAGE_DIR).is_dir():
            return "celeba"
        return "folder"
    raise UserError(f"{source}: cannot tell its format; pass --format ({', '.join(FORMATS)})")


def open_source(
    fmt: str,
    source: str,
    *,
    official_split: bool = True,
    picobanana: PicoBananaOptions | None = None,
    download: DownloadOptions | None = None,
) -> Source:
    """The Source object for `fmt` ("auto" detects it); picobanana/download apply to that format."""
    fmt = detect_format(source) if fmt == "auto" else fmt
    if fmt == "folder":
        return FolderSource(source)
    if fmt == "cifar10":
        return Cifar10Source(source, official_split)
    if fmt == "celeba":
        return CelebASource(source, official_split)
    if fmt == "digits":
        return DigitsSource(source)
    if fmt == "picobanana":
        download = download or DownloadOptions(default_cache_dir())
        return PicoBananaSource(source, picobanana or PicoBananaOptions(), download)
    raise UserError(f"unknown format {fmt!r}; expected auto or one of {', '.join(FORMATS)}")

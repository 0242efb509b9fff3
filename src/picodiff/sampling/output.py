"""A samples folder: one PNG per image, named by its index, and `samples.json` saying how
they were drawn (what `picodiff fid --samples DIR` reads)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..atomic import write_text
from ..errors import UserError
from ..pixels import save_png

MANIFEST = "samples.json"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
_INDEXED = re.compile(r"^\d{6,}\.png$")


def image_path(folder: Path, index: int) -> Path:
    return folder / f"{index:06d}.png"


def write_images(
    folder: Path, indices: Sequence[int], images: np.ndarray, provenance: dict | None = None
) -> None:
    """Save uint8 [b, H, W, C] images as FOLDER/000123.png (grayscale when C = 1), each with
    `provenance` (a `picodiff.provenance.provenance(...)` dict) and its own index."""
    for index, image in zip(indices, images):
        made = None if provenance is None else {**provenance, "index": int(index)}
        save_png(image_path(folder, index), image, made)


def check_out_dir(folder: Path, overwrite: bool) -> None:
    """Refuse to mix a new run into a folder that already holds samples."""
    if not folder.exists():
        return
    if not folder.is_dir():
        raise UserError(f"--out {folder}: exists and is not a directory")
    old = [p for p in folder.iterdir() if _INDEXED.match(p.name) or p.name == MANIFEST]
    if old and not overwrite:
        raise UserError(
            f"--out {folder} already holds {len(old)} sample file(s); choose another folder "
            "or pass --overwrite"
        )


def finish(folder: Path, n: int, manifest: dict[str, Any]) -> None:
    """Delete indexed PNGs from an earlier, larger run and write samples.json."""
    for path in folder.iterdir():
        if _INDEXED.match(path.name) and int(path.stem) >= n:
            path.unlink()
    write_text(folder / MANIFEST, json.dumps({**manifest, "n": n}, indent=2) + "\n")


def sample_files(folder: str | os.PathLike) -> list[Path]:
    """The images of a samples folder: those samples.json lists, else every PNG/JPEG, sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: no such folder of images")
    manifest = folder / MANIFEST
    if manifest.exists():
        n = json.loads(manifest.read_text())["n"]
        files = [image_path(folder, i) for i in range(n)]
        missing = [p.name for p in files if not p.exists()]
        if missing:
            raise UserError(
                f"{folder}: {len(missing)} image(s) of {MANIFEST} missing, e.g. {missing[0]}"
            )
        return files
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise UserError(f"{folder}: no PNG or JPEG images")
    return files


def read_image(path: Path, channels: int) -> np.ndarray:
    """uint8 [H, W, channels] (1: grayscale, 3: RGB) from an image file."""
    try:
        with Image.open(path) as image:
            converted = image.convert("L" if channels == 1 else "RGB")
    except OSError as err:
        raise UserError(f"{path}: unreadable image ({err})") from None
    array = np.asarray(converted)
    return array[..., None] if channels == 1 else array


def image_channels(path: Path) -> int:
    """1 for a grayscale image file, else 3."""
    try:
        with Image.open(path) as image:
            return 1 if image.mode in ("1", "L", "LA", "I", "I;16", "F") else 3
    except OSError as err:
        raise UserError(f"{path}: unreadable image ({err})") from None


def read_images(paths: list[Path], channels: int, shape: tuple | None = None) -> np.ndarray:
    """uint8 [N, H, W, channels]; every image must have `shape` (default: the first's)."""
    images = [read_image(p, channels) for p in paths]
    shape = shape or images[0].shape
    for path, image in zip(paths, images):
        if image.shape != shape:
            raise UserError(
                f"{path}: {image.shape[1]}x{image.shape[0]} px, unlike the other images "
                f"({shape[1]}x{shape[0]} px)"
            )
    return np.stack(images)

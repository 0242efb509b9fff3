"""Images between tensors in [-1, 1], uint8 arrays and PNG files: conversion, grids, saving
(with picodiff's provenance text chunks when given, see `picodiff.provenance`)."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from .atomic import write_bytes
from .provenance import png_info


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """[B, C, H, W] floats in [-1, 1] -> uint8 [B, H, W, C] (rounded, clipped)."""
    scaled = (images.detach().float().cpu().clamp(-1, 1) + 1) * 127.5
    return scaled.round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def make_grid(images: np.ndarray, ncols: int | None = None, pad: int = 2) -> np.ndarray:
    """Tile uint8 [B, H, W, C] images into one [rows*(H+pad)+pad, ...] image on white."""
    count, height, width, channels = images.shape
    ncols = ncols or math.ceil(math.sqrt(count))
    nrows = math.ceil(count / ncols)
    grid = np.full(
        (nrows * (height + pad) + pad, ncols * (width + pad) + pad, channels), 255, np.uint8
    )
    for i, image in enumerate(images):
        top, left = pad + (i // ncols) * (height + pad), pad + (i % ncols) * (width + pad)
        grid[top : top + height, left : left + width] = image
    return grid


def png_bytes(image: np.ndarray, provenance: dict[str, Any] | None = None) -> bytes:
    """PNG encoding of one uint8 [H, W, C] image (C = 1 gives a grayscale PNG); `provenance`
    (a `picodiff.provenance.provenance(...)` dict) goes into its `picodiff` and `Software`
    text chunks."""
    buffer = io.BytesIO()
    pnginfo = None if provenance is None else png_info(provenance)
    Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(
        buffer, format="PNG", pnginfo=pnginfo
    )
    return buffer.getvalue()


def save_png(path: str | Path, image: np.ndarray, provenance: dict[str, Any] | None = None) -> Path:
    """Write `png_bytes(image, provenance)` to `path` atomically."""
    path = Path(path)
    write_bytes(path, png_bytes(image, provenance))
    return path

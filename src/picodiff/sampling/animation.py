"""Animations of the denoising process: x_t beside the model's x0 prediction, step by step.

GIF through Pillow; MP4 through imageio-ffmpeg when it is installed (`pip install
imageio-ffmpeg`), which ships its own ffmpeg binary.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..errors import UserError
from ..pixels import make_grid, to_uint8

FORMATS = (".gif", ".mp4")
MIN_SIDE = 256  # small images are enlarged (nearest neighbour) to about this many pixels


def check_animation_path(path: str | os.PathLike) -> Path:
    """Refuse an unknown format, or .mp4 without an encoder, before any sampling is done."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise UserError(f"--animation {path}: use a .gif or .mp4 file name")
    if path.suffix.lower() == ".mp4" and _ffmpeg() is None:
        raise UserError(
            f"--animation {path}: writing MP4 needs an encoder: pip install imageio-ffmpeg "
            "(or 'picodiff[video]'), or write a .gif instead"
        )
    return path


class DenoisingRecorder:
    """A sampler callback that keeps up to `max_frames` frames of the first batch it sees:
    the first `images` rows of x_t (left) and of the x0 prediction (right)."""

    def __init__(self, images: int = 16, max_frames: int = 100):
        self.images, self.max_frames = images, max_frames
        self.frames: list[np.ndarray] = []
        self._done = False

    def __call__(self, i: int, total: int, x_t: torch.Tensor, x0: torch.Tensor) -> None:
        if self._done:
            return
        kept = np.linspace(0, total - 1, min(total, self.max_frames)).round().astype(int)
        if i in kept:
            self.frames.append(side_by_side(x_t[: self.images], x0[: self.images]))
        self._done = i == total - 1


def side_by_side(x_t: torch.Tensor, x0: torch.Tensor, gap: int = 8) -> np.ndarray:
    """One RGB frame: the grid of x_t, a white gap, the grid of x0 (values clipped to [-1, 1])."""
    left, right = make_grid(to_uint8(x_t)), make_grid(to_uint8(x0))
    spacer = np.full((left.shape[0], gap, left.shape[2]), 255, np.uint8)
    frame = np.concatenate([left, spacer, right], axis=1)
    scale = max(1, MIN_SIDE // frame.shape[0])
    frame = frame.repeat(scale, axis=0).repeat(scale, axis=1)
    return np.repeat(frame, 3, axis=2) if frame.shape[2] == 1 else frame


def write_animation(path: str | os.PathLike, frames: list[np.ndarray], fps: int = 12) -> Path:
    """Write uint8 RGB frames as a GIF (the last frame held 1.5 s) or an MP4."""
    path = check_animation_path(path)
    if not frames:
        raise ValueError("no frames to write")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.stem}.partial{path.suffix}")
    if path.suffix.lower() == ".gif":
        images = [Image.fromarray(f) for f in frames]
        durations = [round(1000 / fps)] * (len(frames) - 1) + [1500]
        images[0].save(partial, save_all=True, append_images=images[1:], duration=durations, loop=0)
    else:
        _write_mp4(partial, frames, fps)
    os.replace(partial, path)
    return path


def _write_mp4(path: Path, frames: list[np.ndarray], fps: int) -> None:
    height, width = (side + side % 2 for side in frames[0].shape[:2])  # yuv420p: even sides
    writer = _ffmpeg().write_frames(str(path), (width, height), fps=fps, macro_block_size=1)
    writer.send(None)
    for frame in frames:
        padded = np.full((height, width, 3), 255, np.uint8)
        padded[: frame.shape[0], : frame.shape[1]] = frame
        writer.send(padded.tobytes())
    writer.close()


def _ffmpeg():
    try:
        return importlib.import_module("imageio_ffmpeg")
    except ImportError:
        return None

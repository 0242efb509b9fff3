"""What made an image: the `picodiff` PNG text chunk that marks picodiff's own outputs, so
that `picodiff prepare` can keep them out of training data (no retraining on a model's own
images).

A PNG that picodiff writes with provenance carries two text chunks:

    picodiff   compact JSON: {"generator": "picodiff", "version": "0.1.0", "model": "pico-64",
               "model_version": "sha256:1f2e3d4c5b6a", "sampler": "dpmpp2m", "steps": 20,
               "guidance": null, "seed": 0, "index": 3, ...}
    Software   "picodiff 0.1.0" (what image viewers show)

    png_bytes(image, provenance=provenance(model="pico-64", sampler="ddim", steps=50,
                                           seed=0, index=3))
    read_provenance("000003.png")  # -> that dict, or None for an image without the chunks

Only PNG text chunks are written, and only they are detected: re-encoding the image (a JPEG
re-save, a screenshot, most editors' "export") drops them, and no invisible watermark is added
to the pixels. This module imports neither torch nor numpy (`picodiff prepare` reads it).
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

from PIL import Image, PngImagePlugin

from . import __version__

GENERATOR = "picodiff"
CHUNK = "picodiff"  # the JSON chunk's keyword
SOFTWARE = "Software"  # the PNG spec's registered keyword for the creating program


def provenance(
    *,
    model: str | list[str] | None = None,
    version: str | list[str | None] | None = None,
    sampler: str | list[str] | None = None,
    steps: int | list[int] | None = None,
    seed: int | None = None,
    index: int | None = None,
    guidance: float | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The dict of the `picodiff` chunk: who drew the image and how (None: not known).

    model: a short name (see `model_name`); version: the model's version (`model_version`);
    index: the image's index under `seed` (image i depends only on (seed, i)); a grid gives its
    first index and `count=N` for the images index .. index + N - 1. A cascade gives lists,
    one entry per stage, for model, version, sampler and steps. `extra` (JSON values: eta,
    spacing, ema, count, ...) is added as it is.
    """
    return {
        "generator": GENERATOR,
        "version": __version__,
        "model": model,
        "model_version": version,
        "sampler": sampler,
        "steps": steps,
        "guidance": guidance,
        "seed": seed,
        "index": index,
        **extra,
    }


def png_info(made: dict[str, Any]) -> PngImagePlugin.PngInfo:
    """The text chunks for a provenance dict: `picodiff` (compact JSON) and `Software`."""
    info = PngImagePlugin.PngInfo()
    info.add_text(CHUNK, json.dumps(made, separators=(",", ":")))
    info.add_text(SOFTWARE, f"{GENERATOR} {made.get('version', __version__)}")
    return info


def read_provenance(image: str | os.PathLike | bytes | Image.Image) -> dict[str, Any] | None:
    """The picodiff dict of a PNG (a path, its bytes or an open PIL image), None without one.

    A PNG whose `picodiff` chunk is no JSON object but which has that chunk or a `Software`
    chunk starting with "picodiff" still counts: {"generator": "picodiff", "software": ...}.
    Raises PIL's errors (OSError) for a file that is no readable image.
    """
    if isinstance(image, Image.Image):
        return _from_text(image.info)
    with Image.open(io.BytesIO(image) if isinstance(image, bytes) else image) as opened:
        opened.load()  # text chunks after the pixel data are read only by load()
        return _from_text(opened.info)


def model_name(path: str | os.PathLike) -> str:
    """A checkpoint's short name for the chunk, never the whole local path: its folder's name,
    or RUN/best, RUN/last and RUN/step-0000400 inside a training run."""
    path = Path(path)
    if path.name in ("best", "last"):
        return f"{path.parent.name}/{path.name}"
    if path.parent.name == "checkpoints":  # a run's checkpoints/step-N, where `last` points
        return f"{path.parent.parent.name}/{path.name}"
    return path.name


def model_version(checkpoint) -> str | None:
    """A loaded Checkpoint's version as the model catalog gives it: its metadata's `version`,
    else "sha256:" and 12 hex digits of its weights file (the EMA's when it has one)."""
    if checkpoint.metadata.get("version"):
        return str(checkpoint.metadata["version"])
    if checkpoint.path is None:
        return None
    from .checkpoint import EMA_FILE, WEIGHTS_FILE, file_version  # torch: samplers only

    path = Path(checkpoint.path)
    if path.is_dir():
        path = path / EMA_FILE if (path / EMA_FILE).exists() else path / WEIGHTS_FILE
    return file_version(path)


def _from_text(info: dict[str, Any]) -> dict[str, Any] | None:
    software, text = info.get(SOFTWARE), info.get(CHUNK)
    marked = isinstance(software, str) and software.startswith(GENERATOR)
    if text is None and not marked:
        return None
    try:
        made = json.loads(text) if isinstance(text, (str, bytes)) else None
    except ValueError:
        made = None
    if isinstance(made, dict):
        return made
    return {"generator": GENERATOR, "software": software if isinstance(software, str) else None}

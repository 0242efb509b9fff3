"""Features of the images to evaluate: a folder of samples, or images drawn from a checkpoint
on the fly (nothing written to disk)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..checkpoint import Checkpoint
from ..errors import UserError
from ..sampling import SamplerSettings, read_image, sample_batches, sample_files
from ..sampling.output import image_channels, read_images
from ..sampling.progress import SamplingBar
from .extractor import FeatureExtractor
from .features import extract

FOLDER_BATCH = 64


@dataclass
class DrawnFeatures:
    features: torch.Tensor  # [n, D]
    seconds: float  # time spent sampling (features excluded)
    first: np.ndarray  # uint8 [k, H, W, C]: the first `keep` images


def folder_features(
    extractor: FeatureExtractor, folder: Path, n: int, channels: int
) -> torch.Tensor:
    """Features of the first n images of a samples folder, which must have `channels`."""
    files = sample_files(folder)[:n]
    found = image_channels(files[0])
    if found != channels:
        raise UserError(f"{folder}: images have {found} channel(s), the reference store {channels}")
    shape = read_image(files[0], channels).shape
    starts = range(0, len(files), FOLDER_BATCH)
    batches = (read_images(files[i : i + FOLDER_BATCH], channels, shape) for i in starts)
    return extract(extractor, batches)


def checkpoint_features(
    extractor: FeatureExtractor,
    checkpoint: Checkpoint,
    n: int,
    settings: SamplerSettings,
    *,
    seed: int,
    batch_size: int,
    micro_batch: int,
    keep: int = 0,
    progress: bool = True,
    label: int | None = None,
    prompt: str | None = None,
    guidance: float = 1.0,
    every_class: bool = False,
) -> DrawnFeatures:
    """Draw n images (image i from (seed, i); of class `label`, of every class in turn with
    `every_class`, or of `prompt`, with `guidance`, for a conditional model), keeping only
    their features and the first few."""
    settings = settings.resolve(checkpoint.schedule.T)
    batch_size = -(-batch_size // micro_batch) * micro_batch
    bar = SamplingBar(n, -(-n // batch_size), settings.steps, progress)  # type: ignore[arg-type]
    batches = sample_batches(
        checkpoint,
        range(n),
        settings,
        seed=seed,
        batch_size=batch_size,
        micro_batch=micro_batch,
        callback=bar,
        label=label,
        prompt=prompt,
        guidance=guidance,
        every_class=every_class,
    )
    features, kept, seconds = [], [], 0.0
    while True:
        started = time.perf_counter()
        item = next(batches, None)
        seconds += time.perf_counter() - started
        if item is None:
            break
        features.append(extract(extractor, [item[1]]))
        kept.append(item[1][: max(keep - sum(len(k) for k in kept), 0)])
        bar.batch_done(len(item[0]))
    bar.close()
    return DrawnFeatures(torch.cat(features), seconds, np.concatenate(kept))

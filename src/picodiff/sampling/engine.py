"""Batch inference: images drawn so that image i depends only on (seed, i).

Two things make that hold bit for bit:
- noise: image i's noise comes from its own generator, seeded from (seed, i)
  (`picodiff.diffusion.image_generators`), so it does not depend on its batch;
- the network is always called on blocks of exactly `micro_batch` images
  (`picodiff.models.batching`), so image i gets the same bits whatever --batch-size, --n or the
  number of processes, as long as M (and each process's thread count) stays the same.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import get_args

import numpy as np
import torch

from ..checkpoint import Checkpoint
from ..diffusion import DEFAULT_STEPS, image_generators, sample
from ..diffusion.samplers import Callback, Method
from ..errors import UserError
from ..imageio import to_uint8
from ..models.batching import micro_batched

METHODS: tuple[str, ...] = get_args(Method)


@dataclass(frozen=True)
class SamplerSettings:
    """A sampler and its step count (None: the method's default, all T steps for ddpm)."""

    method: str = "dpmpp2m"
    steps: int | None = None
    eta: float = 0.0

    def steps_for(self, T: int) -> int:
        return self.steps or DEFAULT_STEPS.get(self.method, T)

    def check(self, T: int) -> None:
        """Refuse settings the model cannot be sampled with, naming the legal values."""
        if self.method not in METHODS:
            raise UserError(f"sampler must be one of {METHODS}, got {self.method!r}")
        if self.steps is not None and not 1 <= self.steps <= T:
            raise UserError(f"--steps must be in [1, {T}] for this model (T = {T})")
        if self.eta < 0:
            raise UserError(f"--eta must be >= 0, got {self.eta}")
        if self.eta and self.method != "ddim":
            raise UserError(f"--eta applies to the ddim sampler only, not {self.method}")


def draw(
    checkpoint: Checkpoint,
    indices: range,
    settings: SamplerSettings,
    *,
    seed: int,
    micro_batch: int,
    device: torch.device | str = "cpu",
    callback: Callback | None = None,
) -> torch.Tensor:
    """Images `indices` drawn together: [b, C, H, W] in [-1, 1].

    `indices` must start on a multiple of `micro_batch` (so that its blocks are aligned).
    """
    if indices.step != 1 or indices.start % micro_batch:
        raise ValueError(f"indices must be a range starting on a multiple of {micro_batch}")
    config = checkpoint.config
    shape = (len(indices), config.image_channels, config.image_size, config.image_size)
    with torch.inference_mode():
        return sample(
            micro_batched(checkpoint.model, micro_batch),
            checkpoint.schedule,
            shape,
            method=settings.method,
            steps=settings.steps_for(checkpoint.schedule.T),
            eta=settings.eta,
            generator=image_generators(seed, indices),
            prediction=checkpoint.prediction,
            callback=callback,
            device=device,
        )


def generate(
    checkpoint: Checkpoint,
    indices: range,
    settings: SamplerSettings,
    *,
    seed: int,
    batch_size: int,
    micro_batch: int,
    device: torch.device | str = "cpu",
    callback: Callback | None = None,
) -> Iterator[tuple[range, np.ndarray]]:
    """Yield (indices, uint8 images [b, H, W, C]) for consecutive batches of `indices`;
    batch_size is rounded up to a multiple of micro_batch."""
    batch_size = -(-batch_size // micro_batch) * micro_batch
    for start in range(indices.start, indices.stop, batch_size):
        batch = range(start, min(start + batch_size, indices.stop))
        images = draw(
            checkpoint,
            batch,
            settings,
            seed=seed,
            micro_batch=micro_batch,
            device=device,
            callback=callback,
        )
        yield batch, to_uint8(images)

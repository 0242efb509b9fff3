"""Cascaded sampling: a base model, then super-resolution stages, each with its own sampler.

    from picodiff.cascade import Cascade
    cascade = Cascade.from_paths(["runs/base-16/best", "runs/sr-16-32/best"])
    base, final = cascade.sample(8, seed=0)      # [8, C, 16, 16] and [8, C, 32, 32] in [-1, 1]

Image i of a seed depends only on (seed, i), at every stage.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import torch

from .checkpoint import Checkpoint, load_checkpoint
from .diffusion import DEFAULT_STEPS, image_generators, sample
from .diffusion.noise import derive_seed, randn
from .errors import UserError
from .models import UNetConfig
from .models.batching import default_micro_batch, micro_batched
from .superres import augment


@dataclass
class Stage:
    """One model of a cascade and how to sample it. aug_level: the conditioning augmentation
    (a fraction of T) of a super-resolution stage; None takes the one it was trained with."""

    checkpoint: Checkpoint
    sampler: str = "dpmpp2m"
    steps: int | None = None
    eta: float = 0.0
    aug_level: float | None = None

    @property
    def name(self) -> str:
        return str(self.checkpoint.path or "in-memory model")

    @property
    def steps_or_default(self) -> int:
        T = self.checkpoint.schedule.T
        return self.steps or min(DEFAULT_STEPS.get(self.sampler, T), T)

    def aug_timestep(self) -> int:
        level = self.aug_level
        if level is None:
            level = self.checkpoint.metadata.get("superres", {}).get("sample_aug", 0.0)
        return round(level * (self.checkpoint.schedule.T - 1))


class Cascade:
    """A base model followed by super-resolution stages whose resolutions chain up."""

    def __init__(self, stages: Sequence[Stage]):
        self.stages = list(stages)
        check_chain([(s.name, s.checkpoint.config) for s in self.stages])

    @classmethod
    def from_paths(cls, paths: Sequence[str], device="cpu", **options) -> Cascade:
        return cls([Stage(load_checkpoint(p, device=device), **options) for p in paths])

    @property
    def total_steps(self) -> int:
        return sum(stage.steps_or_default for stage in self.stages)

    def sample(self, n: int, seed: int, start: int = 0, callback=None) -> list[torch.Tensor]:
        """Images start..start+n-1 of `seed`; returns every stage's output, the last one last."""
        return self.sample_rows([(seed, i) for i in range(start, start + n)], callback)

    @torch.no_grad()
    def sample_rows(
        self, rows: Sequence[tuple[int, int]], callback=None, seconds: list | None = None
    ) -> list[torch.Tensor]:
        """One image per (seed, index) row. callback(i, total, x_t, x0) counts the steps of
        all stages together; `seconds`, if given, receives each stage's sampling time."""
        outputs, done = [], 0
        for k, stage in enumerate(self.stages):
            began = time.perf_counter()
            generators = [g for s, i in rows for g in image_generators(stage_seed(s, k), [i])]
            report = partial(_shifted, callback, done, self.total_steps) if callback else None
            if k == 0:
                outputs.append(generate(stage, len(rows), generators, report))
            else:
                outputs.append(upscale(stage, outputs[-1], generators, report))
            done += stage.steps_or_default
            if seconds is not None:
                seconds.append(time.perf_counter() - began)
        return outputs


def stage_seed(seed: int, stage: int) -> int:
    """The seed of cascade stage `stage` (the base stage uses the seed itself)."""
    return derive_seed(seed, stage) if stage else seed


def check_chain(stages: Sequence[tuple[str, UNetConfig]]) -> None:
    """Refuse a cascade whose (name, network config) stages do not fit together."""
    if not stages:
        raise UserError("a cascade needs at least one model")
    if stages[0][1].low_res_size:
        raise UserError(f"{stages[0][0]} is a super-resolution model; a cascade starts with a base")
    for (before, prev), (name, c) in zip(stages, stages[1:]):
        if not c.low_res_size:
            raise UserError(f"{name} is not a super-resolution model")
        if c.low_res_size != prev.image_size or c.image_channels != prev.image_channels:
            raise UserError(
                f"{name} was trained for {c.low_res_size} -> {c.image_size} px, "
                f"{c.image_channels} channel(s), but {before} makes {prev.image_size} px, "
                f"{prev.image_channels} channel(s) images"
            )


def generate(stage: Stage, n: int, generators, callback: Callable | None = None) -> torch.Tensor:
    """Sample n images from a base (unconditional) stage."""
    ckpt, c = stage.checkpoint, stage.checkpoint.config
    return sample(
        _network(ckpt), ckpt.schedule, (n, c.image_channels, c.image_size, c.image_size),
        **_sampling_options(stage, generators, callback),
    )  # fmt: skip


def upscale(stage: Stage, low: torch.Tensor, generators, callback=None) -> torch.Tensor:
    """Sample a super-resolution stage conditioned on `low` [B, C, h, w] in [-1, 1]."""
    ckpt, c = stage.checkpoint, stage.checkpoint.config
    device = next(ckpt.model.parameters()).device
    level = torch.full((len(low),), stage.aug_timestep(), dtype=torch.long, device=device)
    noise = randn(low.shape, generators, device=device)
    extra = {"low_res": augment(ckpt.schedule, low.to(device), level, noise), "aug_level": level}
    return sample(
        partial(_network(ckpt), **extra), ckpt.schedule,
        (len(low), c.image_channels, c.image_size, c.image_size),
        **_sampling_options(stage, generators, callback),
    )  # fmt: skip


def _network(ckpt: Checkpoint):
    """The model, called on fixed-size blocks so images do not depend on their batch."""
    device = next(ckpt.model.parameters()).device
    return micro_batched(ckpt.model, default_micro_batch(device))


def _sampling_options(stage: Stage, generators, callback) -> dict:
    ckpt = stage.checkpoint
    device = next(ckpt.model.parameters()).device
    return dict(method=stage.sampler, steps=stage.steps_or_default, eta=stage.eta,
                generator=generators, prediction=ckpt.prediction, callback=callback,
                device=device)  # fmt: skip


def _shifted(callback, offset: int, total: int, i: int, _stage_total: int, x, x0):
    return callback(offset + i, total, x, x0)

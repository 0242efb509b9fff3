"""Cascaded sampling: a base model, then super-resolution stages, each with its own settings.

    from picodiff.sampling import Cascade
    cascade = Cascade.from_paths(["runs/base-16/best", "runs/sr-16-32/best"])
    base, final = cascade.sample(8, seed=0)      # [8, C, 16, 16] and [8, C, 32, 32] in [-1, 1]

A cascade is built (its chain checked, its settings resolved) once; each stage draws through the
sampling engine, so image i of a seed depends only on (seed, i), at every stage. A plain model
is a cascade of one stage.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field

import torch

from ..checkpoint import Checkpoint, load_checkpoint
from ..diffusion import SamplerSettings
from ..diffusion.noise import derive_seed
from ..diffusion.samplers import Callback
from ..errors import OptionError, UserError
from ..models import UNetConfig
from .engine import NetworkCall, Observe, OnViolation, image_steps, run_alone

Rows = Sequence[tuple[int, int]]  # (seed, image index) per image


@dataclass(frozen=True)
class Stage:
    """One model of a cascade and how to sample it. aug_level: the conditioning augmentation
    (a fraction of T) of a super-resolution stage; None takes the one it was trained with."""

    checkpoint: Checkpoint
    settings: SamplerSettings = field(default_factory=SamplerSettings)
    aug_level: float | None = None

    def __post_init__(self) -> None:
        check_aug_level(self.aug_level)

    @property
    def name(self) -> str:
        return str(self.checkpoint.path or "in-memory model")


def check_aug_level(value: object) -> float | None:
    """None, or a number in [0, 1] (a fraction of T); an OptionError otherwise."""
    if value is None:
        return None
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 1:
        raise OptionError(f"aug_level must be a number in [0, 1], got {value!r}", "aug_level")
    return float(value)


class Cascade:
    """A base model followed by super-resolution stages whose resolutions chain up."""

    def __init__(self, stages: Sequence[Stage]):
        check_chain([(s.name, s.checkpoint.config) for s in stages])
        self.stages = [_resolved(stage, stage.settings) for stage in stages]

    @classmethod
    def from_paths(
        cls,
        paths: Sequence[str],
        device="cpu",
        settings: SamplerSettings | None = None,
        *,
        aug_level: float | None = None,
        **options,
    ) -> Cascade:
        """Checkpoints (base first) loaded with their EMA weights, every stage sampled with
        `settings` (or the SamplerSettings of `options`: sampler, steps, eta)."""
        settings = settings or SamplerSettings(**options)
        stages = [Stage(load_checkpoint(p, device=device), settings, aug_level) for p in paths]
        return cls(stages)

    @property
    def total_steps(self) -> int:
        return sum(stage.settings.steps for stage in self.stages)  # type: ignore[misc]

    def sample(self, n: int, seed: int = 0, start: int = 0, callback=None) -> list[torch.Tensor]:
        """Images start..start+n-1 of `seed`; returns every stage's output, the last one last."""
        return self.sample_rows([(seed, i) for i in range(start, start + n)], callback)

    def sample_rows(self, rows: Rows, callback: Callback | None = None, **options):
        """One image per (seed, index) row; every stage's output, the last one last.

        options (see `steps`): `base` replaces the base stage's settings (a server request's
        sampler and steps); `seconds`, if given, receives each stage's sampling time;
        `on_violation` and `observe` (every stage's calls). callback(i, total, x_t, x0)
        counts the steps of all stages together.
        """
        return run_alone(self.steps(rows, callback, **options), None)

    def steps(
        self,
        rows: Rows,
        callback: Callback | None = None,
        *,
        base: SamplerSettings | None = None,
        seconds: list[float] | None = None,
        on_violation: OnViolation | None = None,
        observe: Observe | None = None,
        labels: list[int | None] | None = None,
        prompts: list[str | None] | None = None,
        guidance: float = 1.0,
    ) -> Generator[NetworkCall, torch.Tensor, list[torch.Tensor]]:
        """`sample_rows` as a generator of the network calls of every stage in turn (see
        `image_steps`); it returns every stage's output. `labels` or `prompts`, and
        `guidance`, condition the base stage (a conditional one)."""
        stages = self.stages
        if base is not None:
            stages = [_resolved(stages[0], base), *stages[1:]]
        total = sum(stage.settings.steps for stage in stages)  # type: ignore[misc]
        indices = [index for _, index in rows]
        outputs: list[torch.Tensor] = []
        done = 0
        for k, stage in enumerate(stages):
            began = time.perf_counter()
            images = yield from image_steps(
                stage.checkpoint,
                indices,
                stage.settings,
                seed=[stage_seed(s, k) for s, _ in rows],
                low_res=outputs[-1] if outputs else None,
                aug_level=stage.aug_level,
                callback=_shifted(callback, done, total),
                on_violation=on_violation,
                observe=observe,
                **({"labels": labels, "prompts": prompts, "guidance": guidance} if k == 0 else {}),
            )
            outputs.append(images)
            done += stage.settings.steps  # type: ignore[operator]
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


def _resolved(stage: Stage, settings: SamplerSettings) -> Stage:
    resolved = settings.resolve(stage.checkpoint.schedule.T)
    return dataclasses.replace(stage, settings=resolved)


def _shifted(callback: Callback | None, offset: int, total: int) -> Callback | None:
    """A stage's callback, counting its steps after those of the stages before it."""
    if callback is None:
        return None
    return lambda i, _stage_total, x, x0: callback(offset + i, total, x, x0)

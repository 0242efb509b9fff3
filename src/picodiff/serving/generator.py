"""The server's view of a model: a catalog entry and its cascade (one stage for a plain model),
loaded on one device once per model version and sampled through the sampling engine."""

from __future__ import annotations

import warnings
from collections.abc import Generator, Sequence
from dataclasses import dataclass

import torch

from ..checkpoint import Checkpoint, load_checkpoint, load_legacy
from ..diffusion import NoiseSchedule, SamplerSettings
from ..diffusion.samplers import Callback
from ..sampling import Cascade, NetworkCall, NonFiniteOutput, OnViolation, Stage, run_alone
from ..sampling.engine import Observe
from .catalog import ModelEntry, stage_settings

__all__ = ["NonFiniteOutput", "ServedModel", "load_model"]


@dataclass
class ServedModel:
    """A loaded model: `sample` draws the rows (seed, index) with the request's settings (for
    a cascade, the base stage's; the other stages keep their cascade file's); `steps` is the
    same as a generator of network calls, for the worker that batches them step by step."""

    entry: ModelEntry
    cascade: Cascade

    @property
    def nbytes(self) -> int:
        return self.entry.nbytes

    def sample(self, rows: Sequence[tuple[int, int]], settings: SamplerSettings, **options):
        """The final images [len(rows), C, H, W] in [-1, 1] (options: those of `steps`)."""
        return run_alone(self.steps(rows, settings, **options), None)

    def steps(
        self,
        rows: Sequence[tuple[int, int]],
        settings: SamplerSettings,
        callback: Callback | None = None,
        on_violation: OnViolation | None = None,
        observe: Observe | None = None,
        **condition,
    ) -> Generator[NetworkCall, torch.Tensor, torch.Tensor]:
        """`sample` as a generator of network calls (see `picodiff.sampling.image_steps`);
        `condition`: a class-conditional model's `labels` and `guidance`."""
        cascade = self.cascade.steps(
            rows, callback, base=settings, on_violation=on_violation, observe=observe, **condition
        )
        outputs = yield from cascade
        return outputs[-1]


def load_model(entry: ModelEntry, device: str = "cpu") -> ServedModel:
    """Load a validated catalog entry (raises CheckpointError if it changed since)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the catalog already recorded schedule warnings
        if entry.kind == "cascade":
            stages = [_stage(spec, device) for spec in entry.load_options["stages"]]
        else:
            stages = [Stage(_checkpoint(entry, device))]
    conditioning = stages[0].checkpoint.conditioning
    if conditioning is not None and conditioning.kind == "text":
        conditioning.embedder()  # its sentence encoder, loaded now rather than at a prompt
    return ServedModel(entry, Cascade(stages))


def _checkpoint(entry: ModelEntry, device: str) -> Checkpoint:
    if entry.kind == "legacy":
        options = entry.load_options
        schedule = NoiseSchedule.from_config(options["schedule"])
        return load_legacy(
            entry.path, image_size=options["image_size"], schedule=schedule, device=device
        )
    return load_checkpoint(entry.path, device=device)


def _stage(spec: dict, device: str) -> Stage:
    checkpoint = load_checkpoint(spec["path"], device=device)
    return Stage(checkpoint, stage_settings(spec), spec.get("aug_level"))

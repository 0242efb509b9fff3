"""Servable models: anything with `sample(n, sampler, steps, eta, seed, callback)`.

`DiffusionModel` wraps one loaded checkpoint and samples it at its own resolution, channels,
T, schedule and prediction target. Its outputs are checked: NaN or inf raises NonFiniteOutput
(the server answers 500, never an image), a final x0 far outside [-1, 1] is reported.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Protocol

import torch

from ..cascade import Cascade, Stage
from ..checkpoint import Checkpoint, load_checkpoint, load_legacy
from ..diffusion import NoiseSchedule, image_generators, sample
from ..diffusion.forward import predict_x0_eps
from ..diffusion.samplers import Callback
from ..models.batching import default_micro_batch, micro_batched
from .catalog import ModelEntry

X0_LIMIT = 1.5  # |x0| beyond this at the last step counts as an output-range violation
Seeds = int | Sequence[tuple[int, int]]  # one seed for images 0..n-1, or (seed, index) per row
OnViolation = Callable[[str], None]


class NonFiniteOutput(RuntimeError):
    """The network produced NaN or inf: the model is broken, no image is returned."""

    def __init__(self, model: str, step: int):
        super().__init__(
            f"model {model!r} produced non-finite values (NaN or inf) at denoising step "
            f"{step + 1}; its weights are broken, no image was returned"
        )


class Sampleable(Protocol):
    """What the queue needs from a model (a cascade can implement it too)."""

    entry: ModelEntry
    nbytes: int

    def sample(
        self,
        n: int,
        sampler: str,
        steps: int,
        eta: float,
        seed: Seeds,
        callback: Callback | None = None,
        on_violation: OnViolation | None = None,
    ) -> torch.Tensor: ...


class DiffusionModel:
    """A checkpoint's U-Net and schedule, ready to sample on one device."""

    def __init__(self, checkpoint: Checkpoint, entry: ModelEntry, device: str = "cpu"):
        self.net = checkpoint.model.to(device).eval()
        self.schedule: NoiseSchedule = checkpoint.schedule
        self.prediction = checkpoint.prediction
        self.entry, self.device = entry, device
        self.nbytes = sum(v.numel() * v.element_size() for v in self.net.state_dict().values())

    def sample(self, n, sampler, steps, eta, seed, callback=None, on_violation=None):
        """n images [n, C, H, W] in [-1, 1]; image (seed, i) is the same in any batch."""
        rows = [(seed, i) for i in range(n)] if isinstance(seed, int) else list(seed)
        generators = [g for s, i in rows for g in image_generators(s, [i])]
        config = self.net.config
        shape = (len(rows), config.image_channels, config.image_size, config.image_size)
        with torch.inference_mode():
            images = sample(
                self._checked_net(on_violation),
                self.schedule,
                shape,
                method=sampler,
                steps=steps,
                eta=eta,
                generator=generators,
                prediction=self.prediction,
                callback=callback,
                device=self.device,
            )
        if not bool(torch.isfinite(images).all()):
            raise NonFiniteOutput(self.entry.name, steps - 1)
        return images

    def _checked_net(self, on_violation: OnViolation | None):
        """The network, raising on NaN/inf and reporting a last-step x0 outside [-1, 1]."""
        alpha_bar_0 = float(self.schedule.alpha_bars[0])
        calls = itertools.count()

        net = micro_batched(self.net, default_micro_batch(self.device))

        def model_fn(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            out = net(x, t)
            step = next(calls)
            if not bool(torch.isfinite(out).all()):
                raise NonFiniteOutput(self.entry.name, step)
            if on_violation is not None and int(t[0]) == 0:
                x0, _ = predict_x0_eps(self.prediction, x, out, alpha_bar_0)
                if float(x0.abs().max()) > X0_LIMIT:
                    on_violation("x0_range")
            return out

        return model_fn


class CascadeModel:
    """A cascade served as one model: the request's sampler, steps and eta drive the base
    stage; each super-resolution stage keeps the options of its cascade file."""

    def __init__(self, cascade: Cascade, entry: ModelEntry):
        self.cascade, self.entry = cascade, entry
        self.nbytes = entry.nbytes

    def sample(self, n, sampler, steps, eta, seed, callback=None, on_violation=None):
        rows = [(seed, i) for i in range(n)] if isinstance(seed, int) else list(seed)
        base, *rest = self.cascade.stages
        cascade = Cascade([replace(base, sampler=sampler, steps=steps, eta=eta), *rest])
        with torch.inference_mode():
            images = cascade.sample_rows(rows, callback)[-1]
        if not bool(torch.isfinite(images).all()):
            raise NonFiniteOutput(self.entry.name, self.cascade.total_steps - 1)
        return images


def load_cascade(entry: ModelEntry, device: str) -> CascadeModel:
    stages = [
        Stage(load_checkpoint(spec["path"], device=device),
              **{k: v for k, v in spec.items() if k != "path"})
        for spec in entry.load_options["stages"]
    ]  # fmt: skip
    return CascadeModel(Cascade(stages), entry)


def load_model(entry: ModelEntry, device: str = "cpu") -> Sampleable:
    """Load a validated catalog entry (raises CheckpointError if it changed since)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the catalog already recorded schedule warnings
        if entry.kind == "cascade":
            return load_cascade(entry, device)
        if entry.kind == "legacy":
            options = entry.load_options
            schedule = NoiseSchedule.from_config(options["schedule"])
            checkpoint = load_legacy(
                entry.path, image_size=options["image_size"], schedule=schedule
            )
        else:
            checkpoint = load_checkpoint(entry.path)
    return DiffusionModel(checkpoint, entry, device)

"""Validation loss on a fixed set of (image, t, noise) triples drawn once, so that it measures
the model and not the draw (the pb2025 project's validation loss swung with random noise)."""

from __future__ import annotations

from functools import partial

import torch

from ..data import ImageStore
from ..diffusion import NoiseSchedule, diffusion_loss
from ..diffusion.superres import Conditioning
from .batches import derive_seed


class Validator:
    def __init__(
        self,
        store: ImageStore,
        schedule: NoiseSchedule,
        size: int,
        seed: int,
        conditioning: Conditioning | None = None,
    ):
        gen = torch.Generator().manual_seed(derive_seed(seed, 4))
        count = min(size, len(store))
        rows = torch.randperm(len(store), generator=gen)[:count].sort().values
        self.schedule = schedule
        self.x0 = store.batch(rows.tolist())
        self.t = torch.randint(0, schedule.T, (count,), generator=gen)
        self.noise = torch.randn(self.x0.shape, generator=gen)
        self.conditioning = conditioning
        if conditioning is not None:
            self.levels, self.aug_noise = conditioning.draw(gen, count, self.x0.shape[1])

    @torch.no_grad()
    def loss(self, model, prediction: str, batch_size: int, autocast) -> float:
        """Mean L_simple of `model` over the fixed triples."""
        device = next(model.parameters()).device
        total = 0.0
        for start in range(0, len(self.x0), batch_size):
            part = slice(start, start + batch_size)
            x0, net = self.x0[part].to(device), model
            if self.conditioning is not None:
                extra = self.conditioning.inputs(x0, self.levels[part], self.aug_noise[part])
                net = partial(model, **{k: v.to(device) for k, v in extra.items()})
            with autocast():
                per_example = diffusion_loss(
                    net,
                    self.schedule,
                    x0,
                    t=self.t[part].to(device),
                    noise=self.noise[part].to(device),
                    prediction=prediction,
                    reduction="none",
                )
            total += float(per_example.sum())
        return total / len(self.x0)

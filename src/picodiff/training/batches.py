"""Which rows, timesteps, noise and flips make up each training step.

Everything is a function of (seed, step) alone: resuming at step k replays exactly what an
uninterrupted run would have done, and any number of processes can cut the same global batch.
"""

from __future__ import annotations

import torch

from ..diffusion.noise import derive_seed
from ..errors import UserError


class BatchPlan:
    """Epoch e visits the rows in a permutation seeded by (seed, e); step s takes the s-th slice
    of `batch_size` rows (the last partial batch of an epoch is dropped)."""

    def __init__(self, rows: int, batch_size: int, seed: int):
        if rows < batch_size:
            raise UserError(
                f"the training split has {rows} images, fewer than one batch of {batch_size}; "
                "lower batch_size or prepare more data"
            )
        self.rows, self.batch_size, self.seed = rows, batch_size, seed
        self.steps_per_epoch = rows // batch_size
        self._epoch, self._order = -1, torch.empty(0, dtype=torch.long)

    def epoch_of(self, step: int) -> int:
        return step // self.steps_per_epoch

    def indices(self, step: int) -> torch.Tensor:
        epoch = self.epoch_of(step)
        if epoch != self._epoch:
            gen = torch.Generator().manual_seed(derive_seed(self.seed, 1, epoch))
            self._epoch, self._order = epoch, torch.randperm(self.rows, generator=gen)
        start = (step % self.steps_per_epoch) * self.batch_size
        return self._order[start : start + self.batch_size]

    def generator(self, step: int) -> torch.Generator:
        """The generator for step `step`'s timesteps, noise and flips."""
        return torch.Generator().manual_seed(derive_seed(self.seed, 2, step))

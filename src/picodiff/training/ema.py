"""Exponential moving average of the weights (Polyak averaging), used for sampling and eval."""

from __future__ import annotations

import torch
from torch import nn


class EMA:
    """ema = d * ema + (1 - d) * weights after every optimizer step.

    With warmup, d = min(decay, (1 + n) / (10 + n)) after n updates, so early averages are not
    dominated by the random initialisation.
    """

    def __init__(self, model: nn.Module, decay: float, warmup: bool = True):
        self.decay, self.warmup, self.updates = decay, warmup, 0
        self.state = {k: v.detach().float().clone() for k, v in model.state_dict().items()}

    def current_decay(self) -> float:
        if not self.warmup:
            return self.decay
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        decay = self.current_decay()
        for name, value in model.state_dict().items():
            average = self.state[name]
            if value.is_floating_point():
                average.lerp_(value.float(), 1 - decay)
            else:
                average.copy_(value)
        self.updates += 1

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.state

    def load_state_dict(self, state: dict[str, torch.Tensor], updates: int) -> None:
        for name, value in state.items():
            self.state[name].copy_(value)
        self.updates = updates

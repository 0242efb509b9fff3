"""Run one training step and save the gradients it applied: `python tests/ddp_gradients.py
STORE OUT KEY=VALUE...`, alone or under `torchrun`. DDP promises that every process applies
the gradient of the whole global batch, so rank 0's file must match the single process's."""

from __future__ import annotations

import sys

import torch

from picodiff.training import Trainer, resolve_config


class GradientRecorder(Trainer):
    """A Trainer that keeps the gradients of its optimizer steps (after DDP's all-reduce)."""

    def _optimizer_step(self) -> None:
        self.gradients = {n: p.grad.detach().clone() for n, p in self.model.named_parameters()}
        super()._optimizer_step()


def main(store: str, out: str, *options: str) -> None:
    config = resolve_config(None, None, list(options), data=store, max_steps=1)
    trainer = GradientRecorder(config, out)
    trainer.train_step(0)
    if trainer.dist.is_main:
        torch.save(trainer.gradients, f"{out}.gradients.pt")
    trainer.dist.close()


if __name__ == "__main__":
    main(*sys.argv[1:])

"""Process-group set-up for `torchrun` (DDP): NCCL on GPUs, gloo on CPUs."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Distributed:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @classmethod
    def from_env(cls, device: torch.device) -> Distributed:
        """Join the process group torchrun describes in RANK / WORLD_SIZE / LOCAL_RANK."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world == 1:
            return cls()
        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        return cls(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))

    def all_mean(self, value: float) -> float:
        """The mean of `value` over the processes."""
        return self._reduce(value, dist.ReduceOp.SUM) / self.world_size

    def all_max(self, value: float) -> float:
        """The largest `value` over the processes (a clock every process agrees on)."""
        return self._reduce(value, dist.ReduceOp.MAX)

    def _reduce(self, value: float, op) -> float:
        if not self.enabled:
            return value
        tensor = torch.tensor([value], dtype=torch.float64)
        dist.all_reduce(tensor, op=op)
        return float(tensor)

    def close(self) -> None:
        if self.enabled and dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()


def pick_device(name: str) -> torch.device:
    """ "auto": this process's CUDA device under torchrun (LOCAL_RANK), else cuda:0, else CPU."""
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device("cpu")

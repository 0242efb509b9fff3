"""The memory planner: what a training step needs, and the largest batch that fits a budget.

Fixed costs follow from the parameter count (fp32 weights, gradients, Adam's two moments, the
EMA copy). Activation memory is measured, not guessed: two forward passes at batch 1 and 2 on the
CPU record every tensor autograd saves for backward (torch.autograd.graph.saved_tensors_hooks,
each storage once), giving a per-image cost and a batch-independent part (e.g. bf16 copies of
the weights under autocast).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch

from ..errors import UserError
from ..models import UNet, UNetConfig

MODES = (("fp32", False), ("fp32", True), ("bf16", False), ("bf16", True))
RESERVE_BYTES = 2**30  # CUDA context, kernels' workspaces
FRAGMENTATION = 1.10  # allocator slack on activations


@dataclass
class ActivationCost:
    fixed: int  # bytes saved whatever the batch
    per_image: int

    def at(self, batch: int) -> int:
        return self.fixed + batch * self.per_image


@dataclass
class MemoryPlan:
    config: UNetConfig
    parameters: int
    activations: dict[tuple[str, bool], ActivationCost]

    @property
    def state_bytes(self) -> int:
        """fp32 weights + gradients + Adam moments (2) + EMA copy."""
        return self.parameters * 4 * 5

    def step_bytes(self, batch: int, precision: str, checkpointing: bool) -> int:
        act = self.activations[(precision, checkpointing)].at(batch) * FRAGMENTATION
        return int(self.state_bytes + act)

    def largest_batch(self, budget: int, precision: str, checkpointing: bool) -> int:
        cost = self.activations[(precision, checkpointing)]
        room = (budget - RESERVE_BYTES - self.state_bytes) / FRAGMENTATION - cost.fixed
        return max(int(room // cost.per_image), 0)


def saved_bytes(model: UNet, batch: int, precision: str = "fp32") -> int:
    """Bytes of distinct storages autograd saves in one forward pass at `batch` (CPU)."""
    c = model.config
    x = torch.randn(batch, c.image_channels, c.image_size, c.image_size)
    t = torch.randint(0, 1000, (batch,))
    extra = {}
    if c.low_res_size:  # a super-resolution network also takes its low-resolution input
        low = torch.randn(batch, c.image_channels, c.low_res_size, c.low_res_size)
        extra = {"low_res": low, "aug_level": torch.zeros(batch, dtype=torch.long)}
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen: dict[int, int] = {}

    def pack(tensor: torch.Tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in params:
            seen[storage.data_ptr()] = storage.nbytes()
        return tensor

    dtype = torch.bfloat16 if precision == "bf16" else None
    with (
        torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor),
        torch.autocast("cpu", dtype=dtype, enabled=dtype is not None),
    ):
        model.train()(x, t, **extra)
    return sum(seen.values())


def plan_memory(config: UNetConfig, modes=MODES) -> MemoryPlan:
    """Measure the activation cost of `config` in each (precision, checkpointing) mode."""
    model = UNet(config.replace(dropout=0.0))
    costs = {}
    for precision, checkpointing in modes:
        model.set_gradient_checkpointing(checkpointing)
        one, two = saved_bytes(model, 1, precision), saved_bytes(model, 2, precision)
        costs[(precision, checkpointing)] = ActivationCost(max(2 * one - two, 0), two - one)
    return MemoryPlan(config, model.num_parameters(), costs)


def parse_bytes(text: str) -> int:
    """'20GB', '16 GiB', '512MB', '1.5TB' -> bytes (powers of 1024, as GPUs are sold)."""
    match = re.fullmatch(r"\s*([\d.]+)\s*([KMGT]?)i?B?\s*", text, re.IGNORECASE)
    if not match:
        raise UserError(f"cannot read memory size {text!r}; write e.g. 20GB or 512MB")
    number, unit = float(match.group(1)), match.group(2).upper()
    return int(number * 1024 ** "BKMGT".index(unit or "B"))


def format_plan(plan: MemoryPlan, budget: int | None = None) -> str:
    c, mb = plan.config, 2**20
    lines = [
        f"network: {c.layout} layout, {plan.parameters:,} parameters, {c.image_size} px, "
        f"{c.image_channels} channel(s)",
        f"weights {plan.parameters * 4 / mb:.1f} MB + gradients {plan.parameters * 4 / mb:.1f} MB"
        f" + Adam state {plan.parameters * 8 / mb:.1f} MB + EMA {plan.parameters * 4 / mb:.1f} MB"
        f" = {plan.state_bytes / mb:.1f} MB",
        "activations saved for backward, per image (+ fixed):",
    ]
    for (precision, ckpt), cost in plan.activations.items():
        name = f"{precision}{' + checkpointing' if ckpt else ''}"
        line = f"  {name:<22} {cost.per_image / mb:9.1f} MB (+ {cost.fixed / mb:.1f} MB)"
        if budget is not None:
            fits = plan.largest_batch(budget, precision, ckpt)
            line += f"   largest batch in {budget / 2**30:.0f} GiB: {fits}"
        lines.append(line)
    if budget is not None:
        lines.append(
            f"(budget minus {RESERVE_BYTES / 2**30:.0f} GiB reserved for the CUDA context, and "
            f"{FRAGMENTATION - 1:.0%} allocator slack on activations)"
        )
    return "\n".join(lines)


def available_bytes(device: torch.device) -> int:
    """Free memory on `device`: CUDA's free memory, or the system's MemAvailable on CPU."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo") as f:
            fields = dict(line.split(":", 1) for line in f)
        return int(fields["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        return 2**62  # unknown: do not refuse

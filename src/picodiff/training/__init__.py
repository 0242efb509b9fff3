"""Training: config and presets, the loop (EMA, AMP, accumulation, DDP, resume), planning."""

from .config import PRESETS, TrainConfig, resolve_config
from .plan import MemoryPlan, format_plan, plan_memory
from .trainer import Trainer

__all__ = [
    "PRESETS",
    "MemoryPlan",
    "TrainConfig",
    "Trainer",
    "format_plan",
    "plan_memory",
    "resolve_config",
]

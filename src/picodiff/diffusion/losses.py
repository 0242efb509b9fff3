"""The denoising training loss: L_simple (Ho et al. 2020, eq. 14) for eps, v or x0 targets,
with optional min-SNR-gamma weighting (Hang et al. 2023)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch

from ..choices import check_choice
from .forward import Prediction, gather, q_sample, training_target
from .noise import Generators, randn
from .schedules import NoiseSchedule

ModelFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def min_snr_weight(
    schedule: NoiseSchedule, t: torch.Tensor, prediction: str, gamma: float
) -> torch.Tensor:
    """Per-example weight min(SNR_t, gamma) expressed for the chosen prediction target.

    With SNR = ab / (1 - ab): eps -> min(SNR, g) / SNR, v -> min(SNR, g) / (SNR + 1),
    x0 -> min(SNR, g).
    """
    snr = (schedule.alpha_bars / (1 - schedule.alpha_bars)).to(t.device)[t]
    clipped = snr.clamp(max=gamma)
    if prediction == "eps":
        weight = (gamma / snr).clamp(max=1.0)  # = min(SNR, g) / SNR, finite when SNR = 0
    elif prediction == "v":
        weight = clipped / (snr + 1)
    else:
        weight = clipped
    return weight.float()


def diffusion_loss(
    model_fn: ModelFn,
    schedule: NoiseSchedule,
    x0: torch.Tensor,
    *,
    prediction: Prediction = "eps",
    min_snr_gamma: float | None = None,
    t: torch.Tensor | None = None,
    noise: torch.Tensor | None = None,
    generator: Generators = None,
    reduction: Literal["mean", "none"] = "mean",
) -> torch.Tensor:
    """Mean squared error between model_fn(x_t, t) and the target for `prediction`.

    t (uniform over [0, T)) and noise are drawn from `generator` unless given, so a fixed
    validation set can pass its own. reduction="none" returns one loss per example.
    """
    check_choice("prediction", prediction, Prediction)
    batch = x0.shape[0]
    if t is None:
        gen = generator if isinstance(generator, torch.Generator) else None
        device = gen.device if gen is not None else x0.device
        t = torch.randint(0, schedule.T, (batch,), generator=gen, device=device)
    t = t.to(x0.device)
    if noise is None:
        noise = randn(x0.shape, generator, device=x0.device, dtype=x0.dtype)
    x_t = q_sample(schedule, x0, t, noise)
    target = training_target(prediction, x0, noise, gather(schedule.alpha_bars, t, x0))
    output = model_fn(x_t, t)
    per_example = (output.float() - target.float()).pow(2).flatten(1).mean(dim=1)
    if min_snr_gamma is not None:
        per_example = per_example * min_snr_weight(schedule, t, prediction, min_snr_gamma)
    return per_example.mean() if reduction == "mean" else per_example

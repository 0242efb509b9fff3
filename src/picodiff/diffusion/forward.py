"""The forward process q(x_t | x_0), its posterior q(x_{t-1} | x_t, x_0), and the maps between
the network's prediction targets (Ho et al. 2020; Salimans & Ho 2022 for v)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import torch

from ..choices import check_choice
from ..errors import OptionError
from .schedules import NoiseSchedule

# a sampler's view of the network: (x_t, t) -> (x0, eps) predictions
Denoise = Callable[[torch.Tensor, int], tuple[torch.Tensor, torch.Tensor]]


def half_log_snr(alpha_bar: float) -> float:
    """lambda = log(alpha / sigma) = (log alpha_bar - log(1 - alpha_bar)) / 2 (+-inf at 1, 0)."""
    if alpha_bar <= 0.0:
        return -math.inf
    if alpha_bar >= 1.0:
        return math.inf
    return 0.5 * (math.log(alpha_bar) - math.log1p(-alpha_bar))


def sigma_tilde(alpha_bar: float) -> float:
    """sigma / alpha = sqrt((1 - alpha_bar) / alpha_bar), the variance-exploding noise level
    (inf at alpha_bar = 0)."""
    return math.inf if alpha_bar <= 0.0 else ((1 - alpha_bar) / alpha_bar) ** 0.5


Prediction = Literal["eps", "v", "x0"]


def check_samplable(schedule: NoiseSchedule, prediction: str) -> None:
    """Refuse an eps model on a zero-terminal-SNR schedule: x0 = (x_T - sqrt(1 - ab) eps) /
    sqrt(ab) is undefined at alpha_bar_T = 0, so sampling could not start (Lin et al. 2024)."""
    if float(schedule.alpha_bars[-1]) == 0.0 and prediction == "eps":
        raise OptionError(
            "a zero-terminal-SNR schedule cannot be sampled with prediction 'eps' (x0 is "
            "undefined at alpha_bar_T = 0); use prediction 'v' or 'x0'",
            field="prediction",
        )


def gather(values: torch.Tensor, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """values[t] shaped [B, 1, 1, ...] to broadcast against `like`, in like's dtype and device."""
    out = values.to(like.device)[t.to(like.device)]
    return out.to(like.dtype).reshape(-1, *([1] * (like.ndim - 1)))


def q_sample(
    schedule: NoiseSchedule, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor
) -> torch.Tensor:
    """x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps  (Ho et al. 2020, eq. 4)."""
    alpha_bar_t = gather(schedule.alpha_bars, t, x0)
    return alpha_bar_t.sqrt() * x0 + (1 - alpha_bar_t).sqrt() * noise


def q_posterior(
    schedule: NoiseSchedule, x0: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and variance of q(x_{t-1} | x_t, x_0) (Ho et al. 2020, eqs. 6-7).

    mean = sqrt(ab_{t-1}) beta_t / (1 - ab_t) x_0 + sqrt(alpha_t) (1 - ab_{t-1}) / (1 - ab_t) x_t
    var  = beta_tilde_t = (1 - ab_{t-1}) / (1 - ab_t) beta_t, with ab_{-1} = 1.
    """
    alpha_bars_prev = torch.cat([torch.ones(1, dtype=torch.float64), schedule.alpha_bars[:-1]])
    ab_t = schedule.alpha_bars
    coef_x0 = alpha_bars_prev.sqrt() * schedule.betas / (1 - ab_t)
    coef_xt = schedule.alphas.sqrt() * (1 - alpha_bars_prev) / (1 - ab_t)
    variance = (1 - alpha_bars_prev) / (1 - ab_t) * schedule.betas
    mean = gather(coef_x0, t, x0) * x0 + gather(coef_xt, t, x_t) * x_t
    return mean, gather(variance, t, x_t).expand_as(x_t)


def training_target(
    prediction: Prediction, x0: torch.Tensor, noise: torch.Tensor, alpha_bar: torch.Tensor
) -> torch.Tensor:
    """What the network is trained to output: eps, x0 or v = sqrt(ab) eps - sqrt(1-ab) x0."""
    if check_choice("prediction", prediction, Prediction) == "eps":
        return noise
    if prediction == "x0":
        return x0
    return alpha_bar.sqrt() * noise - (1 - alpha_bar).sqrt() * x0


def predict_x0_eps(
    prediction: Prediction, x_t: torch.Tensor, output: torch.Tensor, alpha_bar
) -> tuple[torch.Tensor, torch.Tensor]:
    """(x0, eps) implied by the network output; alpha_bar is a float or a broadcastable tensor."""
    check_choice("prediction", prediction, Prediction)
    a = alpha_bar**0.5
    s = (1 - alpha_bar) ** 0.5
    if prediction == "eps":
        return (x_t - s * output) / a, output
    if prediction == "x0":
        return output, (x_t - a * output) / s
    return a * x_t - s * output, s * x_t + a * output  # v

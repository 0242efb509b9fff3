"""The samplers of Karras et al. 2022 (EDM, arXiv 2206.00364): Euler and Heun on the
probability-flow ODE dx~/dsigma~ = eps, in x~ = x / alpha and sigma~ = sigma / alpha (the
variance-exploding form of a DDPM), usually on the Karras spacing (`spacing="karras"`, rho = 7).

Like the other samplers they are steppers (`steppers`) over a noisy start and the steps of
`samplers._walk`, the last step landing on the clean image. The Euler step is written as
x~ + (sigma~_next - sigma~) eps = x0 + sigma~_next eps, which stays finite from a
zero-terminal-SNR start (sigma~ = inf); Heun's correction is skipped on such a start.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

from .forward import sigma_tilde
from .steppers import Stepper


def euler(x: torch.Tensor, steps: Iterable) -> Stepper:
    """Euler's method, EDM Algorithm 1 without the Heun correction (no churn): one network call
    per step."""
    for _, t, _, ab_next, report in steps:
        x0, eps = yield x, t
        report(x, x0)
        x = ab_next**0.5 * (x0 + sigma_tilde(ab_next) * eps)
    return x


def heun(x: torch.Tensor, steps: Iterable) -> Stepper:
    """Heun's 2nd-order method, EDM Algorithm 1 (no churn): an Euler step to sigma_next, then
    the average of the slopes at both ends (a second network call), except on the last step
    (to sigma = 0), which stays Euler. n steps cost 2n - 1 network calls."""
    for _, t, ab_t, ab_next, report, t_next in _with_next(steps):
        x0, eps = yield x, t
        report(x, x0)
        s, s_next = sigma_tilde(ab_t), sigma_tilde(ab_next)
        x_euler = ab_next**0.5 * (x0 + s_next * eps)  # 1. Euler to sigma_next
        if ab_next == 1.0 or math.isinf(s):
            x = x_euler
            continue
        _, eps_next = yield x_euler, t_next  # 2. the slope there
        # 3. x~_next = x~ + (s_next - s) (eps + eps_next) / 2
        x = ab_next**0.5 * (x0 + s_next * eps + (s_next - s) * (eps_next - eps) / 2)
    return x


def _with_next(steps: Iterable):
    """Each step with the next step's timestep appended (None after the last)."""
    steps = list(steps)
    nexts = [s[1] for s in steps[1:]] + [None]
    return [(*step, t_next) for step, t_next in zip(steps, nexts)]

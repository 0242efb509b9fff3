"""Noise schedules: the betas of the forward process and everything derived from them.

A schedule is data: a frozen dataclass holding float64 tensors of length T, built by one small
constructor per published formula.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from ..choices import check_choice

ScheduleName = Literal["linear", "cosine", "quadratic", "sigmoid"]
TERMINAL_ALPHA_BAR_LIMIT = 1e-3


class TerminalSNRWarning(UserWarning):
    """The last timestep is not pure noise, but sampling starts from pure noise."""


@dataclass(frozen=True, eq=False)
class NoiseSchedule:
    """The discrete DDPM forward process q(x_t | x_{t-1}) = N(sqrt(alpha_t) x_{t-1}, beta_t I).

    Timesteps are indexed 0..T-1 (the paper's 1..T). Build one with `linear`, `cosine`,
    `quadratic` or `sigmoid`; `config` and `from_config` round-trip it through JSON.
    """

    betas: torch.Tensor
    config: dict[str, Any] = field(default_factory=dict)
    alphas: torch.Tensor = field(init=False)
    alpha_bars: torch.Tensor = field(init=False)

    def __post_init__(self) -> None:
        betas = torch.as_tensor(self.betas, dtype=torch.float64).flatten()
        if betas.numel() < 1 or not bool(((betas > 0) & (betas <= 1)).all()):
            raise ValueError("betas must be a non-empty sequence of values in (0, 1]")
        alphas = 1.0 - betas
        object.__setattr__(self, "betas", betas)
        object.__setattr__(self, "alphas", alphas)
        object.__setattr__(self, "alpha_bars", torch.cumprod(alphas, dim=0))
        terminal = float(self.alpha_bars[-1])
        if terminal > TERMINAL_ALPHA_BAR_LIMIT:
            warnings.warn(
                f"this schedule ends at alpha_bar_T = {terminal:.4g} (signal std "
                f"{math.sqrt(terminal):.3f}): training never sees pure noise, yet sampling starts "
                "from N(0, I). Use more steps, a larger beta_end, the cosine schedule or "
                "zero_terminal_snr=True.",
                TerminalSNRWarning,
                stacklevel=5,  # the caller of NoiseSchedule.linear(...) and friends
            )

    @property
    def T(self) -> int:
        return self.betas.numel()

    def __repr__(self) -> str:
        return f"NoiseSchedule({self.config or 'custom'}, T={self.T})"

    # --- constructors -------------------------------------------------------------------------
    @classmethod
    def linear(
        cls, T: int, beta_start: float = 1e-4, beta_end: float = 0.02, *, zero_terminal_snr=False
    ) -> NoiseSchedule:
        """Ho et al. 2020: betas linear from beta_start to beta_end (the pb2025 schedule)."""
        betas = torch.linspace(beta_start, beta_end, _check_T(T), dtype=torch.float64)
        config = dict(name="linear", T=T, beta_start=beta_start, beta_end=beta_end)
        return cls._build(betas, config, zero_terminal_snr)

    @classmethod
    def quadratic(
        cls, T: int, beta_start: float = 1e-4, beta_end: float = 0.02, *, zero_terminal_snr=False
    ) -> NoiseSchedule:
        """betas = linspace(sqrt(beta_start), sqrt(beta_end), T) ** 2."""
        root = torch.linspace(beta_start**0.5, beta_end**0.5, _check_T(T), dtype=torch.float64)
        config = dict(name="quadratic", T=T, beta_start=beta_start, beta_end=beta_end)
        return cls._build(root**2, config, zero_terminal_snr)

    @classmethod
    def cosine(
        cls, T: int, s: float = 0.008, max_beta: float = 0.999, *, zero_terminal_snr=False
    ) -> NoiseSchedule:
        """Nichol & Dhariwal 2021, eq. 17: alpha_bar(t) = f(t) / f(0),
        f(t) = cos²((t/T + s) / (1 + s) · π/2), betas clipped to max_beta."""
        steps = torch.arange(_check_T(T) + 1, dtype=torch.float64) / T
        f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
        betas = (1 - f[1:] / f[:-1]).clamp(max=max_beta)
        config = dict(name="cosine", T=T, s=s, max_beta=max_beta)
        return cls._build(betas, config, zero_terminal_snr)

    @classmethod
    def sigmoid(
        cls, T: int, start: float = -3, end: float = 3, tau: float = 1, *, zero_terminal_snr=False
    ) -> NoiseSchedule:
        """Chen 2023, Algorithm 1: alpha_bar(t) from a sigmoid; betas clipped to 0.999."""
        steps = torch.arange(_check_T(T) + 1, dtype=torch.float64) / T
        v_start, v_end = _sigmoid(start / tau), _sigmoid(end / tau)
        gamma = (v_end - torch.sigmoid((steps * (end - start) + start) / tau)) / (v_end - v_start)
        betas = (1 - gamma[1:] / gamma[:-1]).clamp(max=0.999)
        config = dict(name="sigmoid", T=T, start=start, end=end, tau=tau)
        return cls._build(betas, config, zero_terminal_snr)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> NoiseSchedule:
        """Rebuild a schedule from its `config` dict (as saved beside a checkpoint)."""
        params = dict(config)
        name = check_choice("schedule", params.pop("name", None), ScheduleName)
        for key, value in params.items():
            if key == "zero_terminal_snr":
                good, kind = isinstance(value, bool), "true or false"
            else:
                good = isinstance(value, (int, float)) and not isinstance(value, bool)
                kind = "a number"
            if not good:
                raise ValueError(f"schedule {key} must be {kind}, got {value!r}")
        return getattr(cls, name)(**params)

    @classmethod
    def _build(cls, betas: torch.Tensor, config: dict, zero_terminal_snr: bool) -> NoiseSchedule:
        if zero_terminal_snr:
            betas = rescale_zero_terminal_snr(betas)
        return cls(betas, config={**config, "zero_terminal_snr": bool(zero_terminal_snr)})


def rescale_zero_terminal_snr(betas: torch.Tensor) -> torch.Tensor:
    """Lin et al. 2024, Algorithm 1: shift and scale sqrt(alpha_bar) so alpha_bar_T = 0."""
    sqrt_ab = torch.cumprod(1 - betas, dim=0).sqrt()
    first, last = sqrt_ab[0].clone(), sqrt_ab[-1].clone()
    sqrt_ab = (sqrt_ab - last) * first / (first - last)
    alpha_bars = sqrt_ab**2
    alphas = torch.cat([alpha_bars[:1], alpha_bars[1:] / alpha_bars[:-1]])
    return 1 - alphas


MAX_T = 100_000  # diffusion steps of a schedule (DDPM uses 1000; beyond, a file is suspect)


def _check_T(T: int) -> int:
    if not isinstance(T, int) or isinstance(T, bool) or not 1 <= T <= MAX_T:
        raise ValueError(f"T must be an integer in [1, {MAX_T:,}], got {T!r}")
    return T


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))

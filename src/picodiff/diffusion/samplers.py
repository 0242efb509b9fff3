"""Reverse-process samplers: ancestral DDPM and DDIM here, the multistep solvers
(DPM-Solver++(2M), (3M) and (2M) SDE, UniPC, iPNDM) in `multistep`, Euler and Heun in `karras`,
and the timestep spacings.

Each sampler is a stepper (`steppers`) over a noisy start and a descending list of training
timesteps: it yields (x_t, t) for every network call and is sent the (x0, eps) predictions.
`sampling_steps` wraps one into a generator over raw network calls, (x_t, t [B]) -> the
network's output; `sample` drives that with any `model_fn(x_t, t)`; `sample_ddim(denoise, x,
steps)` and its siblings drive one sampler with a `denoise(x_t, t) -> (x0, eps)` closure.
Every sampler walks t_0 > t_1 > ... > t_{n-1} and finally to the clean image (alpha_bar = 1).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Generator, Iterator, Sequence
from typing import Literal

import torch

from ..choices import check_choice
from ..deprecation import warn_renamed
from .forward import Denoise, Prediction, check_samplable, predict_x0_eps
from .karras import euler, heun
from .multistep import dpmpp_2m, dpmpp_2m_sde, dpmpp_3m, ipndm, unipc
from .noise import Generators, randn
from .schedules import NoiseSchedule
from .settings import Sampler, SamplerSettings, Spacing
from .steppers import Stepper, drive, relay

Variance = Literal["beta_tilde", "beta"]
ModelFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Callback = Callable[[int, int, torch.Tensor, torch.Tensor], "bool | None"]
# yields the network calls (x_t, t [B]), is sent the network's output, returns x_0 in [-1, 1]
NetworkSteps = Generator[tuple[torch.Tensor, torch.Tensor], torch.Tensor, torch.Tensor]


class SamplingCancelled(Exception):
    """Raised when the callback returns False; `step` is where sampling stopped."""

    def __init__(self, step: int, total: int):
        super().__init__(f"sampling cancelled at step {step + 1} of {total}")
        self.step, self.total = step, total


def sample(
    model_fn: ModelFn, schedule: NoiseSchedule, shape: Sequence[int], **options
) -> torch.Tensor:
    """Draw x_0 ~ p_theta in [-1, 1] by running a reverse-process sampler.

    model_fn(x_t, t) gets t as an int64 tensor [B] of training timesteps in [0, T); the options
    are those of `sampling_steps`.
    """
    return drive(sampling_steps(schedule, shape, **options), lambda call: model_fn(*call))


def sampling_steps(
    schedule: NoiseSchedule,
    shape: Sequence[int],
    *,
    sampler: Sampler = "ddpm",
    steps: int | None = None,
    eta: float = 0.0,
    generator: Generators = None,
    x_T: torch.Tensor | None = None,
    prediction: Prediction = "eps",
    clip_x0: bool = True,
    callback: Callback | None = None,
    variance: Variance = "beta_tilde",
    spacing: Spacing | None = None,
    device: torch.device | str | None = None,
    method: str | None = None,
) -> NetworkSteps:
    """A reverse-process sampler as a generator of network calls: it yields (x_t, t), t an
    int64 tensor [B] of training timesteps in [0, T), is sent the network's output for them,
    and returns x_0 ~ p_theta in [-1, 1]. Everything is checked before the first call.

    sampler, steps, eta and spacing are resolved by `SamplerSettings` (default steps: T for
    "ddpm", where fewer respaces the schedule as in Nichol & Dhariwal 2021 sec. 4; 50 for "ddim";
    20 for "dpmpp2m"; never more than T). callback(i, total, x_t, x0_pred) runs after each model
    call; returning False raises SamplingCancelled. Noise comes only from `generator` (or one
    generator per batch row), so a seed fixes the output. (`method` is the old name of sampler.)
    """
    if method is not None:
        warn_renamed("sample() argument", "method", "sampler")
        sampler = method  # type: ignore[assignment]
    settings = SamplerSettings(sampler, steps, eta, spacing).resolve(schedule.T)
    check_choice("variance", variance, Variance)
    check_choice("prediction", prediction, Prediction)
    check_samplable(schedule, prediction)
    timesteps = spaced_timesteps(schedule, settings.steps, settings.spacing)  # type: ignore
    if x_T is None:
        x_T = randn(shape, generator, device=device)
    elif tuple(x_T.shape) != tuple(shape):
        raise ValueError(f"x_T has shape {tuple(x_T.shape)}, expected {tuple(shape)}")
    alpha_bars = [float(schedule.alpha_bars[t]) for t in timesteps]
    walk = _walk(timesteps, alpha_bars, callback)
    options = {
        "ddpm": {"generator": generator, "variance": variance},
        "ddim": {"generator": generator, "eta": settings.eta},
        "dpmpp2m-sde": {"generator": generator},
    }.get(settings.sampler, {})
    stepper = STEPPERS[settings.sampler](x_T, walk, **options)
    return _clamped(relay(stepper, _timestep_rows, denoiser(schedule, prediction, clip_x0)))


def _clamped(steps: NetworkSteps) -> NetworkSteps:
    return (yield from steps).clamp(-1, 1)


def _timestep_rows(call: tuple[torch.Tensor, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """A stepper's (x_t, t) as a network call: t repeated for every row."""
    x, t = call
    return x, torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)


def denoiser(schedule: NoiseSchedule, prediction: str, clip_x0: bool):
    """reply((x_t, t), output) -> (x0, eps): the predictions implied by the network's output,
    x0 clipped to [-1, 1] (and eps made consistent with it) if asked."""
    alpha_bars = schedule.alpha_bars.tolist()

    def reply(call: tuple[torch.Tensor, int], output: torch.Tensor):
        x, t = call
        x0, eps = predict_x0_eps(prediction, x, output.to(x.dtype), alpha_bars[t])  # type: ignore
        if clip_x0:
            x0 = x0.clamp(-1, 1)
            eps = (x - alpha_bars[t] ** 0.5 * x0) / (1 - alpha_bars[t]) ** 0.5
        return x0, eps

    return reply


def spaced_timesteps(schedule: NoiseSchedule, steps: int, spacing: Spacing = "linear") -> list[int]:
    """`steps` distinct training timesteps, descending from T-1.

    "linear" spaces them evenly in t from T-1 to 0 (DDIM's tau, Song et al. 2020 sec. 4.2);
    "trailing" evenly from T-1 down to T/steps - 1 (Lin et al. 2024, Table 2: the last step
    still starts from a noisy image); "logsnr" evenly in the half-log-SNR lambda, as DPM-Solver
    recommends for low-resolution images (Lu et al. 2022 sec. 5); "karras" at the sigmas of
    Karras et al. 2022 eq. 5 (rho = 7) between the schedule's sigma_max and sigma_min, in the
    variance-exploding sigma = sqrt((1 - alpha_bar) / alpha_bar). The last two are mapped to
    training timesteps by interpolating log sigma and rounding, as diffusers does.
    """
    T = schedule.T
    check_choice("spacing", spacing, Spacing)
    if not isinstance(steps, int) or not 1 <= steps <= T:
        raise ValueError(f"steps must be an integer in [1, T={T}], got {steps!r}")
    if steps == 1:
        return [T - 1]
    if spacing == "linear":
        return [round((T - 1) * (1 - i / (steps - 1))) for i in range(steps)]
    if spacing == "trailing":
        return [round(T - i * T / steps) - 1 for i in range(steps)]
    lam = 0.5 * (schedule.alpha_bars.log() - (-schedule.alpha_bars).log1p())
    finite = lam[torch.isfinite(lam)]  # a zero-terminal-SNR end (-inf) is left out
    if spacing == "logsnr":
        ends = float(finite.min()), float(finite.max())
        targets = torch.linspace(*ends, steps, dtype=torch.float64)
        return _distinct_descending(_nearest(lam, targets), T)
    log_sigma = -finite.double()  # increasing in t
    rho, fractions = 7.0, torch.linspace(0, 1, steps, dtype=torch.float64)
    s_max, s_min = (float(log_sigma[-1]) / rho, float(log_sigma[0]) / rho)
    ramp = math.exp(s_max) + fractions * (math.exp(s_min) - math.exp(s_max))
    targets = (rho * ramp.log()).clamp(float(log_sigma[0]), float(log_sigma[-1]))
    return _distinct_descending(_interpolated(log_sigma, targets), T)


def _nearest(lam: torch.Tensor, targets: torch.Tensor) -> list[int]:
    """For each target, the t whose (decreasing) lam is closest, the smaller t on a tie; in
    O(steps log T) memory and time, never a [steps, T] matrix."""
    rising = -lam.double()
    above = torch.searchsorted(rising, -targets).clamp(0, len(lam) - 1)
    below = (above - 1).clamp(min=0)
    closer_below = (lam[below] - targets).abs() <= (lam[above] - targets).abs()
    return torch.where(closer_below, below, above).tolist()


def _interpolated(log_sigma: torch.Tensor, targets: torch.Tensor) -> list[int]:
    """The fractional t whose interpolated log sigma is each target, rounded (diffusers'
    _sigma_to_t followed by round())."""
    high = torch.searchsorted(log_sigma, targets).clamp(1, len(log_sigma) - 1)
    below, above = log_sigma[high - 1], log_sigma[high]
    weight = ((targets - below) / (above - below)).clamp(0, 1)
    return [round(float(t)) for t in (high - 1) + weight]


def _distinct_descending(timesteps: list[int], T: int) -> list[int]:
    """Start at T-1, then keep t_i in [steps-1-i, t_{i-1} - 1] so that they stay distinct."""
    steps, out = len(timesteps), [T - 1]
    for i, t in enumerate(timesteps[1:], start=1):
        out.append(min(max(t, steps - 1 - i), out[-1] - 1))
    return out


# A step: (i, t, alpha_bar_t, alpha_bar_next, report), alpha_bar_next = 1 at the last step.
Step = tuple[int, int, float, float, Callable[[torch.Tensor, torch.Tensor], None]]


def _walk(timesteps: list[int], alpha_bars: list[float], callback: Callback | None) -> Iterator:
    total = len(timesteps)
    for i, t in enumerate(timesteps):
        alpha_bar_next = alpha_bars[i + 1] if i + 1 < total else 1.0

        def report(x: torch.Tensor, x0: torch.Tensor, i: int = i) -> None:
            if callback is not None and callback(i, total, x, x0) is False:
                raise SamplingCancelled(i, total)

        yield i, t, alpha_bars[i], alpha_bar_next, report


def ddpm(
    x: torch.Tensor, steps: Iterator[Step], *, generator=None, variance="beta_tilde"
) -> Stepper:
    """Ancestral sampling, Ho et al. 2020 Algorithm 2, on a possibly respaced schedule."""
    for _, t, ab_t, ab_next, report in steps:
        x0, _ = yield x, t
        report(x, x0)
        # 1. the (respaced) step's beta: beta = 1 - ab_t / ab_next
        beta = 1 - ab_t / ab_next
        # 2. posterior mean of q(x_next | x_t, x0), eq. 7
        coef_x0 = ab_next**0.5 * beta / (1 - ab_t)
        coef_xt = (1 - beta) ** 0.5 * (1 - ab_next) / (1 - ab_t)
        x = coef_x0 * x0 + coef_xt * x
        # 3. add noise with sigma^2 = beta_tilde (eq. 7) or beta; none on the last step
        if ab_next < 1.0:
            var = beta if variance == "beta" else (1 - ab_next) / (1 - ab_t) * beta
            x = x + var**0.5 * randn(x.shape, generator, device=x.device, dtype=x.dtype)
    return x


def ddim(x: torch.Tensor, steps: Iterator[Step], *, generator=None, eta=0.0) -> Stepper:
    """DDIM, Song et al. 2020 eq. 12; eta = 0 is deterministic, eta = 1 matches DDPM noise."""
    for _, t, ab_t, ab_next, report in steps:
        x0, eps = yield x, t
        report(x, x0)
        # 1. sigma_t(eta), eq. 16
        sigma = eta * ((1 - ab_next) / (1 - ab_t) * (1 - ab_t / ab_next)) ** 0.5
        # 2. x_next = sqrt(ab_next) x0 + sqrt(1 - ab_next - sigma^2) eps + sigma z
        x = ab_next**0.5 * x0 + max(1 - ab_next - sigma**2, 0.0) ** 0.5 * eps
        if sigma > 0:
            x = x + sigma * randn(x.shape, generator, device=x.device, dtype=x.dtype)
    return x


# every sampler's stepper, by name
STEPPERS: dict[str, Callable[..., Stepper]] = {
    "ddpm": ddpm,
    "ddim": ddim,
    "dpmpp2m": dpmpp_2m,
    "dpmpp3m": dpmpp_3m,
    "unipc2": functools.partial(unipc, order=2),
    "unipc3": functools.partial(unipc, order=3),
    "ipndm": ipndm,
    "dpmpp2m-sde": dpmpp_2m_sde,
    "euler": euler,
    "heun": heun,
}


def driven(stepper: Callable[..., Stepper]) -> Callable[..., torch.Tensor]:
    """The sampler as a plain function: run(denoise, x, steps, **options) -> its last image."""

    @functools.wraps(stepper)
    def run(denoise: Denoise, x: torch.Tensor, steps, **options) -> torch.Tensor:
        return drive(stepper(x, steps, **options), lambda call: denoise(*call))

    return run


sample_ddpm, sample_ddim = driven(ddpm), driven(ddim)
sample_dpmpp_2m, sample_dpmpp_3m = driven(dpmpp_2m), driven(dpmpp_3m)
sample_dpmpp_2m_sde, sample_unipc, sample_ipndm = driven(dpmpp_2m_sde), driven(unipc), driven(ipndm)
sample_euler, sample_heun = driven(euler), driven(heun)

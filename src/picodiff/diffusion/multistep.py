"""High-order multistep solvers: DPM-Solver++(2M) and (3M), UniPC, iPNDM (ODEs) and
DPM-Solver++(2M) SDE.

Each is a stepper (`steppers`): a generator over a noisy start and the steps of `samplers._walk`
(i, t, alpha_bar_t, alpha_bar_next, report) that yields (x_t, t) once per step, is sent the
network's (x0, eps) predictions there, and returns the image of the last step, which lands on
the clean image (alpha_bar = 1). They keep the previous steps' predictions and
raise their order as that history fills, lowering it again on the final steps where the step to
the clean image is large. In the notation of the papers: alpha_t = sqrt(alpha_bar),
sigma_t = sqrt(1 - alpha_bar), lambda_t = log(alpha_t / sigma_t) (the half-log-SNR), and a
zero-terminal-SNR start (alpha_bar = 0, lambda = -inf) only ever enters as a first-order step.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

from .forward import half_log_snr, sigma_tilde
from .noise import randn
from .steppers import Stepper


class _History:
    """The predictions of the steps so far (newest last), and the order they allow."""

    def __init__(self, steps: Iterable) -> None:
        self.steps = list(steps)
        self.lambdas: list[float] = []
        self.x0s: list[torch.Tensor] = []

    def push(self, lam: float, x0: torch.Tensor, keep: int) -> None:
        self.lambdas, self.x0s = [*self.lambdas, lam][-keep:], [*self.x0s, x0][-keep:]

    def extrapolated(self, h: float) -> torch.Tensor:
        """DPM-Solver++(2M)'s D = (1 + 1/2r) x0 - 1/2r x0_prev, r = h_prev / h (eq. 3.5), from
        the two newest entries."""
        half_inv_r = h / (2 * (self.lambdas[-1] - self.lambdas[-2]))
        return (1 + half_inv_r) * self.x0s[-1] - half_inv_r * self.x0s[-2]

    def usable(self) -> int:
        """How many newest entries have a finite lambda (a zero-SNR start has none)."""
        n = 0
        for lam in reversed(self.lambdas):
            if not math.isfinite(lam):
                break
            n += 1
        return n


def dpmpp_2m(x: torch.Tensor, steps: Iterable) -> Stepper:
    """DPM-Solver++(2M), Lu et al. 2022 (arXiv 2211.01095) Algorithm 2: data prediction,
    multistep, order 2; first order on the first and last steps (k-diffusion's sample_dpmpp_2m)."""
    return _dpmpp_multistep(x, steps, order=2)


def dpmpp_3m(x: torch.Tensor, steps: Iterable) -> Stepper:
    """DPM-Solver++(3M), Lu et al. 2022 (arXiv 2211.01095) sec. 4 and Appendix B: data
    prediction, multistep, order 3. Order 1 on the first step and the last (to the clean image),
    2 on the second; with fewer than 15 steps also 2 on the second-to-last (as diffusers'
    DPMSolverMultistepScheduler with lower_order_final)."""
    return _dpmpp_multistep(x, steps, order=3)


def _dpmpp_multistep(x: torch.Tensor, steps: Iterable, order: int) -> Stepper:
    history = _History(steps)
    total = len(history.steps)
    for i, t, ab_t, ab_next, report in history.steps:
        x0, _ = yield x, t
        report(x, x0)
        lam_t = half_log_snr(ab_t)
        history.push(lam_t, x0, keep=order)
        if ab_next == 1.0:  # 1. the final step, first order, lands on x0 itself
            return x0
        # 2. the order this step allows: the history, and lower on the final steps
        k = min(order, history.usable(), 2 if total < 15 and i == total - 2 else order)
        # 3. h = lambda_next - lambda_t, and D: x0 extrapolated from the history (eq. 3.5 for
        #    order 2; order 3: D = D0 + c1 D1 + c2 D2 with D1, D2 the divided differences)
        h = half_log_snr(ab_next) - lam_t
        m0, d = x0, x0
        phi_1 = math.expm1(-h)  # e^{-h} - 1
        if k == 2:
            d = history.extrapolated(h)
        elif k == 3:
            m1, r0 = history.x0s[-2], (lam_t - history.lambdas[-2]) / h
            d1_0 = (m0 - m1) / r0
            m2, h1 = history.x0s[-3], history.lambdas[-2] - history.lambdas[-3]
            r1 = h1 / h
            d1_1 = (m1 - m2) / r1
            d1 = d1_0 + r0 / (r0 + r1) * (d1_0 - d1_1)
            d2 = (d1_0 - d1_1) / (r0 + r1)
            # x_next = (sigma_next/sigma_t) x - alpha_next [phi_1 D0 - (phi_1/h + 1) D1
            #          + ((phi_1 + h)/h^2 - 1/2) D2]
            d = m0 - (phi_1 / h + 1) / phi_1 * d1 + ((phi_1 + h) / h**2 - 0.5) / phi_1 * d2
        # 4. x_next = (sigma_next / sigma_t) x - alpha_next (e^{-h} - 1) D
        sigma_ratio = ((1 - ab_next) / (1 - ab_t)) ** 0.5
        x = sigma_ratio * x - ab_next**0.5 * phi_1 * d
    return x


def unipc(x: torch.Tensor, steps: Iterable, order: int = 3) -> Stepper:
    """UniPC, Zhao et al. 2023 (arXiv 2302.04867): the predictor UniP-p (Algorithm 2) followed,
    at every step but the last, by the corrector UniC-p (Algorithm 1), which reuses the network
    call of the step it corrects; data prediction, B(h) = e^h - 1 (the paper's "bh2"). The order
    rises to `order` (2 or 3) as the history fills and falls on the last steps (order at most
    the steps left)."""
    if order not in (2, 3):
        raise ValueError(f"UniPC order must be 2 or 3, got {order}")
    history = _History(steps)
    total = len(history.steps)
    previous = None  # (x_{i-1}, alpha_bar_{i-1}, the order of its predictor step)
    for i, t, ab_t, ab_next, report in history.steps:
        x0, _ = yield x, t
        report(x, x0)
        lam_t = half_log_snr(ab_t)
        if ab_next == 1.0:  # the final predictor, order 1, lands on x0 (no corrector after)
            return x0
        if previous is not None:  # 1. UniC: correct x_i with the network's answer at x_i
            x_prev, ab_prev, k_prev = previous
            x = _unipc_update(x_prev, ab_prev, ab_t, history, k_prev, corrector=x0)
        history.push(lam_t, x0, keep=order)
        # 2. UniP: predict x_{i+1} from the corrected x_i and the history
        k = max(1, min(order, history.usable(), total - i))
        previous = (x, ab_t, k)
        x = _unipc_update(x, ab_t, ab_next, history, k)
    return x


def _unipc_update(x, ab_s, ab_t, history: _History, order: int, corrector=None):
    """One UniPC step from s (the newest history entry) to t, of `order`; with `corrector` (the
    x0 prediction at t), the UniC update of x_t instead of the UniP prediction."""
    lam_s, lam_t = history.lambdas[-1], half_log_snr(ab_t)
    h = lam_t - lam_s
    m0 = history.x0s[-1]
    # 1. r_k = (lambda_{s_k} - lambda_s) / h and the divided differences D_k = (m_k - m0) / r_k
    rks = [(history.lambdas[-1 - k] - lam_s) / h for k in range(1, order)]
    d1s = [(history.x0s[-1 - k] - m0) / r for k, r in zip(range(1, order), rks)]
    # 2. phi functions of hh = -h (data prediction) and B(h) = e^{hh} - 1
    hh = -h
    h_phi_1 = math.expm1(hh)
    b_h = h_phi_1
    h_phi_k, factorial, b = h_phi_1 / hh - 1, 1, []
    for k in range(1, order + 1):
        b.append(h_phi_k * factorial / b_h)
        factorial *= k + 1
        h_phi_k = h_phi_k / hh - 1 / factorial
    # 3. the coefficients rho solve R rho = b, R_{jk} = r_k^{j-1} (eq. 8 / 12; r = 1 at t)
    rks_all = [*rks, 1.0]
    if corrector is None:
        rhos = [0.5] if order == 2 else _solve(rks_all[:-1], b[:-1]) if order > 2 else []
    else:
        rhos = [0.5] if order == 1 else _solve(rks_all, b)
    # 4. x_t = (sigma_t / sigma_s) x - alpha_t (e^{-h} - 1) m0 - alpha_t B(h) sum rho_k D_k
    sigma_ratio = ((1 - ab_t) / (1 - ab_s)) ** 0.5
    x_t = sigma_ratio * x - ab_t**0.5 * h_phi_1 * m0
    residual = sum((rho * d for rho, d in zip(rhos, d1s)), torch.zeros_like(m0))
    if corrector is not None:
        residual = residual + rhos[-1] * (corrector - m0)
    return x_t - ab_t**0.5 * b_h * residual


def _solve(rks: list[float], b: list[float]) -> list[float]:
    """Solve sum_k r_k^(j-1) rho_k = b_j for rho (a small Vandermonde system, in float64)."""
    matrix = torch.tensor([[r**j for r in rks] for j in range(len(rks))], dtype=torch.float64)
    return torch.linalg.solve(matrix, torch.tensor(b, dtype=torch.float64)).tolist()


# Adams-Bashforth weights of iPNDM, newest derivative first
_IPNDM_WEIGHTS = (
    [1.0],
    [3 / 2, -1 / 2],
    [23 / 12, -16 / 12, 5 / 12],
    [55 / 24, -59 / 24, 37 / 24, -9 / 24],
)


def ipndm(x: torch.Tensor, steps: Iterable, order: int = 4) -> Stepper:
    """iPNDM, Zhang & Chen 2023 (DEIS, arXiv 2204.13902) sec. 4 / Appendix: the probability-flow
    ODE dx~/dsigma~ = eps in x~ = x / alpha, sigma~ = sigma / alpha, solved with Adams-Bashforth
    of order up to `order` (1-4) on the history of eps, the order rising by one per step from 1
    (as zju-pi/diff-sampler's sample_ipndm)."""
    if order not in (1, 2, 3, 4):
        raise ValueError(f"iPNDM order must be 1 to 4, got {order}")
    eps_history: list[torch.Tensor] = []
    for _, t, ab_t, ab_next, report in steps:
        x0, eps = yield x, t
        report(x, x0)
        eps_history = [eps, *eps_history][:order]
        weights = _IPNDM_WEIGHTS[len(eps_history) - 1]
        # x~_next = x~ + (sigma~_next - sigma~) sum_j w_j eps_{-j}; with x~ + (sigma~_next -
        # sigma~) eps = x0 + sigma~_next eps (the DDIM step), written so that a start at
        # alpha_bar = 0 (sigma~ = inf, first order) stays finite
        sigma_next = sigma_tilde(ab_next)
        x_next = x0 + sigma_next * eps
        if len(weights) > 1:
            step = sigma_next - sigma_tilde(ab_t)
            combined = sum(w * e for w, e in zip(weights, eps_history))
            x_next = x_next + step * (combined - eps)
        x = ab_next**0.5 * x_next
    return x


def dpmpp_2m_sde(x: torch.Tensor, steps: Iterable, *, generator=None) -> Stepper:
    """DPM-Solver++(2M) SDE, Lu et al. 2022 (arXiv 2211.01095) Appendix, eq. for SDE-DPM-Solver++
    (diffusers' "sde-dpmsolver++", midpoint): data prediction, order 2 after the first step,
    with fresh noise at each step drawn from `generator` (one per image: batch invariant)."""
    history = _History(steps)
    for _, t, ab_t, ab_next, report in history.steps:
        x0, _ = yield x, t
        report(x, x0)
        lam_t = half_log_snr(ab_t)
        history.push(lam_t, x0, keep=2)
        if ab_next == 1.0:  # the final step, first order, lands on x0 itself (no noise)
            return x0
        h = half_log_snr(ab_next) - lam_t
        d = x0
        if history.usable() >= 2:
            d = history.extrapolated(h)
        # x_next = (sigma_next / sigma_t) e^{-h} x + alpha_next (1 - e^{-2h}) D
        #          + sigma_next sqrt(1 - e^{-2h}) z
        one_minus = -math.expm1(-2 * h)
        sigma_ratio = ((1 - ab_next) / (1 - ab_t)) ** 0.5
        z = randn(x.shape, generator, device=x.device, dtype=x.dtype)
        x = sigma_ratio * math.exp(-h) * x + ab_next**0.5 * one_minus * d
        x = x + (1 - ab_next) ** 0.5 * one_minus**0.5 * z
    return x

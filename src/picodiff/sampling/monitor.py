"""Output monitoring: statistics of generated images and of the network's noise predictions,
and how far they drift from the same statistics recorded when the model was trained.

A batch's statistics (`BatchStats`): the share of pixel values at or beyond the range ends
(-1, 1), each channel's sum and sum of squares (for mean and std), and the RMS of the predicted
noise at the first network call at or below each of `PROBES` (fractions of T) when that call is
still within `PROBE_WINDOW` of it (a sampler that steps past the window, e.g. DDIM's 8 linear
steps from t = 143 to 0 past 0.1 T, records nothing there: the noise predicted at t = 0 is not
comparable with the one at 0.1 T). `OutputMonitor` pools the latest batches of one model version;
`drift` compares a pooled summary with the recorded one, each statistic against its tolerance,
so that a score >= 1 means some statistic is beyond it. `picodiff train` records the summary of
its sample grid in the checkpoint's metadata (`output_stats`); the server monitors every batch.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import torch

from ..diffusion import predict_x0_eps

PROBES = (0.9, 0.5, 0.1)
PROBE_WINDOW = 0.5  # a probe p takes a call at t in [PROBE_WINDOW * p, p] x (T - 1) only
# the deviation at which each statistic scores 1: channel mean (pixels in [-1, 1]), a factor
# of 1.5 for std and predicted-noise RMS, and 10 points of clipped share
TOLERANCES = {"mean": 0.2, "std": math.log(1.5), "clipped": 0.1, "eps_rms": math.log(1.5)}
MIN_IMAGES = 16  # fewer pooled images than this never count as drifting
WINDOW = 256  # images pooled per model version


@dataclass
class BatchStats:
    """Sufficient statistics of one batch of generated images [B, C, H, W] in [-1, 1]."""

    images: int = 0
    values: int = 0  # pixel values per channel
    clipped: int = 0  # values at or beyond -1 or 1, all channels
    sums: list[float] = field(default_factory=list)
    squares: list[float] = field(default_factory=list)
    eps_squares: dict[str, float] = field(default_factory=dict)  # probe -> sum of eps^2
    eps_values: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, images: torch.Tensor, probe: NoiseProbe | None = None) -> BatchStats:
        x = images.detach().double()
        per_channel = x.transpose(0, 1).reshape(x.shape[1], -1)
        return cls(
            images=len(x),
            values=per_channel.shape[1],
            clipped=int((x.abs() >= 1).sum()),
            sums=per_channel.sum(1).tolist(),
            squares=per_channel.pow(2).sum(1).tolist(),
            eps_squares=dict(probe.squares) if probe else {},
            eps_values=dict(probe.values) if probe else {},
        )


class NoiseProbe:
    """The engine's `observe` hook for one batch: records the predicted noise's sum of squares
    at the first network call at or below each probe timestep, if within its window."""

    def __init__(self) -> None:
        self.squares: dict[str, float] = {}
        self.values: dict[str, int] = {}
        self.passed: set[float] = set()  # probes met, recorded or stepped past

    def __call__(self, schedule, prediction: str, x: torch.Tensor, t: torch.Tensor, out) -> None:
        if len(self.passed) == len(PROBES):
            return  # every probe met: the remaining calls cost nothing
        t0 = int(t.max())
        met = [p for p in PROBES if p not in self.passed and t0 <= p * (schedule.T - 1)]
        self.passed.update(met)
        due = [p for p in met if t0 >= PROBE_WINDOW * p * (schedule.T - 1)]
        if not due:
            return
        alpha_bar = schedule.alpha_bars.to(x.device)[t].view(-1, *[1] * (x.ndim - 1))
        _, eps = predict_x0_eps(prediction, x, out, alpha_bar)  # type: ignore[arg-type]
        for p in due:
            self.squares[f"{p:g}"] = float(eps.double().pow(2).sum())
            self.values[f"{p:g}"] = eps.numel()


def summarize(batches: list[BatchStats]) -> dict[str, Any] | None:
    """Pooled statistics: images, clipped share, per-channel mean and std, eps RMS per probe."""
    batches = [b for b in batches if b.images]
    if not batches:
        return None
    values = sum(b.values for b in batches)
    channels = len(batches[0].sums)
    means = [sum(b.sums[c] for b in batches) / values for c in range(channels)]
    stds = [
        math.sqrt(max(sum(b.squares[c] for b in batches) / values - means[c] ** 2, 0.0))
        for c in range(channels)
    ]
    eps = {}
    for p in (f"{p:g}" for p in PROBES):
        count = sum(b.eps_values.get(p, 0) for b in batches)
        if count:
            eps[p] = math.sqrt(sum(b.eps_squares.get(p, 0.0) for b in batches) / count)
    return {
        "images": sum(b.images for b in batches),
        "clipped": sum(b.clipped for b in batches) / (values * channels),
        "mean": means,
        "std": stds,
        "eps_rms": eps,
    }


def drift(summary: dict[str, Any], reference: dict[str, Any]) -> tuple[float, str]:
    """(score, which statistic scores it): the largest deviation over its tolerance."""
    pairs = [("clipped", "clipped", summary["clipped"], reference["clipped"])]
    for c in range(min(len(summary["mean"]), len(reference["mean"]))):
        pairs.append(("mean", f"mean[{c}]", summary["mean"][c], reference["mean"][c]))
        pairs.append(("std", f"std[{c}]", summary["std"][c], reference["std"][c]))
    for p, rms in summary["eps_rms"].items():
        if p in reference["eps_rms"]:
            pairs.append(("eps_rms", f"eps_rms@{p}T", rms, reference["eps_rms"][p]))
    score, name, live, recorded = max(
        (_deviation(kind, live, recorded) / TOLERANCES[kind], name, live, recorded)
        for kind, name, live, recorded in pairs
    )
    return score, f"{name}: {live:.3f} vs {recorded:.3f} recorded"


def _deviation(kind: str, live: float, recorded: float) -> float:
    """Means and shares differ by their difference, spreads by their log ratio."""
    if kind in ("mean", "clipped"):
        return abs(live - recorded)
    return abs(math.log(max(live, 1e-6) / max(recorded, 1e-6)))


def check_output_stats(value: Any) -> dict[str, Any] | None:
    """A checkpoint's recorded `output_stats` if well formed (numbers where numbers belong),
    else None."""
    if not isinstance(value, dict):
        return None
    numbers = [value.get("clipped"), *(value.get("mean") or [None]), *(value.get("std") or [])]
    eps = value.get("eps_rms")
    if not isinstance(eps, dict) or len(value.get("mean") or ()) != len(value.get("std") or ()):
        return None
    numbers += list(eps.values())
    if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in numbers):
        return None
    return value


class OutputMonitor:
    """The latest `window` images of one model version, pooled, against its recorded stats."""

    def __init__(self, reference: dict[str, Any] | None, window: int = WINDOW):
        self.reference, self.window = reference, window
        self.batches: deque[BatchStats] = deque()
        self.nan_batches = 0

    def add(self, batch: BatchStats) -> None:
        self.batches.append(batch)
        while sum(b.images for b in self.batches) - self.batches[0].images >= self.window:
            self.batches.popleft()

    def describe(self) -> dict[str, Any]:
        """What GET /api/models shows: the pooled stats, the drift score and a status (ok,
        drifting, nan, no reference, too few images)."""
        summary = summarize(list(self.batches))
        score, worst = (None, None)
        if summary and self.reference:
            score, worst = drift(summary, self.reference)
        if self.nan_batches:
            status = "nan"
        elif not summary or summary["images"] < MIN_IMAGES:
            status = "too few images"
        elif score is None:
            status = "no reference"
        else:
            status = "drifting" if score >= 1 else "ok"
        return {
            "status": status,
            "drift": None if score is None else round(score, 4),
            "worst": worst,
            "nan_batches": self.nan_batches,
            "outputs": summary,
        }

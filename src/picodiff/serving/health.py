"""Model health: each model version's output monitor and its latest quality checks, exported as
gauges (`refresh` before every scrape) and shown by GET /api/models."""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from typing import Any

import torch
from prometheus_client import Gauge

from ..sampling.monitor import BatchStats, NoiseProbe, OutputMonitor
from .catalog import ModelEntry
from .metrics import Metrics

HISTORY = 48  # quality checks kept per model version
JOB_STATUSES, VIOLATIONS = ("done", "failed", "cancelled"), ("nan", "x0_range")


class Health:
    """Output monitors and quality-check results by (model, version); thread-safe."""

    def __init__(self, metrics: Metrics, history: int = HISTORY):
        self.metrics, self.history = metrics, history
        self._monitors: dict[tuple[str, str], OutputMonitor] = {}
        self._checks: dict[tuple[str, str], deque[dict[str, Any]]] = {}
        self._failures: dict[tuple[str, str], dict[str, Any]] = {}  # the latest failed check
        self._jobs: dict[tuple[str, str], Counter] = {}  # finished jobs (attempts) by status
        self._series: set[tuple[Gauge, tuple[str, ...]]] = set()  # what the gauges export
        self._lock = threading.Lock()

    def batch(self, entry: ModelEntry, images: torch.Tensor, probe: NoiseProbe | None) -> None:
        """Pool one generated batch [B, C, H, W] and update its gauges."""
        stats = BatchStats.of(images.cpu(), probe)
        with self._lock:
            monitor = self._monitor(entry)
            monitor.add(stats)
            state = monitor.describe()
        self._export_outputs(entry, state)

    def nan(self, entry: ModelEntry) -> None:
        """A batch of this model turned NaN or inf."""
        with self._lock:
            monitor = self._monitor(entry)
            monitor.nan_batches += 1
            state = monitor.describe()
        self._export_outputs(entry, state)

    def checked(self, entry: ModelEntry, result: dict[str, Any]) -> None:
        """Record a quality check's result ({"fid", "kid", "n", "finished", ...})."""
        labels = entry.key
        with self._lock:
            self._checks.setdefault(labels, deque(maxlen=self.history)).append(result)
        self._set(self.metrics.quality_fid, labels, result["fid"])
        self._set(self.metrics.quality_kid, labels, result["kid"])
        self._set(self.metrics.quality_checked, labels, result["finished"])

    def record(self, job) -> None:
        """Queue listener: count a finished job (or a failed attempt) of its model version."""
        with self._lock:
            self._jobs.setdefault((job.model, job.version or ""), Counter())[job.status] += 1

    def check_failed(self, entry: ModelEntry, reason: str) -> None:
        with self._lock:
            self._failures[entry.key] = {
                "reason": reason,
                "at": time.time(),
            }

    def live_fid(self, entry: ModelEntry | None) -> float | None:
        """The latest quality check's FID of this model version, or None."""
        if entry is None:
            return None
        with self._lock:
            checks = self._checks.get(entry.key)
            return checks[-1]["fid"] if checks else None

    def describe(self, entry: ModelEntry) -> dict[str, Any]:
        """The `health` field of a model in GET /api/models."""
        labels = entry.key
        with self._lock:
            monitor = self._monitors.get(labels) or OutputMonitor(entry.output_stats)
            checks = list(self._checks.get(labels, ()))
            failure = self._failures.get(labels)
            jobs = self._jobs.get(labels, Counter())
            outputs = monitor.describe()
        return {
            "jobs": {status: jobs[status] for status in JOB_STATUSES},
            "outputs": outputs,
            "quality": {
                "reference": entry.reference is not None,
                "latest": checks[-1] if checks else None,
                "last_failure": failure,
                "history": [{k: c[k] for k in ("finished", "fid", "kid", "n")} for c in checks],
            },
        }

    def refresh(self, entries: list[ModelEntry]) -> None:
        """Set the recorded FID and threshold gauges of the served versions, start each
        model's counters at 0 (so that a first failure is an increase), and drop the gauges
        of versions no longer served."""
        m = self.metrics
        served = {e.key for e in entries if e.valid}
        for entry in (e for e in entries if e.valid):
            labels = entry.key
            for gauge, value in (
                (m.recorded_fid, entry.fid),
                (m.fid_threshold, entry.fid_threshold),
            ):
                if value is not None:
                    self._set(gauge, labels, value)
            for status in JOB_STATUSES:
                m.jobs.labels(entry.name, status)
            for kind in VIOLATIONS:
                m.range_violations.labels(entry.name, kind)
            m.load_failures.labels(entry.name)
        with self._lock:
            for gauge, labels in [s for s in self._series if s[1][:2] not in served]:
                gauge.remove(*labels)
                self._series.discard((gauge, labels))
            for stale in set(self._monitors) - served:
                del self._monitors[stale]

    def _monitor(self, entry: ModelEntry) -> OutputMonitor:
        labels = entry.key
        if labels not in self._monitors:
            self._monitors[labels] = OutputMonitor(entry.output_stats)
        return self._monitors[labels]

    def _export_outputs(self, entry: ModelEntry, state: dict[str, Any]) -> None:
        m, labels, outputs = self.metrics, entry.key, state["outputs"]
        if state["drift"] is not None:
            self._set(m.output_drift, labels, state["drift"])
        if outputs is None:
            return
        self._set(m.output_clipped, labels, outputs["clipped"])
        for c, (mean, std) in enumerate(zip(outputs["mean"], outputs["std"])):
            self._set(m.output_mean, (*labels, str(c)), mean)
            self._set(m.output_std, (*labels, str(c)), std)
        for at, rms in outputs["eps_rms"].items():
            self._set(m.noise_rms, (*labels, at), rms)

    def _set(self, gauge: Gauge, labels: tuple[str, ...], value: float) -> None:
        gauge.labels(*labels).set(value)
        with self._lock:
            self._series.add((gauge, labels))

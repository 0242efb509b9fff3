"""Safe rollouts: a public alias served by a `stable` and a `candidate` model.

    rollouts:
      faces:                    # the alias clients ask for in POST /api/generate
        stable: faces-v1        # model names (GET /api/models)
        candidate: faces-v2
        mode: canary            # shadow | ab | canary
        percent: 10             # ab: share of clients sent to the candidate
        ramp: [5, 25, 50, 100]  # canary: candidate share, stage by stage
        fid_threshold: 30       # canary: the candidate's recorded FID must stay <= this
        min_requests: 20        # canary: candidate jobs per stage before it is judged

shadow: stable answers; the candidate also runs on a copy of each request, its results recorded
and never returned. ab: a fixed split, sticky per client (X-Client-Id header, else the client
address). canary: a ramp that advances after `min_requests` candidate jobs per stage only while
the candidate's FID <= fid_threshold and its error rate <= stable's (after the last stage it is
promoted: all traffic); otherwise it rolls back to stable for everyone. State lives in memory
(a restart begins the ramp again).
"""

from __future__ import annotations

import hashlib
import statistics
import threading
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import UserError
from .jobs import Job
from .logs import log_event
from .manager import ModelManager
from .metrics import Metrics

MODES = ("shadow", "ab", "canary")


class RolloutError(UserError):
    """The rollout file is missing, malformed or names unknown models."""


@dataclass
class VersionStats:
    """What one model did under a rollout."""

    requests: int = 0
    done: int = 0
    failed: int = 0
    cancelled: int = 0
    latencies: deque = field(default_factory=lambda: deque(maxlen=1000))

    @property
    def error_rate(self) -> float:
        finished = self.done + self.failed
        return self.failed / finished if finished else 0.0

    def record(self, job: Job) -> None:
        setattr(self, job.status, getattr(self, job.status) + 1)
        if job.status == "done" and job.finished:
            self.latencies.append(job.finished - job.created)

    def describe(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "done": self.done,
            "failed": self.failed,
            "cancelled": self.cancelled,
            "error_rate": round(self.error_rate, 4),
            "latency_p50_seconds": statistics.median(self.latencies) if self.latencies else None,
        }


@dataclass
class Rollout:
    """One alias: its routing state and the candidate's progress."""

    alias: str
    stable: str
    candidate: str
    mode: str
    percent: float = 0.0
    ramp: tuple[float, ...] = ()
    fid_threshold: float | None = None
    min_requests: int = 20
    status: str = "active"  # active | promoted | rolled_back
    stage: int = 0
    stage_jobs: int = 0  # candidate jobs finished in this canary stage
    reason: str | None = None
    shadow_skipped: int = 0  # shadow copies dropped (full queue, unservable candidate)
    stats: dict[str, VersionStats] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.stats = {self.stable: VersionStats(), self.candidate: VersionStats()}

    @property
    def candidate_percent(self) -> float:
        if self.mode == "ab":
            return self.percent
        if self.mode == "shadow" or self.status == "rolled_back":
            return 0.0
        return 100.0 if self.status == "promoted" else self.ramp[self.stage]

    def route(self, client: str) -> tuple[str, str | None]:
        """(model that answers, model that runs a shadow copy or None)."""
        if self.mode == "shadow":
            return self.stable, self.candidate
        use_candidate = _bucket(self.alias, client) < self.candidate_percent
        return (self.candidate if use_candidate else self.stable), None

    def judge(self, fid: float | None) -> None:
        """Canary: roll back, or advance a stage once it has `min_requests` candidate jobs."""
        if self.mode != "canary" or self.status != "active":
            return
        stable, candidate = self.stats[self.stable], self.stats[self.candidate]
        if fid is None or fid > (self.fid_threshold or 0.0):
            shown = "no recorded FID" if fid is None else f"FID {fid:g}"
            return self.roll_back(f"candidate has {shown} (threshold {self.fid_threshold:g})")
        if self.stage_jobs < self.min_requests:
            return None
        if candidate.error_rate > stable.error_rate:
            return self.roll_back(
                f"candidate error rate {candidate.error_rate:.3f} > stable's "
                f"{stable.error_rate:.3f}"
            )
        self.stage, self.stage_jobs = self.stage + 1, 0
        if self.stage == len(self.ramp):
            self.stage, self.status = len(self.ramp) - 1, "promoted"
        log_event(
            "rollout_advanced", alias=self.alias, status=self.status, percent=self.candidate_percent
        )
        return None

    def roll_back(self, reason: str) -> None:
        self.status, self.reason = "rolled_back", reason
        log_event("rollout_rolled_back", alias=self.alias, reason=reason)

    def describe(self, fids: dict[str, float | None]) -> dict[str, Any]:
        settings = {"percent": self.percent} if self.mode == "ab" else {}
        if self.mode == "canary":
            settings = {
                "ramp": list(self.ramp),
                "stage": self.stage,
                "fid_threshold": self.fid_threshold,
                "min_requests": self.min_requests,
            }
        versions = {
            name: {"role": role, "fid": fids.get(name), **self.stats[name].describe()}
            for role, name in (("stable", self.stable), ("candidate", self.candidate))
        }
        return {
            "alias": self.alias,
            "mode": self.mode,
            "status": self.status,
            "reason": self.reason,
            "candidate_percent": self.candidate_percent,
            **settings,
            **({"shadow_skipped": self.shadow_skipped} if self.mode == "shadow" else {}),
            "versions": versions,
        }


class Rollouts:
    """Every rollout of a server, keyed by alias; thread-safe."""

    def __init__(self, rollouts: dict[str, Rollout], manager: ModelManager, metrics: Metrics):
        self.rollouts, self.manager, self.metrics = rollouts, manager, metrics
        self._lock = threading.Lock()
        for rollout in rollouts.values():
            self._judge(rollout)

    @classmethod
    def load(cls, path: Path | None, manager: ModelManager, metrics: Metrics) -> Rollouts:
        rollouts = parse_rollouts(path, {e.name for e in manager.entries()}) if path else {}
        return cls(rollouts, manager, metrics)

    def route(self, alias: str, client: str) -> tuple[str, str | None] | None:
        """(answering model, shadow model or None) for an alias; None if not an alias."""
        rollout = self.rollouts.get(alias)
        if rollout is None:
            return None
        with self._lock:
            model, shadow = rollout.route(client)
            entry = self.manager.entry(model)
            if model == rollout.candidate and (entry is None or not entry.valid):
                rollout.stats[model].failed += 1
                if rollout.mode == "canary":
                    rollout.roll_back(f"candidate is not servable: {entry and entry.reason}")
                model = rollout.stable
            rollout.stats[model].requests += 1
            if shadow:
                rollout.stats[shadow].requests += 1
            return model, shadow

    def record(self, job: Job) -> None:
        """Queue listener: count a finished job of an alias and judge its canary."""
        rollout = self.rollouts.get(job.alias or "")
        if rollout is None or job.model not in rollout.stats:
            return
        with self._lock:
            rollout.stats[job.model].record(job)
            if job.model == rollout.candidate and job.status != "cancelled":
                rollout.stage_jobs += 1
            self._judge(rollout)

    def shadow_skipped(self, alias: str, error: Exception) -> None:
        with self._lock:
            self.rollouts[alias].shadow_skipped += 1
        log_event("shadow_skipped", alias=alias, reason=str(error))

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r.describe(self._fids(r)) for r in self.rollouts.values()]

    def _judge(self, rollout: Rollout) -> None:
        rollout.judge(self._fids(rollout)[rollout.candidate])
        self.metrics.rollout_percent.labels(rollout.alias).set(rollout.candidate_percent)

    def _fids(self, rollout: Rollout) -> dict[str, float | None]:
        entries = {n: self.manager.entry(n) for n in (rollout.stable, rollout.candidate)}
        return {name: entry.fid if entry else None for name, entry in entries.items()}


def parse_rollouts(path: Path, models: set[str]) -> dict[str, Rollout]:
    """Read and check a rollout file; every mistake is a RolloutError naming the fix."""
    try:
        document = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as err:
        raise RolloutError(f"{path}: cannot read the rollout file ({err})") from None
    specs = document.get("rollouts") if isinstance(document, dict) else None
    if not isinstance(specs, dict) or not specs:
        raise RolloutError(f"{path}: expected a mapping 'rollouts: {{ALIAS: {{stable: ...}}}}'")
    return {str(alias): _parse_one(path, str(alias), spec, models) for alias, spec in specs.items()}


def _parse_one(path: Path, alias: str, spec: Any, models: set[str]) -> Rollout:
    where = f"{path}: rollout {alias!r}"
    if not isinstance(spec, dict):
        raise RolloutError(f"{where}: expected a mapping with stable, candidate and mode")
    allowed = {"stable", "candidate", "mode", "percent", "ramp", "fid_threshold", "min_requests"}
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise RolloutError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")
    if alias in models:
        raise RolloutError(f"{where}: the alias is also a model name; pick another alias")
    for role in ("stable", "candidate"):
        if spec.get(role) not in models:
            raise RolloutError(f"{where}: {role} {spec.get(role)!r} is not a model in the roots")
    if spec["stable"] == spec["candidate"]:
        raise RolloutError(f"{where}: stable and candidate are the same model")
    if spec.get("mode") not in MODES:
        raise RolloutError(f"{where}: mode must be one of {list(MODES)}, got {spec.get('mode')!r}")
    try:
        rollout = Rollout(
            alias,
            spec["stable"],
            spec["candidate"],
            spec["mode"],
            percent=float(spec.get("percent", 0)),
            ramp=tuple(float(p) for p in spec.get("ramp", (5, 25, 50, 100))),
            fid_threshold=_optional_float(spec.get("fid_threshold")),
            min_requests=int(spec.get("min_requests", 20)),
        )
    except (TypeError, ValueError) as err:
        raise RolloutError(f"{where}: {err}") from None
    _check_numbers(where, rollout)
    return rollout


def _check_numbers(where: str, r: Rollout) -> None:
    if not 0 <= r.percent <= 100:
        raise RolloutError(f"{where}: percent must be in [0, 100], got {r.percent:g}")
    ramp_ok = r.ramp and all(0 < a < b <= 100 for a, b in zip(r.ramp, r.ramp[1:]))
    if not ramp_ok or not 0 < r.ramp[0] <= 100:
        raise RolloutError(f"{where}: ramp must be increasing percentages in (0, 100]")
    if r.mode == "canary" and r.fid_threshold is None:
        raise RolloutError(f"{where}: a canary needs fid_threshold (the candidate's FID limit)")
    if r.min_requests < 1:
        raise RolloutError(f"{where}: min_requests must be >= 1")


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _bucket(alias: str, client: str) -> float:
    """A client's fixed place in [0, 100) for an alias: the same client, the same side."""
    digest = hashlib.sha256(f"{alias}\0{client}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10000 / 100

"""Safe rollouts: a public alias served by a `stable` and a `candidate` model.

    rollouts:
      faces:                    # the alias clients ask for in POST /api/generate
        stable: faces-v1        # model names (GET /api/models)
        candidate: faces-v2
        mode: canary            # shadow | ab | canary
        percent: 10             # ab: share of clients sent to the candidate
        ramp: [5, 25, 50, 100]  # canary: candidate share, stage by stage
        fid_threshold: 30       # canary: the candidate's recorded FID must stay <= this
        min_requests: 20        # ab and canary: candidate jobs (per stage) before judging
        min_clients: 5          # canary: distinct client addresses per stage
        min_stage_seconds: 60   # canary: the shortest a stage lasts

shadow: stable answers; the candidate also runs on a copy of each request, its results recorded
and never returned. ab: a fixed split, sticky per client (X-Client-Id header, else the client
address), rolled back once the candidate's error rate exceeds stable's. canary: a ramp that
advances after `min_requests` candidate jobs from `min_clients` addresses and
`min_stage_seconds` per stage, only while the candidate's FID <= fid_threshold (the FID of its
latest quality check when the server runs them, else the recorded one) and its error
rate <= stable's (after the last stage it is promoted: all traffic); otherwise it rolls back to
stable for everyone. A candidate's failed job is drawn again on stable, so clients never see
it. Decisions (stage, promoted, rolled back) are kept in a state file beside the rollout file
and survive a restart; candidates answer only through their alias.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml

from ..atomic import write_text
from ..errors import UserError
from .catalog import ModelEntry
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

    COUNTS: ClassVar[tuple[str, ...]] = ("requests", "done", "failed", "cancelled")

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
    min_clients: int = 5
    min_stage_seconds: float = 60.0
    status: str = "active"  # active | promoted | rolled_back
    stage: int = 0
    stage_jobs: int = 0  # candidate jobs finished in this canary stage
    stage_clients: set = field(default_factory=set)  # their client addresses
    stage_started: float = field(default_factory=time.monotonic)
    reason: str | None = None
    shadow_skipped: int = 0  # shadow copies dropped (full queue, unservable candidate)
    stats: dict[str, VersionStats] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.stats = {self.stable: VersionStats(), self.candidate: VersionStats()}

    @property
    def candidate_percent(self) -> float:
        if self.mode == "shadow" or self.status == "rolled_back":
            return 0.0
        if self.mode == "ab":
            return self.percent
        return 100.0 if self.status == "promoted" else self.ramp[self.stage]

    def route(self, client: str) -> tuple[str, str | None]:
        """(model that answers, model that runs a shadow copy or None)."""
        if self.mode == "shadow":
            return self.stable, self.candidate
        use_candidate = _bucket(self.alias, client) < self.candidate_percent
        return (self.candidate if use_candidate else self.stable), None

    def judge(self, fid: float | None) -> None:
        """ab and canary: roll back on a worse error rate; a canary also on its FID, and it
        advances a stage once the stage has enough candidate jobs, clients and time."""
        if self.mode == "shadow" or self.status != "active":
            return
        stable, candidate = self.stats[self.stable], self.stats[self.candidate]
        if self.mode == "canary" and (fid is None or fid > (self.fid_threshold or 0.0)):
            shown = "no recorded FID" if fid is None else f"FID {fid:g}"
            return self.roll_back(f"candidate has {shown} (threshold {self.fid_threshold:g})")
        if self.stage_jobs < self.min_requests:
            return None
        if candidate.error_rate > stable.error_rate:
            return self.roll_back(
                f"candidate error rate {candidate.error_rate:.3f} > stable's "
                f"{stable.error_rate:.3f}"
            )
        if self.mode != "canary" or len(self.stage_clients) < self.min_clients:
            return None
        if time.monotonic() - self.stage_started < self.min_stage_seconds:
            return None
        self.stage, self.stage_jobs, self.stage_clients = self.stage + 1, 0, set()
        self.stage_started = time.monotonic()
        if self.stage == len(self.ramp):
            self.stage, self.status = len(self.ramp) - 1, "promoted"
        log_event(
            "rollout_advanced", alias=self.alias, status=self.status, percent=self.candidate_percent
        )
        return None

    def roll_back(self, reason: str) -> None:
        self.status, self.reason = "rolled_back", reason
        log_event("rollout_rolled_back", alias=self.alias, reason=reason)

    def saved(self) -> dict[str, Any]:
        """What survives a restart: the decisions, for this pair of models."""
        return {k: getattr(self, k) for k in ("stable", "candidate", "status", "stage", "reason")}

    def snapshot(self) -> dict[str, Any]:
        """The decisions and every counter: what replicas of a cluster share (in Redis)."""
        started = time.time() - (time.monotonic() - self.stage_started)  # wall clock
        stats = {
            name: {
                **{k: getattr(s, k) for k in VersionStats.COUNTS},
                "latencies": list(s.latencies),
            }
            for name, s in self.stats.items()
        }
        return {
            **self.saved(),
            "stage_jobs": self.stage_jobs,
            "stage_clients": sorted(self.stage_clients),
            "stage_started": started,
            "shadow_skipped": self.shadow_skipped,
            "stats": stats,
        }

    def restore(self, saved: Any) -> None:
        """Take the decisions (and, from a snapshot, the counters) saved for this pair."""
        same = isinstance(saved, dict) and (saved.get("stable"), saved.get("candidate")) == (
            self.stable,
            self.candidate,
        )
        status, stage = (saved.get("status"), saved.get("stage")) if same else (None, None)
        if status in ("active", "promoted", "rolled_back") and isinstance(stage, int):
            self.status, self.reason = status, saved.get("reason")
            self.stage = min(max(stage, 0), max(len(self.ramp) - 1, 0))
        if same and "stats" in saved:
            self.stage_jobs, self.shadow_skipped = saved["stage_jobs"], saved["shadow_skipped"]
            self.stage_clients = set(saved["stage_clients"])
            self.stage_started = time.monotonic() - (time.time() - saved["stage_started"])
            for name, counts in saved["stats"].items():
                if name in self.stats:
                    stats = self.stats[name]
                    for k in VersionStats.COUNTS:
                        setattr(stats, k, counts[k])
                    stats.latencies.clear()
                    stats.latencies.extend(counts["latencies"])

    def describe(self, fids: dict[str, float | None]) -> dict[str, Any]:
        settings = {"percent": self.percent} if self.mode == "ab" else {}
        if self.mode == "canary":
            settings = {
                "ramp": list(self.ramp),
                "stage": self.stage,
                "fid_threshold": self.fid_threshold,
                "min_requests": self.min_requests,
                "min_clients": self.min_clients,
                "min_stage_seconds": self.min_stage_seconds,
                "stage_clients": len(self.stage_clients),
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

    def __init__(
        self,
        rollouts: dict[str, Rollout],
        manager: ModelManager,
        metrics: Metrics,
        state_file: Path | None = None,
        live_fid: Callable[[ModelEntry | None], float | None] = lambda entry: None,
        shared: Callable[[], AbstractContextManager[dict[str, Any]]] | None = None,
    ):
        """`live_fid(entry)` gives a model version's latest quality-check FID, judged instead of
        the recorded one. `shared()` (a cluster's replicas) holds the whole state, counters
        included, under a lock across processes: every change reads it first and writes it
        back; without it, decisions are kept in `state_file`."""
        self.rollouts, self.manager, self.metrics = rollouts, manager, metrics
        self.state_file, self.live_fid, self.shared = state_file, live_fid, shared
        self._lock = threading.Lock()
        if shared is None:  # a shared state is read at its first use (the broker may be down)
            saved = self._read_state()
            for rollout in rollouts.values():
                rollout.restore(saved.get(rollout.alias))
                self._judge(rollout)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """This process's lock; with a shared state also the cluster's, the state read
        before and written after."""
        with self._lock:
            if self.shared is None:
                yield
                return
            with self.shared() as state:
                for rollout in self.rollouts.values():
                    rollout.restore(state.get(rollout.alias))
                yield
                state.update({a: r.snapshot() for a, r in self.rollouts.items()})

    @classmethod
    def load(cls, path: Path | None, manager: ModelManager, metrics: Metrics, **options):
        """The rollouts of a rollout file (none without one); options: `live_fid`, `shared`."""
        names = {e.name for e in manager.entries()} if options.get("shared") is None else None
        rollouts = parse_rollouts(path, names) if path else {}
        state = Path(path).with_name(Path(path).name + ".state.json") if path else None
        state = None if options.get("shared") is not None else state
        return cls(rollouts, manager, metrics, state, **options)

    def stable_of(self, alias: str) -> str:
        return self.rollouts[alias].stable

    def alias_of(self, model: str) -> str | None:
        """The alias a model is the candidate of (it answers only through it), or None."""
        return next((r.alias for r in self.rollouts.values() if r.candidate == model), None)

    def route(self, alias: str, client: str) -> tuple[str, str | None] | None:
        """(answering model, shadow model or None) for an alias; None if not an alias."""
        rollout = self.rollouts.get(alias)
        if rollout is None:
            return None
        with self._locked():
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
        """Queue listener: count a finished job (or a failed candidate attempt) of an alias
        and judge its rollout."""
        rollout = self.rollouts.get(job.alias or "")
        if rollout is None or job.model not in rollout.stats:
            return
        with self._locked():
            rollout.stats[job.model].record(job)
            if job.model == rollout.candidate and job.status != "cancelled":
                rollout.stage_jobs += 1
                rollout.stage_clients.add(job.client.address)
            self._judge(rollout)

    def judge_all(self) -> None:
        """Judge every rollout again (after a quality check gave a new live FID)."""
        with self._locked():
            for rollout in self.rollouts.values():
                self._judge(rollout)

    def shadow_skipped(self, alias: str, error: Exception) -> None:
        with self._locked():
            self.rollouts[alias].shadow_skipped += 1
        log_event("shadow_skipped", alias=alias, reason=str(error))

    def describe(self) -> list[dict[str, Any]]:
        with self._locked():
            return [r.describe(self._fids(r)) for r in self.rollouts.values()]

    def _judge(self, rollout: Rollout) -> None:
        before = rollout.saved()
        rollout.judge(self._fids(rollout)[rollout.candidate])
        self.metrics.rollout_percent.labels(rollout.alias).set(rollout.candidate_percent)
        if rollout.saved() != before:
            self._write_state()

    def _read_state(self) -> dict[str, Any]:
        try:
            saved = json.loads(self.state_file.read_text()) if self.state_file else {}
        except FileNotFoundError:
            return {}
        except (OSError, json.JSONDecodeError) as err:
            log_event("rollout_state_unreadable", file=str(self.state_file), error=str(err))
            return {}
        return saved if isinstance(saved, dict) else {}

    def _write_state(self) -> None:
        if self.state_file is None:
            return
        state = {alias: r.saved() for alias, r in self.rollouts.items()}
        try:
            write_text(self.state_file, json.dumps(state, indent=2))
        except OSError as err:  # a read-only folder: decisions then last until a restart
            log_event("rollout_state_unwritable", file=str(self.state_file), error=str(err))

    def _fids(self, rollout: Rollout) -> dict[str, float | None]:
        """Each model's FID: its latest quality check's, else the recorded one."""
        fids = {}
        for name in (rollout.stable, rollout.candidate):
            entry = self.manager.entry(name)
            live = self.live_fid(entry)
            fids[name] = live if live is not None else entry and entry.fid
        return fids


def parse_rollouts(path: Path, models: set[str] | None) -> dict[str, Rollout]:
    """Read and check a rollout file; every mistake is a RolloutError naming the fix. With
    `models` None (an API replica, whose workers may start later) model names are checked
    when a request is routed instead."""
    try:
        document = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as err:
        raise RolloutError(f"{path}: cannot read the rollout file ({err})") from None
    specs = document.get("rollouts") if isinstance(document, dict) else None
    if not isinstance(specs, dict) or not specs:
        raise RolloutError(f"{path}: expected a mapping 'rollouts: {{ALIAS: {{stable: ...}}}}'")
    return {str(alias): _parse_one(path, str(alias), spec, models) for alias, spec in specs.items()}


def _parse_one(path: Path, alias: str, spec: Any, models: set[str] | None) -> Rollout:
    where = f"{path}: rollout {alias!r}"
    if not isinstance(spec, dict):
        raise RolloutError(f"{where}: expected a mapping with stable, candidate and mode")
    allowed = {"stable", "candidate", "mode", "percent", "ramp", "fid_threshold", "min_requests"}
    allowed |= {"min_clients", "min_stage_seconds"}
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise RolloutError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")
    if models is not None and alias in models:
        raise RolloutError(f"{where}: the alias is also a model name; pick another alias")
    for role in ("stable", "candidate"):
        if not isinstance(spec.get(role), str) or (models is not None and spec[role] not in models):
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
            min_clients=int(spec.get("min_clients", 5)),
            min_stage_seconds=float(spec.get("min_stage_seconds", 60)),
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
    if r.min_requests < 1 or r.min_clients < 1 or not r.min_stage_seconds >= 0:
        raise RolloutError(
            f"{where}: min_requests and min_clients must be >= 1, min_stage_seconds >= 0"
        )


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _bucket(alias: str, client: str) -> float:
    """A client's fixed place in [0, 100) for an alias: the same client, the same side."""
    digest = hashlib.sha256(f"{alias}\0{client}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10000 / 100

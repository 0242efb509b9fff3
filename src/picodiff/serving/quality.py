"""Scheduled quality checks: every `every` seconds, each servable model version whose metadata
names a reference store (`reference`, a dataset store folder, relative to the checkpoint) has
`n` images drawn (the server's default sampler, a fresh seed per check; a class-conditional
model's classes in turn at its default guidance, as its recorded FID is) and their FID / KID
measured against the store's split (`reference_split`, default val) with the model's features
(`features`, default the standard Inception network).

A check runs in the workers' idle time only, one unit at a time: a network call of its
sampling, one micro-batch through the feature network, or a chunk of the reference features
when they are not cached yet. A worker runs a unit only when it has no user rows to draw, so a
check delays a user job by one unit at most. Results go to `Health` (gauges, GET /api/models)
and to the `on_checked` listeners (rollouts judge candidates on the live FID).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Generator
from typing import Any

import torch

from ..diffusion import SamplerSettings
from ..errors import UserError
from ..evaluation import extract, fid_kid, load_extractor
from ..evaluation.reference import reference_feature_steps
from ..models.batching import default_micro_batch
from ..models.conditioning import classes_in_turn
from ..pixels import to_uint8
from ..sampling import call_network
from .catalog import ModelEntry
from .health import Health
from .logs import log_event
from .manager import ModelManager

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """Seconds in '90', '90s', '30m', '1h', '1d' or '1h30m'; a UserError otherwise."""
    parts = re.fullmatch(r"\s*((\d+(\.\d+)?)\s*([smhd]?)\s*)+", text or "")
    if parts is None:
        raise UserError(f"{text!r} is not a duration; write e.g. 90s, 30m, 1h or 1h30m")
    return sum(
        float(number) * UNITS[unit or "s"]
        for number, _, unit in re.findall(r"(\d+(\.\d+)?)\s*([smhd]?)", text)
    )


class QualityChecks:
    """The schedule and the running check; the queue's workers call `run_unit` when idle."""

    def __init__(self, manager: ModelManager, health: Health, every: float, n: int):
        if every <= 0 or n < 2:
            raise ValueError(f"quality checks need every > 0 and n >= 2, got {every}, {n}")
        self.manager, self.health, self.every, self.n = manager, health, every, n
        self.on_checked: list[Callable[[ModelEntry, dict], None]] = []
        self.units_done = 0
        self.unit_ends: deque[float] = deque(maxlen=10000)  # when each unit ended (time.time)
        self._last: dict[tuple[str, str], float] = {}  # when each version's check began
        self._running: tuple[ModelEntry, str, Generator] | None = None  # (entry, device, steps)
        self._lock = threading.Lock()

    def pending(self, device: str) -> bool:
        """Whether this device has a unit to run: its running check's, or a due check's."""
        running = self._running
        return running[1] == device if running else self._due() is not None

    def run_unit(self, device: str) -> bool:
        """Run one unit of the current check (starting the most overdue one); False if
        there was nothing to do on this device."""
        with self._lock:
            if self._running is None:
                entry = self._due()
                if entry is None:
                    return False
                self._last[entry.key] = time.time()
                self._running = (entry, device, self._check(entry, device))
            entry, owner, steps = self._running
            if owner != device:
                return False
            try:
                next(steps)
            except StopIteration as done:
                self._running = None
                self._finished(entry, done.value)
            except Exception as err:  # a broken check must never stop the worker
                self._running = None
                self._failed(entry, err)
            self.units_done += 1
            self.unit_ends.append(time.time())
            return True

    def _due(self) -> ModelEntry | None:
        """The valid model version with a reference store whose check is most overdue."""
        now, best = time.time(), None
        for entry in self.manager.entries():
            if not entry.valid or entry.reference is None or entry.kind == "cascade":
                continue
            due = self._last.get(entry.key, -float("inf")) + self.every
            if due <= now and (best is None or due < best[0]):
                best = (due, entry)
        return best[1] if best else None

    def _check(self, entry: ModelEntry, device: str) -> Generator[None, None, dict[str, Any]]:
        """One check as a generator of units; returns its figures."""
        began, seed = time.time(), int(time.time())
        extractor = load_extractor(entry.features).to(device)
        yield
        micro = default_micro_batch(device)
        reference = reference_feature_steps(
            entry.reference, entry.reference_split, extractor, chunk=micro
        )
        real, _ = yield from reference
        model = self.manager.get(entry.name, device)
        settings = SamplerSettings().resolve(entry.T or 1000)
        fake = []
        for start in range(0, self.n, micro):
            rows = [(seed, i) for i in range(start, min(start + micro, self.n))]
            drawn = classes_in_turn(entry.conditioning, [i for _, i in rows], entry.guidance)
            images = yield from _one_call_per_unit(model.steps(rows, settings, **drawn), micro)
            fake.append(extract(extractor, [to_uint8(images)]))
            yield
        figures = fid_kid(real, torch.cat(fake))
        return {
            "fid": figures["fid"],
            "kid": figures["kid"],
            "n": self.n,
            "reference_n": len(real),
            "features": entry.features,
            "sampler": settings.sampler,
            "steps": settings.steps,
            "seed": seed,
            "started": began,
            "finished": time.time(),
        }

    def _finished(self, entry: ModelEntry, result: dict[str, Any]) -> None:
        self.health.checked(entry, result)
        log_event("quality_check", model=entry.name, version=entry.version, **result)
        for listener in self.on_checked:
            listener(entry, result)

    def _failed(self, entry: ModelEntry, err: Exception) -> None:
        reason = str(err) if isinstance(err, UserError) else f"{type(err).__name__}: {err}"
        self.health.check_failed(entry, reason)
        log_event(
            "quality_check_failed",
            logging.ERROR,
            model=entry.name,
            version=entry.version,
            reason=reason,
        )


def _one_call_per_unit(steps, micro_batch: int) -> Generator[None, None, torch.Tensor]:
    """Drive a generator of network calls, yielding after each call."""
    call = next(steps)
    while True:
        output = call_network([call], micro_batch)[0]
        yield
        try:
            call = steps.send(output)
        except StopIteration as done:
            return done.value

"""The model manager: a catalog of the model roots, re-scanned when they change, and an LRU
cache of loaded models bounded by a memory budget. Thread-safe; one per app."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path

from .catalog import ModelEntry, clean_reason, discover, inspect, signature
from .generator import ServedModel, load_model
from .logs import log_event
from .metrics import Metrics


class UnknownModel(LookupError):
    """No model (or rollout alias) of that name."""


class ModelUnavailable(RuntimeError):
    """The model exists but cannot be served: invalid, failed to load, or over the budget."""


class ModelManager:
    """Finds, validates and lazily loads models; `get` is safe to call from any thread."""

    def __init__(self, roots: tuple[Path, ...], memory_budget: int, metrics: Metrics):
        self.roots, self.memory_budget, self.metrics = tuple(roots), memory_budget, metrics
        self._catalog: dict[str, ModelEntry] = {}
        self._cache: OrderedDict[tuple[str, str], ServedModel] = OrderedDict()
        self._failed: dict[tuple[Path, tuple], str] = {}  # load errors of a file version
        self._lock = threading.RLock()  # guards _catalog, _cache and _failed
        self._scan_lock, self._load_lock = threading.Lock(), threading.Lock()
        self._rescan = threading.Event()  # asked for while a scan ran
        self._stop = threading.Event()
        self.scan()

    # --- the catalog ------------------------------------------------------------------------
    def entries(self) -> list[ModelEntry]:
        with self._lock:
            return list(self._catalog.values())

    def entry(self, name: str) -> ModelEntry | None:
        with self._lock:
            return self._catalog.get(name)

    def require(self, name: str) -> ModelEntry:
        """The entry of a servable model; UnknownModel or ModelUnavailable otherwise."""
        entry = self.entry(name)
        if entry is None:
            raise UnknownModel(f"no model named {name!r}; GET /api/models lists them")
        if not entry.valid:
            self.metrics.load_failures.labels(name).inc()
            raise ModelUnavailable(f"model {name!r} cannot be served: {entry.reason}")
        return entry

    def scan(self, wait: bool = True) -> dict[str, list[str]] | None:
        """Re-read the roots, validating new or changed models; returns what changed. With
        wait=False and a scan already running: None at once, and that scan runs once more
        when it ends (so it sees files changed after it began)."""
        if not self._scan_lock.acquire(blocking=wait):
            self._rescan.set()
            return None
        try:
            changes = self._scan()
            while self._rescan.is_set():
                self._rescan.clear()
                changes = _merged(changes, self._scan())
            return changes
        finally:
            self._scan_lock.release()

    def _scan(self) -> dict[str, list[str]]:
        old = {e.name: e for e in self.entries()}
        new = {}
        for name, path in discover(self.roots).items():
            entry = old.get(name)
            if entry is None or entry.path != path or entry.signature != signature(path):
                entry = inspect(name, path, self.memory_budget)
            new[name] = entry
        with self._lock:
            self._catalog = {name: self._apply_failure(e) for name, e in new.items()}
            for key in [k for k, m in self._cache.items() if self._stale(k[0], m)]:
                del self._cache[key]
        changes = _changes(old, new)
        self._update_gauges()
        if any(changes.values()):
            log_event("models_scanned", **changes)
        return changes

    # --- loading ----------------------------------------------------------------------------
    def get(self, name: str, device: str = "cpu") -> ServedModel:
        """The loaded model, from the cache or loaded now (evicting least recently used)."""
        entry = self.require(name)
        with self._load_lock:
            with self._lock:
                model = self._cache.get((name, device))
                if model is not None and not self._stale(name, model):
                    self._cache.move_to_end((name, device))
                    return model
            try:
                model = load_model(entry, device)
            except Exception as err:
                self._fail(entry, f"failed to load: {clean_reason(str(err), entry.path)}")
            self._insert((name, device), model)
            return model

    def loaded(self) -> list[str]:
        with self._lock:
            return [f"{name}@{device}" for name, device in self._cache]

    def _insert(self, key: tuple[str, str], model: ServedModel) -> None:
        with self._lock:
            self._cache.pop(key, None)
            while self._cache and self._cached_bytes() + model.nbytes > self.memory_budget:
                evicted, _ = self._cache.popitem(last=False)
                log_event("model_evicted", model=evicted[0], device=evicted[1])
            self._cache[key] = model
            self.metrics.cache_bytes.set(self._cached_bytes())

    def _fail(self, entry: ModelEntry, reason: str):
        """Record a load failure (the model is listed invalid until its files change)."""
        with self._lock:
            self._failed[(entry.path, entry.signature)] = reason
            if self._catalog.get(entry.name) is entry:
                self._catalog[entry.name] = self._apply_failure(entry)
        self.metrics.load_failures.labels(entry.name).inc()
        log_event("model_load_failed", logging.ERROR, model=entry.name, reason=reason)
        raise ModelUnavailable(f"model {entry.name!r} {reason}")

    def _apply_failure(self, entry: ModelEntry) -> ModelEntry:
        reason = self._failed.get((entry.path, entry.signature))
        return replace(entry, valid=False, reason=reason) if reason and entry.valid else entry

    def _stale(self, name: str, model: ServedModel) -> bool:
        entry = self._catalog.get(name)
        return entry is None or not entry.valid or entry.signature != model.entry.signature

    def _cached_bytes(self) -> int:
        return sum(m.nbytes for m in self._cache.values())

    def _update_gauges(self) -> None:
        entries = self.entries()
        valid = sum(e.valid for e in entries)
        self.metrics.models.labels("valid").set(valid)
        self.metrics.models.labels("invalid").set(len(entries) - valid)
        with self._lock:
            self.metrics.cache_bytes.set(self._cached_bytes())

    # --- hot reload -------------------------------------------------------------------------
    def watch(self, interval: float) -> None:
        """Re-scan the roots every `interval` seconds in a background thread."""
        if interval <= 0:
            return
        threading.Thread(
            target=self._watch, args=(interval,), name="model-watcher", daemon=True
        ).start()

    def _watch(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.scan()
            except Exception as err:  # keep watching whatever a file system does
                log_event("scan_failed", logging.ERROR, error=repr(err))

    def close(self) -> None:
        self._stop.set()


def _changes(old: dict[str, ModelEntry], new: dict[str, ModelEntry]) -> dict[str, list[str]]:
    return {
        "added": sorted(set(new) - set(old)),
        "removed": sorted(set(old) - set(new)),
        "changed": sorted(n for n in set(old) & set(new) if old[n] is not new[n]),
    }


def _merged(first: dict[str, list[str]], then: dict[str, list[str]]) -> dict[str, list[str]]:
    return {key: sorted({*first[key], *then[key]}) for key in first}

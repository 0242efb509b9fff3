"""An API replica of a cluster (`picodiff serve --broker URL`): the catalog, queue, jobs and
health the embedded server keeps in memory, here read from and written to Redis, so that any
number of replicas behind a load balancer are interchangeable. No model is loaded here; the
catalog is what the live workers publish in their heartbeats."""

from __future__ import annotations

import base64
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from .broker import Broker, BrokerDown, new_job_id
from .catalog import ModelEntry
from .clients import Client, address_share
from .jobs import FINISHED, Job
from .logs import log_event
from .manager import ModelUnavailable, UnknownModel
from .metrics import Metrics
from .sse import KEEPALIVE_SECONDS, POLL_SECONDS, event

CATALOG_SECONDS = 1.0  # how long a replica reuses the workers' heartbeats it read


class Cluster:
    """The live workers and their models, as their heartbeats last said (cached briefly)."""

    def __init__(self, broker: Broker, metrics: Metrics):
        self.broker, self.metrics = broker, metrics
        self._read_at, self._workers = -1.0, []
        self._lock = threading.Lock()

    def workers(self) -> list[dict[str, Any]]:
        with self._lock:
            if time.monotonic() - self._read_at > CATALOG_SECONDS:
                self._workers, self._read_at = self.broker.workers(), time.monotonic()
            return self._workers

    def forget(self) -> None:
        """Read the heartbeats afresh at the next question."""
        with self._lock:
            self._read_at = -1.0

    def holders(self, name: str) -> list[dict[str, Any]]:
        """The published {entry, health, loaded} of a model on each live worker holding it."""
        return [m for w in self.workers() for m in w["models"] if m["entry"]["name"] == name]


class RemoteCatalog:
    """The model manager's catalog side, over the cluster's workers."""

    def __init__(self, cluster: Cluster):
        self.cluster, self.metrics = cluster, cluster.metrics

    def entries(self) -> list[ModelEntry]:
        seen: dict[str, ModelEntry] = {}
        for worker in self.cluster.workers():
            for model in worker["models"]:
                seen.setdefault(model["entry"]["name"], ModelEntry.from_json(model["entry"]))
        return list(seen.values())

    def entry(self, name: str) -> ModelEntry | None:
        holders = self.cluster.holders(name)
        return ModelEntry.from_json(holders[0]["entry"]) if holders else None

    def require(self, name: str) -> ModelEntry:
        entry = self.entry(name)
        if entry is not None:
            return entry
        if name in self.cluster.broker.catalog():
            raise ModelUnavailable(
                f"no live worker serves model {name!r} now; start one (picodiff worker) or "
                "retry when one is back"
            )
        raise UnknownModel(f"no model named {name!r}; GET /api/models lists them")

    def loaded(self) -> list[str]:
        return [
            m["entry"]["name"] for w in self.cluster.workers() for m in w["models"] if m["loaded"]
        ]

    def scan(self, wait: bool = True) -> dict[str, list[str]]:
        """Workers scan their own folders; a replica only reads their heartbeats afresh."""
        self.cluster.forget()
        return {"added": [], "removed": [], "changed": []}

    def close(self) -> None:
        pass


class RemoteHealth:
    """Each model's health as a worker holding it published it."""

    def __init__(self, cluster: Cluster):
        self.cluster = cluster

    def describe(self, entry: ModelEntry) -> dict[str, Any] | None:
        holders = self.cluster.holders(entry.name)
        return holders[0]["health"] if holders else None

    def live_fid(self, entry: ModelEntry | None) -> float | None:
        health = entry and self.describe(entry)
        latest = health and (health.get("quality") or {}).get("latest")
        return latest and latest.get("fid")

    def refresh(self, entries: list[ModelEntry]) -> None:
        """Before a scrape: workers and waiting jobs per model, from Redis."""
        metrics, broker = self.cluster.metrics, self.cluster.broker
        for name in {*broker.catalog(), *(e.name for e in entries)}:
            waiting, age = broker.queue_figures(name)
            metrics.broker_queue_jobs.labels(name).set(waiting)
            metrics.broker_queue_age.labels(name).set(age)
            metrics.live_workers.labels(name).set(len(self.cluster.holders(name)))


# the job fields a worker changes after the job was queued
_WRITTEN_BY_WORKERS = (
    "status",
    "version",
    "started",
    "finished",
    "error",
    "stopped_at_step",
    "step",
    "total",
    "eta_seconds",
)


@dataclass(eq=False)
class BrokerJob(Job):
    """A job read from Redis: waiting for it reads its event stream."""

    broker: Broker | None = field(default=None, repr=False)
    seen_event: str = "0"  # the last event read by wait_finished

    def wait_finished(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            for entry, name, _ in self.broker.events(self.id, self.seen_event, min(left, 1.0)):  # type: ignore[union-attr]
                self.seen_event = entry
                if name in FINISHED:
                    self._reread()
                    return True
        return False

    def _reread(self) -> None:
        fresh = self.broker.job(self.id, images=True)  # type: ignore[union-attr]
        if fresh is not None:
            for name in (*_WRITTEN_BY_WORKERS, "images"):
                setattr(self, name, getattr(fresh, name))


class RemoteJobs:
    """The job store's side: jobs by id, from Redis."""

    def __init__(self, broker: Broker):
        self.broker = broker

    def add(self, job: Job) -> None:
        pass  # submitted jobs are in Redis already

    def get(self, job_id: str) -> Job | None:
        job = self.broker.job(job_id, kind=BrokerJob)
        if job is not None:
            job.broker = self.broker  # type: ignore[attr-defined]
        return job

    def why_missing(self, job_id: str) -> str:
        return (
            f"no job {job_id!r}: it never existed, or it finished more than "
            f"{self.broker.result_ttl} s ago (results are kept --result-ttl)"
        )

    def image(self, job: Job, index: int) -> bytes | None:
        return self.broker.image(job.id, index)

    def events(
        self, job: Job, last_event_id: str | None, gone: Callable[[], bool]
    ) -> Iterator[str]:
        """The job's events after `last_event_id`, counted as watched while open (its
        worker draws previews for watched jobs)."""
        try:
            self.broker.watch(job.id, +1)
        except BrokerDown:
            return  # the client reconnects
        try:
            yield from broker_events(self.broker, job.id, last_event_id or "0", gone=gone)
        finally:
            with suppress(BrokerDown):
                self.broker.watch(job.id, -1)


class RemoteQueue:
    """The generation queue's API side: jobs go to Redis for the workers; the replica also
    counts finished jobs into its rollouts (each finished job is counted by one replica)."""

    def __init__(self, broker: Broker, metrics: Metrics, queue_size: int, client_jobs: int):
        self.broker, self.metrics, self.queue_size = broker, metrics, queue_size
        self.client_jobs = min(client_jobs, queue_size)
        self.address_jobs = address_share(self.client_jobs, queue_size)
        self.listeners: list[Callable[[Any], None]] = []  # called once per finished job
        self.name = f"{socket.gethostname()}-{os.getpid()}"
        self._stop = threading.Event()
        self._feed = threading.Thread(target=self._follow_finished, daemon=True)
        self._feed.start()

    def submit(self, job: Job) -> None:
        job.id = new_job_id()
        self.broker.submit(job, self.client_jobs, self.address_jobs, self.queue_size)

    def cancel(self, job: Job) -> bool:
        return self.broker.cancel(job.id)

    def close(self) -> None:
        self._stop.set()

    def _follow_finished(self) -> None:
        while not self._stop.is_set():
            try:
                for fields in self.broker.finished(self.name, block=1.0):
                    finished = FinishedJob.of(fields)
                    for listener in self.listeners:
                        listener(finished)
            except BrokerDown:
                self.metrics.broker_errors.inc()
                self._stop.wait(1.0)
            except Exception as err:  # a listener's bug must not stop the counting
                log_event("listener_error", logging.ERROR, error=repr(err))


@dataclass
class FinishedJob:
    """What the rollouts count of a finished job (an entry of the `finished` stream)."""

    model: str
    alias: str | None
    status: str
    client: Client
    created: float
    finished: float
    shadow: bool

    @classmethod
    def of(cls, fields: dict[str, str]) -> FinishedJob:
        return cls(
            fields["model"],
            fields["alias"] or None,
            fields["status"],
            Client(fields["address"]),
            float(fields["created"]),
            float(fields["finished"]),
            fields["shadow"] == "1",
        )


def broker_events(
    broker: Broker,
    job_id: str,
    after: str = "0",
    keepalive: float = KEEPALIVE_SECONDS,
    gone: Callable[[], bool] = lambda: False,
) -> Iterator[str]:
    """A job's events from Redis after the event id `after` (a reconnecting client's
    Last-Event-ID), each with its id; the done event carries the images. Ends at the outcome,
    when the client goes away, or when the broker cannot be reached (the client reconnects)."""
    quiet_since = time.monotonic()
    while True:
        try:
            found = broker.events(job_id, after, POLL_SECONDS)
        except BrokerDown:
            return
        if gone():
            return
        if not found and time.monotonic() - quiet_since >= keepalive:
            quiet_since = time.monotonic()
            yield ": keep-alive\n\n"
        for entry, name, data in found:
            after, quiet_since = entry, time.monotonic()
            if name == "done":
                data = {**data, "images": _with_png(broker, job_id, data["images"])}
            yield event(name, data, id=entry)
            if name in FINISHED:
                return


def _with_png(broker: Broker, job_id: str, images: list[dict]) -> list[dict]:
    job = broker.job(job_id, images=True)
    stored = job.images if job is not None else []
    return [
        {**image, "png": base64.b64encode(stored[image["index"]] or b"").decode()}
        for image in images
    ]

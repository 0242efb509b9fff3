"""A cluster worker (`picodiff worker --broker URL --models DIR --device cuda:0`): takes jobs of
the models it holds from Redis and draws them in the server's own generation queue (step-level
batching across every job it holds, whichever API replica queued it), publishing progress,
previews, images and outcomes back to Redis.

A worker takes jobs only while it has less than a batch of rows left to draw, so waiting jobs
stay in Redis for whichever worker frees up first. Its heartbeat (every `heartbeat` seconds)
keeps it listed, publishes its catalog and health, and keeps the queue entries it is drawing
from being reclaimed; a worker that dies stops touching them, and after `visibility` seconds
another worker claims them and draws the job again, skipping the images already stored (an
image's bytes depend only on its request, seed and index, never on the worker). Cancellations
arrive on a pub/sub channel and stop a job at its next step.
"""

from __future__ import annotations

import base64
import logging
import os
import socket
import threading
import time
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import torch

from .broker import Broker, BrokerDown, key
from .config import Batching
from .health import Health
from .jobs import Job
from .logs import log_event, log_job
from .manager import ModelManager
from .metrics import Metrics
from .quality import QualityChecks
from .queue import GenerationQueue

PUBLISH_SECONDS = 0.05  # the publisher sends at most this often (changes are coalesced)


@dataclass
class Held:
    """A job this worker draws: its queue entry and what it has published of it."""

    job: Job
    model: str
    entry: str
    sent_progress: dict | None = None
    sent_preview: int | None = None
    sent_images: set[int] = field(default_factory=set)


class ClusterWorker:
    """The threads of one worker process: the feed, the heartbeat and the cancel listener."""

    def __init__(
        self,
        broker: Broker,
        manager: ModelManager,
        *,
        device: str = "cpu",
        name: str | None = None,
        max_batch: int = 16,
        batching: Batching = "step",
        preview_every: int = 0,
        heartbeat: float = 2.0,
        visibility: float = 30.0,
        metrics: Metrics | None = None,
        quality_check_every: float = 0.0,
        quality_n: int = 1000,
    ):
        self.broker, self.manager, self.device = broker, manager, device
        self.name = name or f"{socket.gethostname()}-{os.getpid()}-{device}"
        self.heartbeat_every, self.visibility = heartbeat, visibility
        self.metrics = metrics or manager.metrics
        self.health = Health(self.metrics)
        self.queue = GenerationQueue(
            manager,
            self.metrics,
            max_batch=max_batch,
            queue_size=1 << 20,  # the limits are the API's, in Redis
            client_jobs=1 << 20,
            preview_every=preview_every,
            batching=batching,
            health=self.health,
        )
        self.queue.listeners += [self.health.record, log_job, self._finished]
        if quality_check_every:  # in idle time; the heartbeat publishes the results
            self.queue.background = QualityChecks(
                manager, self.health, quality_check_every, quality_n
            )
        self._held: dict[str, Held] = {}
        self._outbox: list[tuple[Job, dict[int, bytes]]] = []  # outcomes Redis has not taken
        self._dirty: set[str] = set()  # held jobs changed since the publisher last ran
        self._lock, self._flush_lock = threading.Lock(), threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._last_reclaim = 0.0

    # --- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        self.queue.start((self.device,))
        self._beat()  # listed (and its models in the catalog) before it takes work
        for target in (self._feed, self._publishing, self._heartbeats, self._cancels):
            thread = threading.Thread(target=target, name=f"{target.__name__}", daemon=True)
            thread.start()
            self._threads.append(thread)
        log_event("worker_started", worker=self.name, device=self.device, models=self.models())

    def close(self) -> None:
        self._stop.set()
        self.queue.close()
        self.manager.close()
        with suppress(BrokerDown):  # its heartbeat expires anyway
            self.broker.leave(self.name)

    def models(self) -> list[str]:
        return sorted(e.name for e in self.manager.entries() if e.valid)

    # --- taking work ------------------------------------------------------------------------
    def _rows_left(self) -> int:
        """Images of the held jobs not drawn yet (waiting or being drawn)."""
        with self._lock:
            return sum(h.job.request.n - h.job.images_done for h in self._held.values())

    def _feed(self) -> None:
        while not self._stop.is_set():
            models = self.models()
            room = self.queue.max_batch - self._rows_left()
            if not models or room <= 0:
                self._stop.wait(0.005)
                continue
            try:
                taken = self._reclaimed(models) or self.broker.take(
                    models, self.name, count=max(1, room // 4), block=0.5
                )
                for model, entry, job_id in taken:
                    self._start(model, entry, job_id)
            except BrokerDown as err:
                self._broker_error(err)
                self._stop.wait(0.5)

    def _reclaimed(self, models: list[str]) -> list[tuple[str, str, str]]:
        """Entries of dead workers, looked for every half visibility timeout."""
        if time.monotonic() - self._last_reclaim < self.visibility / 2:
            return []
        self._last_reclaim = time.monotonic()
        claimed = self.broker.reclaim(models, self.name, self.visibility, count=16)
        fresh = [c for c in claimed if c[2] not in self._held]
        for model, _, job_id in fresh:
            self.metrics.reclaimed_jobs.labels(model).inc()
            log_event("job_reclaimed", logging.WARNING, id=job_id, model=model, worker=self.name)
        return fresh

    def _start(self, model: str, entry: str, job_id: str) -> None:
        """Draw a taken job here (what is left of it), or drop an entry whose job finished."""
        if job_id in self._held:
            return
        job = self.broker.job(job_id, images=True)
        if job is None or job.is_finished or job.model != model:
            self.broker.ack(model, entry)
            return
        job.on_change = self._publish
        with self._lock:
            held = self._held[job_id] = Held(job, model, entry)
            held.sent_images = {i for i, image in enumerate(job.images) if image is not None}
        if not job.pending:  # every image was stored before a worker died: only finish it
            job.finish("done")
            self._finished(job)
            return
        served = self.manager.entry(model)
        version = (served and served.version) or job.version
        if not self.broker.start(job_id, self.name, version):
            with self._lock:
                self._held.pop(job_id, None)
            self.broker.ack(model, entry)
            return
        job.status = "queued"
        self.queue.submit(job)
        log_event(
            "job_taken", id=job_id, model=model, worker=self.name, images_left=len(job.pending)
        )

    # --- publishing -------------------------------------------------------------------------
    def _publish(self, job: Job) -> None:
        """Job.on_change (on the sampling thread): mark the job for the publisher."""
        with self._lock:
            self._dirty.add(job.id)
        self._wake.set()

    def _publishing(self) -> None:
        """The publisher thread: every PUBLISH_SECONDS at most, the changes of every marked job
        (progress, previews, finished images) in one round trip, then the outcomes."""
        while not self._stop.is_set():
            self._wake.wait(1.0)
            self._wake.clear()
            with self._lock:
                dirty, self._dirty = self._dirty, set()
            updates = [u for u in map(self._changes, dirty) if u is not None]
            try:
                if updates:
                    self.broker.update_many([u[:4] for u in updates])
                    for _, _, _, images, held, progress, preview in updates:
                        held.sent_progress, held.sent_preview = progress, preview
                        held.sent_images |= set(images)
            except BrokerDown as err:  # progress is best effort: the outcome has everything
                self._broker_error(err)
            self._flush()
            self._stop.wait(PUBLISH_SECONDS)

    def _changes(self, job_id: str) -> tuple | None:
        """What a held job has not published yet: (id, fields, events, images) and the
        held state to remember once sent."""
        held = self._held.get(job_id)
        job = held and held.job
        if held is None or job.is_finished:
            return None
        progress = {"id": job.id, "status": job.status, **job.summary()["progress"]}
        events: list[tuple[str, dict]] = []
        if progress != held.sent_progress:
            events.append(("progress", progress))
        preview, preview_step = job.preview, job.preview_step
        if preview is not None and preview_step != held.sent_preview:
            png = base64.b64encode(preview).decode()
            events.append(("preview", {"id": job.id, "step": preview_step, "png": png}))
        images = {
            i: image
            for i, image in enumerate(job.images)
            if image is not None and i not in held.sent_images
        }
        if not events and not images:
            return None
        fields = {
            "step": job.step,
            "total": job.total,
            "eta": job.eta_seconds,
            "version": job.version,
            "status": job.status,
        }
        return job.id, fields, events, images, held, progress, preview_step

    def _finished(self, job: Job) -> None:
        """Queue listener: hand a finished job's outcome to the publisher."""
        held = self._held.get(job.id)
        if held is None:
            return
        if held.job is not job:  # a rollout candidate's failed attempt; the job goes on
            self._send(lambda: self.broker.record_attempt(job))
            return
        if job.status == "done":
            self.metrics.worker_images.labels(job.model).inc(job.request.n)
        images = {i: image for i, image in enumerate(job.images) if image is not None}
        with self._lock:
            self._outbox.append((job, images))
        self._wake.set()

    def _flush(self) -> None:
        """Send the outcomes Redis has not taken yet (done and failed with their images; a
        cancelled one only acknowledged) and forget those jobs; after an outage, later."""
        with self._flush_lock:
            with self._lock:
                outbox, self._outbox = self._outbox, []
            for index, (job, images) in enumerate(outbox):
                held = self._held.get(job.id)
                try:
                    if job.status in ("done", "failed"):
                        self.broker.finish(job, images)
                    if held is not None:
                        self.broker.ack(held.model, held.entry)
                except BrokerDown as err:
                    self._broker_error(err)
                    with self._lock:
                        self._outbox = outbox[index:] + self._outbox
                    return
                with self._lock:
                    self._held.pop(job.id, None)

    def _send(self, act) -> None:
        try:
            act()
        except BrokerDown as err:
            self._broker_error(err)

    def _broker_error(self, err: BrokerDown) -> None:
        self.metrics.broker_errors.inc()
        log_event("broker_error", logging.WARNING, worker=self.name, error=str(err))

    # --- heartbeat and cancellation -----------------------------------------------------------
    def _heartbeats(self) -> None:
        while not self._stop.wait(self.heartbeat_every):
            try:
                self._beat()
            except BrokerDown as err:
                self._broker_error(err)
            except Exception as err:  # a bug here must not silence the worker's heartbeat
                log_event("heartbeat_error", logging.ERROR, error=repr(err))

    def _beat(self) -> None:
        self.broker.heartbeat(self.name, self.info(), ttl=3 * self.heartbeat_every)
        with self._lock:
            held = list(self._held.values())
        for model in {h.model for h in held}:
            self.broker.touch(model, self.name, [h.entry for h in held if h.model == model])
        states = self.broker.states([h.job.id for h in held])
        for h, (status, watchers) in zip(held, states):
            h.job.watchers = watchers  # streams open on the replicas: previews are drawn
            if status in (None, "cancelled") and not h.job.is_finished:  # a missed cancel
                self.queue.cancel(h.job)
        self._flush()

    def info(self) -> dict[str, Any]:
        """What the heartbeat publishes: this worker, its models and their health."""
        loaded = {k.split("@")[0] for k in self.manager.loaded()}
        self.health.refresh(self.manager.entries())
        return {
            "name": self.name,
            "device": self.device,
            "pid": os.getpid(),
            "jobs": len(self._held),
            "models": [
                {
                    "entry": e.to_json(),
                    "health": self.health.describe(e),
                    "loaded": e.name in loaded,
                }
                for e in self.manager.entries()
                if e.valid
            ],
        }

    def _cancels(self) -> None:
        """Stop a job at its next step when an API replica cancels it."""
        while not self._stop.is_set():
            try:
                with self.broker.reachable():
                    pubsub = self.broker.redis.pubsub(ignore_subscribe_messages=True)
                    pubsub.subscribe(key("cancel"))
                    while not self._stop.is_set():
                        message = pubsub.get_message(timeout=1.0)
                        if message and message["type"] == "message":
                            held = self._held.get(message["data"].decode())
                            if held is not None:
                                self.queue.cancel(held.job)
            except BrokerDown as err:
                self._broker_error(err)
                self._stop.wait(0.5)


def default_device() -> str:
    return "cuda:0" if torch.cuda.is_available() else "cpu"

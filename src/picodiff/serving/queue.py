"""The generation queue: one worker thread per device, request batching across jobs.

The worker takes the oldest job with images left, then fills a forward pass of up to
`max_batch` images round-robin from every waiting job with the same model, sampler, steps and
eta (oldest first, so no job starves). Each image is seeded from (job seed, image index), so it
is the same whatever batch it was drawn in.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import traceback
from collections.abc import Callable

import torch

from ..diffusion import SamplingCancelled
from ..pixels import make_grid, png_bytes, to_uint8
from ..sampling import NonFiniteOutput
from .jobs import Job
from .logs import log_event
from .manager import ModelManager, ModelUnavailable, UnknownModel
from .metrics import Metrics

Rows = list[tuple[Job, int]]  # (job, image index) per row of a forward pass


class QueueFull(Exception):
    """Too many jobs waiting; retry after `retry_after` seconds."""

    def __init__(self, retry_after: int):
        super().__init__(f"the generation queue is full; retry in {retry_after} s")
        self.retry_after = retry_after


class GenerationQueue:
    """Jobs waiting or running; `submit` from request threads, workers do the sampling."""

    def __init__(
        self,
        manager: ModelManager,
        metrics: Metrics,
        *,
        max_batch: int = 8,
        queue_size: int = 64,
        preview_every: int = 0,
    ):
        self.manager, self.metrics = manager, metrics
        self.max_batch, self.queue_size, self.preview_every = max_batch, queue_size, preview_every
        self.listeners: list[Callable[[Job], None]] = []  # called once per finished job
        self._active: list[Job] = []
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._job_seconds = 1.0  # running mean, for Retry-After
        self.workers: list[threading.Thread] = []

    def start(self, devices: tuple[str, ...]) -> None:
        for device in devices:
            worker = threading.Thread(
                target=self._work, args=(device,), name=f"worker-{device}", daemon=True
            )
            worker.start()
            self.workers.append(worker)

    def close(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()

    def depth(self) -> int:
        with self._cond:
            return len(self._active)

    def submit(self, job: Job) -> None:
        """Queue a job, or raise QueueFull when `queue_size` jobs are already waiting."""
        with self._cond:
            waiting = sum(j.status == "queued" for j in self._active)
            if waiting >= self.queue_size:
                waits = math.ceil(self._job_seconds * max(1, waiting / self.max_batch))
                raise QueueFull(max(1, waits))
            self._active.append(job)
            self.metrics.queue_depth.set(len(self._active))
            self._cond.notify_all()

    def cancel(self, job: Job) -> bool:
        """Cancel a job: at once if queued, within one denoising step if running."""
        if not job.finish("cancelled"):
            return False
        self._retire(job)
        return True

    # --- the worker -------------------------------------------------------------------------
    def _work(self, device: str) -> None:
        while not self._stop.is_set():
            rows = self._take_batch()
            if rows:
                self._run(rows, device)

    def _take_batch(self) -> Rows:
        """Rows for one forward pass: the oldest job's key, filled round-robin across jobs."""
        with self._cond:
            self._cond.wait_for(lambda: self._stop.is_set() or self._ready(), timeout=1.0)
            ready = self._ready()
            if not ready:
                return []
            group = [j for j in ready if j.key == ready[0].key]
            rows: Rows = []
            while len(rows) < self.max_batch and any(j.pending for j in group):
                for job in group:
                    if job.pending and len(rows) < self.max_batch:
                        rows.append((job, job.pending.popleft()))
            return rows

    def _ready(self) -> list[Job]:
        return [j for j in self._active if j.pending and not j.is_finished]

    def _run(self, rows: Rows, device: str) -> None:
        jobs = list(dict.fromkeys(job for job, _ in rows))
        for job in jobs:
            if job.status == "queued":
                job.update(status="running", started=time.time())
        request = jobs[0].request
        self.metrics.batch_size.labels(request.model).observe(len(rows))
        try:
            model = self.manager.get(request.model, device)
            for job in jobs:  # the version that actually draws (a reload may have changed it)
                job.version = model.entry.version or job.version
            images = model.sample(
                [(job.request.seed, index) for job, index in rows],
                request.settings,
                callback=PassProgress(self, rows),
                on_violation=self._violation(request.model),
            )
            self._deliver(rows, images)
        except SamplingCancelled:
            pass  # every job of the pass was cancelled
        except (ModelUnavailable, UnknownModel) as err:  # broken or removed since queued
            self._fail(jobs, 503, str(err))
        except NonFiniteOutput as err:
            self._violation(request.model)("nan")
            self._fail(jobs, 500, f"model {request.model!r}: {err}")
        except Exception as err:  # never kill the worker; the log has the traceback
            log_event("worker_error", logging.ERROR, error=repr(err), trace=traceback.format_exc())
            self._fail(jobs, 500, f"internal error while sampling ({type(err).__name__}: {err})")

    def _deliver(self, rows: Rows, images: torch.Tensor) -> None:
        for (job, index), image in zip(rows, to_uint8(images)):
            if not job.is_finished:
                job.images[index] = png_bytes(image)
                job.update()
        for job in dict.fromkeys(job for job, _ in rows):
            if not job.pending and job.images_done == job.request.n and job.finish("done"):
                self._retire(job)

    def _fail(self, jobs: list[Job], status: int, message: str) -> None:
        for job in jobs:
            if job.finish("failed", {"status": status, "message": message}):
                self._retire(job)

    def _retire(self, job: Job) -> None:
        """Forget a finished job, record its metrics and tell the listeners."""
        with self._cond:
            if job in self._active:
                self._active.remove(job)
            self.metrics.queue_depth.set(len(self._active))
        latency = (job.finished or time.time()) - job.created
        if job.status == "done":
            self._job_seconds = 0.8 * self._job_seconds + 0.2 * latency
        self.metrics.jobs.labels(job.model, job.status).inc()
        self.metrics.job_latency.labels(job.model).observe(latency)
        for listener in self.listeners:
            try:
                listener(job)
            except Exception as err:  # a listener's bug must not stop the worker
                log_event("listener_error", logging.ERROR, error=repr(err))

    def _violation(self, model: str) -> Callable[[str], None]:
        def report(kind: str) -> None:
            self.metrics.range_violations.labels(model, kind).inc()
            log_event("output_range_violation", logging.WARNING, model=model, kind=kind)

        return report


class PassProgress:
    """The sampler callback of one forward pass: timing, progress, previews, cancellation."""

    def __init__(self, queue: GenerationQueue, rows: Rows):
        self.queue, self.rows = queue, rows
        self.jobs = list(dict.fromkeys(job for job, _ in rows))
        self.start = self.last = time.perf_counter()
        self.model = self.jobs[0].model

    def __call__(self, i: int, total: int, x_t: torch.Tensor, x0: torch.Tensor) -> bool:
        now = time.perf_counter()
        self.queue.metrics.step_time.labels(self.model).observe(now - self.last)
        self.last = now
        for job in self.jobs:
            if job.status == "cancelled" and job.stopped_at_step is None:
                job.update(stopped_at_step=i + 1)
        live = [job for job in self.jobs if not job.is_finished]
        if not live:
            return False  # nobody wants this pass any more: stop now
        per_step = (now - self.start) / (i + 1)
        every = self.queue.preview_every or max(1, total // 8)
        for job in live:
            passes_left = math.ceil(len(job.pending) / self.queue.max_batch)
            eta = per_step * (total - i - 1 + total * passes_left)
            changes = {"step": i + 1, "total": total, "eta_seconds": round(eta, 3)}
            if job.watchers and (i + 1) % every == 0 and i + 1 < total:
                changes.update(preview=self.preview(job, x0), preview_step=i + 1)
            job.update(**changes)
        return True

    def preview(self, job: Job, x0: torch.Tensor) -> bytes:
        """A grid of the job's current x0 predictions in this pass, as PNG."""
        mine = [row for row, (owner, _) in enumerate(self.rows) if owner is job]
        return png_bytes(make_grid(to_uint8(x0[mine]), pad=1))

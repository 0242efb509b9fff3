"""The generation queue: one worker thread per device, batching across jobs step by step.

Every image being drawn is a row of a cohort (a few rows of one job started together, with their
own sampler state). Each tick the worker advances up to `max_batch` rows by one network
evaluation: one call per network over the chosen cohorts, each row at its own timestep,
whatever its sampler or step count. The rows are chosen fairly (`clients.FairShare`): the
least served client's cohorts first, so a client with a few rows is never held behind another's
hundreds; the rest of the resident cohorts simply wait for a later tick. Rows of a newly
arrived job become resident at the next tick (each client up to `max_batch` rows, each address
twice that, the worker four times that), and finished or cancelled rows leave at once. Each
image is seeded from (job seed, image index) and the network is called on fixed-size blocks, so
an image is the same bits whatever it was drawn beside.

A client may have `client_jobs` jobs waiting or running (its address twice that, within
`queue_size`); beyond that its requests get 429, and only its own.

`batching` chooses when rows may join: "step" (as above), "job" (the older policy: a batch of
jobs with equal settings runs to its end before the next starts) or "none" (one job at a time).
"""

from __future__ import annotations

import copy
import logging
import math
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Generator
from dataclasses import dataclass, field

import torch

from ..choices import check_choice
from ..diffusion import SamplingCancelled
from ..models.batching import default_micro_batch
from ..pixels import make_grid, png_bytes, to_uint8
from ..sampling import NetworkCall, NonFiniteOutput, call_network
from ..sampling.monitor import NoiseProbe
from .clients import FairShare, address_share
from .config import Batching
from .generator import ServedModel
from .health import Health
from .jobs import Job
from .logs import log_event
from .manager import ModelManager, ModelUnavailable, UnknownModel
from .metrics import Metrics
from .quality import QualityChecks


@dataclass(eq=False)
class Cohort:
    """Rows of one job drawn together: the engine's generator and the call it waits for."""

    job: Job
    indices: list[int]
    attempt: int = 0  # the job's attempt these rows belong to
    steps: Generator[NetworkCall, torch.Tensor, torch.Tensor] | None = None
    call: NetworkCall | None = None
    last: float = field(default_factory=time.perf_counter)
    probe: NoiseProbe = field(default_factory=NoiseProbe)  # its noise predictions (monitoring)


class QueueFull(Exception):
    """Too many jobs waiting; retry after `retry_after` seconds."""

    def __init__(self, retry_after: int, what: str = "the generation queue"):
        super().__init__(f"{what} is full; retry in {retry_after} s")
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
        client_jobs: int = 8,
        preview_every: int = 0,
        batching: Batching = "step",
        health: Health | None = None,
    ):
        self.manager, self.metrics, self.health = manager, metrics, health
        self.background: QualityChecks | None = None  # run when a worker has no user rows
        self.max_batch, self.queue_size, self.preview_every = max_batch, queue_size, preview_every
        self.client_jobs = min(client_jobs, queue_size)
        self.address_jobs = address_share(self.client_jobs, queue_size)
        self.batching = check_choice("batching", batching, Batching)
        metrics.queue_capacity.set(queue_size)
        self.listeners: list[Callable[[Job], None]] = []  # called once per finished job
        self._active: list[Job] = []
        # the (device, loaded model) each running job started with: its later rows use the same
        # weights, so a model replaced mid-job never mixes versions within one job
        self._pinned: dict[Job, tuple[str, ServedModel]] = {}
        # rows x steps given to each address and each client: a newly active address may run
        # about one default job (a full batch, 20 steps) before it shares equally; clients of
        # one address start level (a credit there would let each new id jump the queue)
        self._addresses, self._clients = FairShare(credit=20 * max_batch), FairShare()
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
        """Queue a job, or raise QueueFull when the queue, or the client's share of it, is full."""
        with self._cond:
            mine = [j for j in self._active if j.client == job.client]
            address = sum(j.client.address == job.client.address for j in self._active)
            waiting = sum(j.status == "queued" for j in self._active)
            if len(mine) >= self.client_jobs or address >= self.address_jobs:
                raise QueueFull(self._wait_for(len(mine)), "your client's share of the queue")
            if waiting >= self.queue_size:
                raise QueueFull(self._wait_for(waiting))
            self._active.append(job)
            self.metrics.queue_depth.set(len(self._active))
            self._cond.notify_all()

    def _wait_for(self, jobs: int) -> int:
        """Seconds until about `jobs` jobs have run (Retry-After)."""
        return max(1, math.ceil(self._job_seconds * max(1, jobs / self.max_batch)))

    def cancel(self, job: Job) -> bool:
        """Cancel a job: at once if queued; a running one's rows leave at the next step."""
        if not job.finish("cancelled"):
            return False
        self._retire(job)
        return True

    # --- the worker -------------------------------------------------------------------------
    def _work(self, device: str) -> None:
        resident: list[Cohort] = []
        micro_batch = default_micro_batch(device)
        while not self._stop.is_set():
            resident = [c for c in resident if self._wanted(c)]
            with torch.inference_mode():
                resident += [c for c in self._admit(resident, device) if self._start(c, device)]
                if resident:
                    self._tick(self._chosen(resident, micro_batch), micro_batch)
                elif self.background is not None:
                    self.background.run_unit(device)
            resident = [c for c in resident if c.call is not None]

    def _admit(self, resident: list[Cohort], device: str) -> list[Cohort]:
        """New cohorts: rows of waiting jobs, least served client first, that may join now
        (a job already drawing on another device stays there)."""
        with self._cond:
            background = self.background
            if not resident and (background is None or not background.pending(device)):
                self._cond.wait_for(lambda: self._stop.is_set() or self._ready(), timeout=1.0)
            ready = [j for j in self._ready() if self._pinned.get(j, (device,))[0] == device]
            if not ready or (resident and self.batching != "step"):
                return []
            if self.batching == "job":
                ready = [j for j in ready if j.key == ready[0].key]
            elif self.batching == "none":
                ready = ready[:1]
            self._addresses.keep({j.client.address for j in self._active})
            self._clients.keep({j.client for j in self._active})
            return self._fill(sorted(ready, key=self._priority), resident)

    def _fill(self, ready: list[Job], resident: list[Cohort]) -> list[Cohort]:
        """Cohorts of waiting rows while each client, address and the worker have room."""
        step = self.batching == "step"
        worker = (4 if step else 1) * self.max_batch
        per_client, per_address = (self.max_batch, 2 * self.max_batch) if step else (worker,) * 2
        rows = max(1, self.max_batch // 4) if step else self.max_batch  # per cohort
        held: Counter = Counter()
        for cohort in resident:
            held.update(_holders(cohort.job, len(cohort.indices)))
        room = worker - sum(len(c.indices) for c in resident)
        cohorts = []
        for job in ready:
            free = min(room, per_client - held[job.client], per_address - held[job.client.address])
            while job.pending and free > 0:
                take = [job.pending.popleft() for _ in range(min(rows, free, len(job.pending)))]
                cohorts.append(Cohort(job, take, job.attempt))
                free, room = free - len(take), room - len(take)
                held.update(_holders(job, len(take)))
        return cohorts

    def _chosen(self, resident: list[Cohort], micro_batch: int) -> list[Cohort]:
        """The cohorts this tick advances, least served first: up to max_batch rows, or one
        pass of the network (micro_batch rows) while several addresses have rows, so that a
        tick for a client with a few rows is not made long by another's many."""
        if self.batching != "step":
            return resident
        several = len({c.job.client.address for c in resident}) > 1
        budget = min(self.max_batch, micro_batch) if several else self.max_batch
        chosen, rows = [], 0
        for cohort in sorted(resident, key=lambda c: self._priority(c.job)):
            if not chosen or rows + len(cohort.indices) <= budget:
                chosen.append(cohort)
                rows += len(cohort.indices)
        with self._cond:
            for cohort in chosen:
                self._addresses.charge(cohort.job.client.address, len(cohort.indices))
                self._clients.charge(cohort.job.client, len(cohort.indices))
        return chosen

    def _priority(self, job: Job) -> tuple:
        client = job.client
        return (self._addresses.service(client.address), self._clients.service(client), job.created)

    def _ready(self) -> list[Job]:
        return [j for j in self._active if j.pending and not j.is_finished]

    def _start(self, cohort: Cohort, device: str) -> bool:
        """Load the cohort's model and ask for its first network call; False if it failed."""
        job = cohort.job
        if job.status == "queued":
            job.update(status="running", started=time.time())
        request = job.request
        try:
            pinned = self._pinned.get(job)
            model = pinned[1] if pinned else self.manager.get(request.model, device)
            with self._cond:
                self._pinned[job] = (device, model)
            job.version = model.entry.version or job.version  # the version that draws
            cohort.steps = model.steps(
                [(request.seed, index) for index in cohort.indices],
                request.settings,
                callback=CohortProgress(self, cohort),
                on_violation=self._violation(request.model),
                observe=cohort.probe,
                **request.condition(len(cohort.indices)),
            )
            cohort.call = next(cohort.steps)
            return True
        except (ModelUnavailable, UnknownModel) as err:  # broken or removed since queued
            self._fail(job, 503, str(err))
        except Exception as err:
            self._crashed(job, err)
        return False

    def _tick(self, running: list[Cohort], micro_batch: int) -> None:
        """One network evaluation for every running cohort: one call per network."""
        by_net: dict[int, list[Cohort]] = {}
        for cohort in running:
            by_net.setdefault(id(cohort.call.net), []).append(cohort)  # type: ignore[union-attr]
        for group in by_net.values():
            self.metrics.batch_size.labels(group[0].job.model).observe(
                sum(len(c.indices) for c in group)
            )
            try:
                outputs = call_network([c.call for c in group], micro_batch)  # type: ignore
            except Exception as err:
                for cohort in group:
                    cohort.call = None
                for job in dict.fromkeys(c.job for c in group):  # once per job, not cohort
                    self._crashed(job, err)
                continue
            for cohort, output in zip(group, outputs):
                self._advance(cohort, output)

    def _advance(self, cohort: Cohort, output: torch.Tensor) -> None:
        """Send a cohort its network output; deliver its images when it finishes."""
        job, cohort.call = cohort.job, None
        if not self._wanted(cohort):  # cancelled or failed during the call
            return
        try:
            cohort.call = cohort.steps.send(output)  # type: ignore[union-attr]
        except StopIteration as done:
            self._deliver(cohort, done.value)
        except SamplingCancelled:
            self._release(cohort)
        except NonFiniteOutput as err:
            self._violation(job.model)("nan")
            if self.health is not None and job in self._pinned:
                self.health.nan(self._pinned[job][1].entry)
            self._fail(job, 500, f"model {job.model!r}: {err}")
        except Exception as err:
            self._crashed(job, err)

    def _wanted(self, cohort: Cohort) -> bool:
        """False (its rows freed) for a cohort whose job has finished (cancelled or failed) or
        started again on its fallback."""
        if not cohort.job.is_finished and cohort.attempt == cohort.job.attempt:
            return True
        self._release(cohort)
        return False

    def _release(self, cohort: Cohort) -> None:
        job = cohort.job
        if cohort.steps is not None:
            cohort.steps.close()
        if job.status == "cancelled" and job.stopped_at_step is None:
            job.update(stopped_at_step=job.step)

    def _deliver(self, cohort: Cohort, images: torch.Tensor) -> None:
        job = cohort.job
        if self.health is not None and job in self._pinned:
            self.health.batch(self._pinned[job][1].entry, images, cohort.probe)
        for index, image in zip(cohort.indices, to_uint8(images)):
            job.images[index] = png_bytes(image, job.provenance(index=index))
        job.update()
        if not job.pending and job.images_done == job.request.n and job.finish("done"):
            self._retire(job)

    def _crashed(self, job: Job, err: Exception) -> None:
        """Fail a job on an unexpected error; the log has the traceback (the worker goes on)."""
        log_event("worker_error", logging.ERROR, error=repr(err), trace=traceback.format_exc())
        self._fail(job, 500, f"internal error while sampling ({type(err).__name__}: {err})")

    def _fail(self, job: Job, status: int, message: str) -> None:
        error = {"status": status, "message": message}
        if job.fallback is not None and not job.is_finished:
            self._fall_back(job, error)
        elif job.finish("failed", error):
            self._retire(job)

    def _fall_back(self, job: Job, error: dict) -> None:
        """A rollout candidate failed the job: the listeners hear of the failed attempt, then
        the job is drawn again on its fallback (stable), so the client never sees it."""
        attempt = copy.copy(job)
        attempt.status, attempt.error, attempt.finished = "failed", error, time.time()
        self.metrics.jobs.labels(job.model, "failed").inc()
        log_event("fallback", logging.WARNING, id=job.id, model=job.model, error=error)
        self._tell(attempt)
        with self._cond:
            self._pinned.pop(job, None)
            job.restart(job.fallback)  # type: ignore[arg-type]
            self._cond.notify_all()

    def _retire(self, job: Job) -> None:
        """Forget a finished job, record its metrics and tell the listeners."""
        with self._cond:
            if job in self._active:
                self._active.remove(job)
            self._pinned.pop(job, None)
            self.metrics.queue_depth.set(len(self._active))
        latency = (job.finished or time.time()) - job.created
        if job.status == "done":
            self._job_seconds = 0.8 * self._job_seconds + 0.2 * latency
        self.metrics.jobs.labels(job.model, job.status).inc()
        self.metrics.job_latency.labels(job.model).observe(latency)
        self._tell(job)

    def _tell(self, job: Job) -> None:
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


def _holders(job: Job, rows: int) -> Counter:
    """Rows held by a job's client and its address (the scopes of the residency limits)."""
    return Counter({job.client: rows, job.client.address: rows})


class CohortProgress:
    """The sampler callback of one cohort: step timing, its job's progress, previews, and
    cancellation (returning False once the job has finished)."""

    def __init__(self, queue: GenerationQueue, cohort: Cohort):
        self.queue, self.cohort = queue, cohort

    def __call__(self, i: int, total: int, x_t: torch.Tensor, x0: torch.Tensor) -> bool:
        cohort, job = self.cohort, self.cohort.job
        now = time.perf_counter()
        self.queue.metrics.step_time.labels(job.model).observe(now - cohort.last)
        per_step, cohort.last = now - cohort.last, now
        if job.is_finished:
            return False  # cancelled (or failed): stop now
        cohorts_left = math.ceil(len(job.pending) / self.queue.max_batch)
        eta = per_step * (total - i - 1 + total * cohorts_left)
        changes = {"step": max(job.step, i + 1), "total": total, "eta_seconds": round(eta, 3)}
        every = self.queue.preview_every or max(1, total // 8)
        if job.watchers and (i + 1) % every == 0 and i + 1 < total:
            made = job.provenance(index=cohort.indices[0], count=len(cohort.indices), preview=i + 1)
            preview = png_bytes(make_grid(to_uint8(x0), pad=1), made)
            changes.update(preview=preview, preview_step=i + 1)
        job.update(**changes)
        return True

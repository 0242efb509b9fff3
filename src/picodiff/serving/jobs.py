"""Generation jobs: their state, progress, images, and the store that remembers them."""

from __future__ import annotations

import base64
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..provenance import provenance
from .clients import Client
from .sse import job_events
from .validation import GenerateRequest

FINISHED = ("done", "failed", "cancelled")
# this server process's mark, the first 8 hex digits of every job id it gives: an id with
# another mark was given before a restart (jobs live in memory and do not survive one)
RUN_MARK = uuid.uuid4().hex[:8]


def new_job_id() -> str:
    return RUN_MARK + uuid.uuid4().hex[:24]


@dataclass(eq=False)
class Job:
    """One POST /api/generate: n images of one model; `wait` and `wait_finished` observe it."""

    request: GenerateRequest
    version: str
    alias: str | None = None
    # who asked: fair shares, limits and who may cancel
    client: Client = field(default_factory=lambda: Client("local"))
    shadow: bool = False  # a rollout's copy for the candidate; never returned to the client
    # a rollout candidate's job: the same request for stable, drawn instead if the candidate fails
    fallback: GenerateRequest | None = None
    attempt: int = 0  # bumped when the job starts again on its fallback
    id: str = field(default_factory=new_job_id)
    status: str = "queued"
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    step: int = 0  # denoising steps done by its furthest-advanced images
    total: int = 0
    eta_seconds: float | None = None
    images: list[bytes | None] = field(default_factory=list)
    preview: bytes | None = None
    preview_step: int | None = None
    error: dict[str, Any] | None = None
    stopped_at_step: int | None = None
    pending: deque[int] = field(default_factory=deque)  # image indices not started yet
    revision: int = 0  # bumped by every update
    watchers: int = 0  # open event streams; previews are drawn only for watched jobs
    on_change: Callable[[Job], None] | None = field(default=None, repr=False)  # after update
    _cond: threading.Condition = field(default_factory=threading.Condition, repr=False)
    _done: threading.Event = field(default_factory=threading.Event, repr=False)

    def __post_init__(self) -> None:
        self.images = [None] * self.request.n
        self.pending = deque(range(self.request.n))

    @property
    def model(self) -> str:
        return self.request.model

    @property
    def key(self) -> tuple:
        """Jobs with equal keys can share a batch under --batching job."""
        r = self.request
        return (r.model, self.version, r.sampler, r.steps, r.eta, r.spacing, r.guidance)

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED

    @property
    def images_done(self) -> int:
        return sum(image is not None for image in self.images)

    def update(self, **changes: Any) -> None:
        """Change fields and wake everyone waiting on this job."""
        with self._cond:
            for name, value in changes.items():
                setattr(self, name, value)
            self.revision += 1
            self._cond.notify_all()
        if self.on_change is not None:
            self.on_change(self)

    def restart(self, request: GenerateRequest) -> None:
        """Draw every image again from `request` (a rollout's stable, after its candidate
        failed); rows of the earlier attempt are dropped by the worker."""
        with self._cond:
            self.request, self.fallback, self.attempt = request, None, self.attempt + 1
            self.images = [None] * request.n
            self.pending = deque(range(request.n))
            self.update(status="queued", step=0, preview=None, preview_step=None)

    def watch(self, delta: int) -> None:
        """Count an event stream opening (+1) or closing (-1)."""
        with self._cond:
            self.watchers += delta

    def finish(self, status: str, error: dict[str, Any] | None = None) -> bool:
        """Move to a final status once; False if it had already finished."""
        with self._cond:
            if self.is_finished:
                return False
            self.update(status=status, error=error, finished=time.time(), eta_seconds=0.0)
            self.pending.clear()
            self._done.set()
            return True

    def wait(self, seen: int, timeout: float) -> int:
        """Block until the revision differs from `seen` (or timeout); returns the revision."""
        with self._cond:
            self._cond.wait_for(lambda: self.revision != seen, timeout)
            return self.revision

    def wait_finished(self, timeout: float) -> bool:
        """Block until the job finishes (progress updates do not wake this waiter)."""
        return self._done.wait(timeout)

    def summary(self) -> dict[str, Any]:
        """The JSON of GET /api/jobs/{id}."""
        r, end = self.request, self.finished
        return {
            "id": self.id,
            "status": self.status,
            "model": r.model,
            "version": self.version,
            "alias": self.alias,
            **{k: getattr(r, k) for k in ("n", "sampler", "steps", "eta", "spacing", "seed")},
            "label": r.label_name,
            "prompt": r.prompt,
            "guidance": r.guidance,
            "progress": {
                "step": self.step,
                "total": self.total,
                "images_done": self.images_done,
                "eta_seconds": self.eta_seconds,
            },
            "created": self.created,
            "started": self.started,
            "finished": end,
            "latency_seconds": round(end - self.created, 4) if end else None,
            "stopped_at_step": self.stopped_at_step,
            "images": [self.image_url(i) for i, im in enumerate(self.images) if im is not None],
            "error": self.error,
        }

    def provenance(self, **extra: Any) -> dict[str, Any]:
        """The PNG provenance of this job's images (`picodiff.provenance`)."""
        r = self.request
        return provenance(
            model=r.model,
            version=self.version,
            sampler=r.sampler,
            steps=r.steps,
            seed=r.seed,
            eta=r.eta,
            spacing=r.spacing,
            **({"label": r.label_name, "guidance": r.guidance} if r.label_name else {}),
            **({"prompt": r.prompt, "guidance": r.guidance} if r.prompt else {}),
            **extra,
        )

    def images_base64(self) -> list[str]:
        return [base64.b64encode(im).decode() for im in self.images if im is not None]

    def image_url(self, index: int) -> str:
        return f"/api/jobs/{self.id}/images/{index}.png"


class JobStore:
    """Jobs by id; finished ones beyond `keep` are forgotten, oldest first."""

    def __init__(self, keep: int = 1000):
        self.keep = keep
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, job: Job) -> None:
        with self._lock:
            self._jobs[job.id] = job
            finished = [j.id for j in self._jobs.values() if j.is_finished]
            for job_id in finished[: max(0, len(finished) - self.keep)]:
                del self._jobs[job_id]

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def image(self, job: Job, index: int) -> bytes | None:
        return job.images[index]

    def events(
        self, job: Job, last_event_id: str | None, gone: Callable[[], bool]
    ) -> Iterator[str]:
        """The job's event stream (an embedded server's events carry no ids)."""
        return job_events(job, gone=gone)

    def why_missing(self, job_id: str) -> str:
        """Why no job has this id: never given, given before a restart, or forgotten."""
        if len(job_id) != 32 or not all(c in "0123456789abcdef" for c in job_id):
            return f"no job {job_id!r}: job ids are 32 hex digits, as POST /api/generate gives"
        if not job_id.startswith(RUN_MARK):
            return (
                f"job {job_id} was lost: it was created before this server restarted, and "
                "jobs live in the server's memory only; submit it again"
            )
        return (
            f"job {job_id} is no longer kept: it finished and the last {self.keep} finished "
            "jobs are kept only (or it never existed)"
        )

"""Server-Sent Events of one job: progress, previews, then its outcome (with the images)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # jobs.py serves these streams
    from .jobs import Job

KEEPALIVE_SECONDS = 15.0  # a comment line this often: proxies keep the stream, and a client
# that went away fails the write
POLL_SECONDS = 1.0  # how often a stream or a wait checks that its client is still there


def event(name: str, data: dict[str, Any], id: str | None = None) -> str:
    """One SSE message: `event: NAME` and a JSON `data:` line (after `id: ID` if given)."""
    head = f"id: {id}\n" if id is not None else ""
    return f"{head}event: {name}\ndata: {json.dumps(data)}\n\n"


def job_events(
    job: Job, keepalive: float = KEEPALIVE_SECONDS, gone: Callable[[], bool] = lambda: False
) -> Iterator[str]:
    """progress (step, total, eta_seconds, images_done) on every change, preview (a base64 PNG
    grid of the current x0 predictions) every few steps, then done / failed / cancelled. Ends
    early when `gone()` says the client closed its connection."""
    job.watch(+1)
    try:
        yield from _stream(job, keepalive, gone)
    finally:
        job.watch(-1)


def _stream(job: Job, keepalive: float, gone: Callable[[], bool]) -> Iterator[str]:
    seen, sent_progress, sent_preview = -1, None, None
    quiet_since = time.monotonic()
    while True:
        revision = job.wait(seen, min(POLL_SECONDS, keepalive))
        if gone():
            return
        if revision == seen:
            if time.monotonic() - quiet_since >= keepalive:
                quiet_since = time.monotonic()
                yield ": keep-alive\n\n"
            continue
        seen, quiet_since = revision, time.monotonic()
        progress = {"id": job.id, "status": job.status, **job.summary()["progress"]}
        if progress != sent_progress:
            yield event("progress", progress)
            sent_progress = progress
        if job.preview is not None and job.preview_step != sent_preview:
            sent_preview = job.preview_step
            png = base64.b64encode(job.preview).decode()
            yield event("preview", {"id": job.id, "step": sent_preview, "png": png})
        if job.is_finished:
            yield outcome(job)
            return


def outcome(job: Job) -> str:
    if job.status == "done":
        images = [
            {"index": i, "url": job.image_url(i), "png": png}
            for i, png in enumerate(job.images_base64())
        ]
        return event("done", {"id": job.id, "images": images})
    if job.status == "failed":
        return event("failed", {"id": job.id, "error": job.error})
    return event("cancelled", {"id": job.id, "stopped_at_step": job.stopped_at_step})

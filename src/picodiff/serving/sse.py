"""Server-Sent Events of one job: progress, previews, then its outcome (with the images)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

from .jobs import Job

KEEPALIVE_SECONDS = 15.0


def event(name: str, data: dict[str, Any]) -> str:
    """One SSE message: `event: NAME` and a JSON `data:` line."""
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"


def job_events(job: Job, keepalive: float = KEEPALIVE_SECONDS) -> Iterator[str]:
    """progress (step, total, eta_seconds, images_done) on every change, preview (a base64 PNG
    grid of the current x0 predictions) every few steps, then done / failed / cancelled."""
    job.watch(+1)
    try:
        yield from _stream(job, keepalive)
    finally:
        job.watch(-1)


def _stream(job: Job, keepalive: float) -> Iterator[str]:
    seen, sent_progress, sent_preview = -1, None, None
    while True:
        revision = job.wait(seen, keepalive)
        if revision == seen:
            yield ": keep-alive\n\n"  # a comment line: keeps proxies from closing the stream
            continue
        seen = revision
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

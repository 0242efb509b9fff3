"""Structured logs: one JSON object a line (one per request, one per job, one per reload)."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

LOGGER = logging.getLogger("picodiff.serving")


def setup_logging(enabled: bool = True) -> None:
    """Send the server's events to stderr as JSON lines (once per process)."""
    if not enabled or any(getattr(h, "picodiff", False) for h in LOGGER.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.picodiff = True  # type: ignore[attr-defined]
    LOGGER.addHandler(handler)
    LOGGER.setLevel(logging.INFO)
    LOGGER.propagate = False


def log_event(event: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log {"ts", "level", "event", **fields} as one JSON line."""
    if not LOGGER.isEnabledFor(level):
        return
    record = {
        "ts": round(time.time(), 3),
        "level": logging.getLevelName(level).lower(),
        "event": event,
        **fields,
    }
    LOGGER.log(level, json.dumps(record, default=str))


def log_job(job) -> None:
    """A queue listener: one line per finished job (or failed attempt), with its id."""
    latency = (job.finished or time.time()) - job.created
    log_event(
        "job",
        id=job.id,
        model=job.model,
        version=job.version,
        alias=job.alias,
        shadow=job.shadow,
        n=job.request.n,
        sampler=job.request.sampler,
        steps=job.request.steps,
        status=job.status,
        latency_s=round(latency, 4),
        error=job.error,
    )

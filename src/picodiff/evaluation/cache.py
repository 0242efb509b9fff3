"""Where evaluation keeps what it computes once: $PICODIFF_CACHE, else $XDG_CACHE_HOME/picodiff,
else ~/.cache/picodiff."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save

from ..atomic import write_bytes


def cache_dir() -> Path:
    if os.environ.get("PICODIFF_CACHE"):
        return Path(os.environ["PICODIFF_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "picodiff"


def save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    """Write a safetensors file atomically (readers see the old file or the whole new one)."""
    write_bytes(path, save({k: v.contiguous() for k, v in tensors.items()}, metadata=metadata))


def load_tensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(tensors, metadata) of a safetensors file."""
    with safe_open(path, framework="pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, f.metadata() or {}  # noqa: SIM118


def digest(*parts: bytes | str) -> str:
    """A short sha256 hex digest of the given parts."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\0")
    return h.hexdigest()[:16]

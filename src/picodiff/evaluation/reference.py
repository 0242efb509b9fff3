"""Reference features of a dataset store's split, computed once and cached beside the store
(STORE/fid-cache/SPLIT-EXTRACTOR.safetensors; a read-only store caches in the user's cache
folder instead). The cache records what it was computed from: a rewritten store, another row
count or a changed extractor makes it recompute."""

from __future__ import annotations

import json
import re
from collections.abc import Generator
from pathlib import Path

import numpy as np
import torch

from ..data import ImageStore
from .cache import cache_dir, digest, load_tensors, save_tensors
from .extractor import FeatureExtractor
from .features import extract

CACHE_DIR = "fid-cache"
BATCH = 256


def store_fingerprint(store: ImageStore) -> str:
    """Changes when the store is rewritten: its dataset.json and its split file's size and time."""
    stat = store.file.stat()
    meta = json.dumps(store.meta, sort_keys=True)
    return digest(meta, str(stat.st_size), str(stat.st_mtime_ns))


def reference_features(
    store_path: str | Path,
    split: str,
    extractor: FeatureExtractor,
    limit: int | None = None,
    rows: np.ndarray | None = None,
) -> tuple[torch.Tensor, bool]:
    """(features [N, D] of the split's first `limit` rows, or of its first `limit` among
    `rows` (e.g. one class's), whether they came from the cache)."""
    steps = reference_feature_steps(store_path, split, extractor, limit, rows=rows)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


def reference_feature_steps(
    store_path: str | Path,
    split: str,
    extractor: FeatureExtractor,
    limit: int | None = None,
    chunk: int = BATCH,
    rows: np.ndarray | None = None,
) -> Generator[None, None, tuple[torch.Tensor, bool]]:
    """`reference_features` as a generator that yields after every `chunk` images it computes
    (nothing when they are cached), so it can run a little at a time. Rows of a split whose
    whole features are cached are taken from those."""
    store = ImageStore(store_path, split)
    if rows is not None:
        whole = _cached(store, split, extractor, len(store), {})
        if whole is not None:
            chosen = np.asarray(rows)[: len(rows) if limit is None else limit]
            return whole[torch.from_numpy(chosen)], True
    chosen = np.arange(len(store)) if rows is None else np.asarray(rows)
    chosen = chosen[: len(chosen) if limit is None else limit]
    n = len(chosen)
    subset = {} if rows is None else {"rows": digest(chosen.tobytes())}
    found = _cached(store, split, extractor, n, subset)
    if found is not None:
        return found, True
    parts = []
    for start in range(0, n, chunk):
        part = chosen[start : start + chunk]
        batch = store.array[start : start + len(part)] if rows is None else store.array[part]
        parts.append(extract(extractor, [batch]))
        yield
    features = torch.cat(parts)
    key, places = _cache_key(store, split, extractor, n, subset)
    for path in places:
        try:
            save_tensors(path, {"features": features}, key)
            break
        except OSError:
            continue
    return features, False


def _cache_key(store: ImageStore, split: str, extractor, n: int, subset: dict):
    """What a cache file must record to hold these features, and where it may be."""
    key = {
        "store": store_fingerprint(store),
        "split": split,
        "n": str(n),
        "extractor": extractor.name,
        "extractor_fingerprint": extractor.fingerprint(),
        **subset,
    }
    return key, cache_paths(store.path, split, extractor.name, subset.get("rows"))


def _cached(store: ImageStore, split: str, extractor, n: int, subset: dict) -> torch.Tensor | None:
    key, places = _cache_key(store, split, extractor, n, subset)
    for path in places:
        if path.exists():
            tensors, metadata = load_tensors(path)
            if metadata == key:
                return tensors["features"]
    return None


def cache_paths(
    store_path: Path, split: str, extractor_name: str, subset: str | None = None
) -> list[Path]:
    """Beside the store first, then the user's cache folder (for a read-only store); a
    subset of rows has its own file."""
    part = f"-{subset[:12]}" if subset else ""
    name = f"{split}{part}-{re.sub(r'[^A-Za-z0-9_.-]+', '_', extractor_name)}.safetensors"
    fallback = cache_dir() / "fid-reference" / digest(str(store_path.resolve()))
    return [store_path / CACHE_DIR / name, fallback / name]

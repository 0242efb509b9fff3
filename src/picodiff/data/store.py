"""The dataset store: images at one resolution as memory-mappable uint8 arrays.

    DIR/
      dataset.json        format, size, channels, per-split counts, mean/std, provenance
      train.npy           uint8 [N, H, W, C] (NumPy .npy, so np.load(..., mmap_mode="r") works)
      train.index.jsonl   one JSON object per row: where that image came from
      val.npy, val.index.jsonl

A store is written under a temporary name and renamed when complete, so an interrupted run never
leaves a directory that looks valid.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..atomic import make_temp_dir, replace_dir
from ..errors import DiskFull, UserError

FORMAT = "picodiff-store"
META_FILE = "dataset.json"
SPLITS = ("train", "val")
_HEADER_BYTES = 256  # room reserved for the .npy header, filled in when the row count is known
_LEVELS = np.arange(256) / 255.0  # uint8 value -> [0, 1]


class StoreError(UserError, ValueError):
    """A path is not a complete, valid dataset store."""


def read_meta(path: Path) -> dict[str, Any]:
    """dataset.json of a store, checked; a StoreError says what is wrong otherwise."""
    if not path.is_dir():
        raise StoreError(f"{path}: no such dataset store (run 'picodiff prepare' to make one)")
    try:
        meta = json.loads((path / META_FILE).read_text())
    except FileNotFoundError:
        raise StoreError(
            f"{path}: not a dataset store (no {META_FILE}); an interrupted 'picodiff prepare' "
            "leaves none, so run it again"
        ) from None
    except json.JSONDecodeError as err:
        raise StoreError(f"{path / META_FILE}: invalid JSON ({err})") from None
    missing = [k for k in ("size", "channels", "splits") if k not in meta]
    if meta.get("format") != FORMAT or missing:
        raise StoreError(f"{path / META_FILE}: not a picodiff dataset store (missing {missing})")
    return meta


class ArrayWriter:
    """Appends uint8 rows [H, W, C] to a .npy file whose length is only known at the end."""

    def __init__(self, file: Path, row_shape: tuple[int, int, int]):
        self.file, self.row_shape, self.count = file, row_shape, 0
        self._handle = open(file, "wb")  # noqa: SIM115 - closed in close()
        self._handle.write(b"\0" * _HEADER_BYTES)

    def append(self, row: np.ndarray) -> None:
        if row.shape != self.row_shape or row.dtype != np.uint8:
            raise ValueError(f"row {row.dtype} {row.shape} != uint8 {self.row_shape}")
        self._handle.write(np.ascontiguousarray(row).tobytes())
        self.count += 1

    def close(self) -> None:
        header = {"descr": "|u1", "fortran_order": False, "shape": (self.count, *self.row_shape)}
        text = repr(header).encode("latin1")
        pad = _HEADER_BYTES - 10 - len(text) - 1
        self._handle.seek(0)
        self._handle.write(b"\x93NUMPY\x01\x00")
        self._handle.write((_HEADER_BYTES - 10).to_bytes(2, "little"))
        self._handle.write(text + b" " * pad + b"\n")
        self._handle.close()


class StoreWriter:
    """Builds a store in a temporary directory beside `path`; `commit` moves it into place.

    with StoreWriter(out, size=64, channels=3) as writer:
        writer.add("train", image_uint8_hwc, {"source": "cat.jpg"})
        writer.commit({"source": "folder", ...})
    Leaving the block without commit() (an error, Ctrl-C) deletes the temporary directory.
    """

    def __init__(self, path: str | os.PathLike, size: int, channels: int):
        self.path, self.size, self.channels = Path(path), size, channels
        self.tmp = make_temp_dir(self.path)
        row = (size, size, channels)
        self._arrays = {s: ArrayWriter(self.tmp / f"{s}.npy", row) for s in SPLITS}
        self._index = {s: open(self.tmp / f"{s}.index.jsonl", "w") for s in SPLITS}  # noqa: SIM115
        self._sum = np.zeros(channels)
        self._sum_sq = np.zeros(channels)
        self._committed = False

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(self, kind, err, trace) -> None:
        if not self._committed:
            with contextlib.suppress(OSError, ValueError):  # a full disk fails the flush
                self._close()
            shutil.rmtree(self.tmp, ignore_errors=True)
        if err is not None:
            DiskFull.check(err, self.path)

    def add(self, split: str, image: np.ndarray, provenance: dict[str, Any]) -> None:
        """Append one uint8 [H, W, C] image to `split` with a line saying where it came from."""
        self._arrays[split].append(image)
        self._index[split].write(json.dumps(provenance) + "\n")
        # per-channel histograms: 6x faster than float reductions (the writer runs once per row)
        pixels = image.reshape(-1, self.channels)
        counts = np.stack([np.bincount(pixels[:, c], minlength=256) for c in range(self.channels)])
        self._sum += counts @ _LEVELS / len(pixels)
        self._sum_sq += counts @ _LEVELS**2 / len(pixels)

    def counts(self) -> dict[str, int]:
        return {s: w.count for s, w in self._arrays.items()}

    def commit(self, info: dict[str, Any]) -> Path:
        """Finish the arrays, write dataset.json, and replace `path` with the new store."""
        self._close()
        total = max(sum(self.counts().values()), 1)
        mean = self._sum / total
        std = np.sqrt(np.maximum(self._sum_sq / total - mean**2, 0.0))
        meta = {
            "format": FORMAT,
            "picodiff_version": __version__,
            "size": self.size,
            "channels": self.channels,
            "splits": {
                s: {"file": f"{s}.npy", "index": f"{s}.index.jsonl", "count": n}
                for s, n in self.counts().items()
            },
            "mean": mean.round(6).tolist(),
            "std": std.round(6).tolist(),
            **info,
        }
        (self.tmp / META_FILE).write_text(json.dumps(meta, indent=2))
        replace_dir(self.tmp, self.path)
        self._committed = True
        return self.path

    def _close(self) -> None:
        for split in SPLITS:
            if not self._index[split].closed:
                try:
                    self._arrays[split].close()
                finally:
                    self._index[split].close()

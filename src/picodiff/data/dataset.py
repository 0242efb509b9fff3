"""ImageStore: one split of a dataset store as a torch Dataset of float images in [-1, 1]."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from .store import StoreError, read_meta


class ImageStore(Dataset):
    """A torch Dataset over one split of a store: float tensors [C, H, W] in [-1, 1].

    Random access is O(1) through a memory map opened lazily in each process, so it is safe
    with DataLoader workers. (Augmentations such as flips belong to the trainer, which draws
    them from each step's generator.)
    """

    def __init__(self, path: str | os.PathLike, split: str = "train"):
        self.path = Path(path)
        self.meta = read_meta(self.path)
        if split not in self.meta["splits"]:
            raise StoreError(
                f"{self.path}: no split {split!r}; it has {sorted(self.meta['splits'])}"
            )
        self.split = split
        self.file = self.path / self.meta["splits"][split]["file"]
        self._array: np.ndarray | None = None
        expected = (self.meta["splits"][split]["count"], self.size, self.size, self.channels)
        if tuple(self.array.shape) != expected or self.array.dtype != np.uint8:
            raise StoreError(
                f"{self.file}: holds {self.array.dtype} {tuple(self.array.shape)}, "
                f"dataset.json says uint8 {expected}"
            )

    @property
    def size(self) -> int:
        return int(self.meta["size"])

    @property
    def channels(self) -> int:
        return int(self.meta["channels"])

    @property
    def array(self) -> np.ndarray:
        """The uint8 [N, H, W, C] memory map (opened on first use in each process)."""
        if self._array is None:
            try:
                self._array = np.load(self.file, mmap_mode="r")
            except (OSError, ValueError) as err:
                raise StoreError(f"{self.file}: unreadable array ({err})") from None
        return self._array

    def __len__(self) -> int:
        return int(self.array.shape[0])

    def index_rows(self) -> list[dict[str, Any]]:
        """The split's index (`SPLIT.index.jsonl`): one object per image, in order."""
        index = self.path / self.meta["splits"][self.split].get("index", "")
        try:
            rows = [json.loads(line) for line in index.read_text().splitlines() if line.strip()]
        except (OSError, ValueError) as err:
            raise StoreError(f"{index}: cannot read the store's index ({err})") from None
        if len(rows) != len(self):
            raise StoreError(f"{index}: {len(rows)} rows for {len(self)} images")
        return rows

    def first_field(self, rows: list[dict[str, Any]], names: tuple[str, ...], hint: str) -> str:
        """The first of `names` the index rows carry (StoreError with `hint` if none)."""
        found = [name for name in names if rows and name in rows[0]]
        if not found:
            raise StoreError(f"{self.path}: its index has none of the fields {list(names)}; {hint}")
        return found[0]

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.batch([index])[0]

    def batch(self, indices) -> torch.Tensor:
        """Rows `indices` as one float tensor [B, C, H, W] in [-1, 1] (one memory-map read)."""
        images = torch.from_numpy(np.ascontiguousarray(self.array[np.asarray(indices)]))
        return images.permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)

    def __getstate__(self) -> dict[str, Any]:  # never pickle the memory map into workers
        return {**self.__dict__, "_array": None}

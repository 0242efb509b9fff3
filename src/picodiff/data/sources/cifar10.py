"""CIFAR-10, "python version": a directory with data_batch_1..5 and test_batch (as extracted from
cifar-10-python.tar.gz, or its parent holding cifar-10-batches-py/).

Each batch is a pickle of a dict {b"data": uint8 [N, 3072] (R, G, B planes of 32x32),
b"labels": [N ints], ...}. Pickles can run code, so they are opened only under these exact file
names and through `SafeUnpickler`, which rebuilds NumPy arrays and refuses every other global:
a tampered file fails with an error instead of executing anything. test_batch is the val split
unless the official split is ignored.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ...errors import UserError
from .base import Item, Source

TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
_ALLOWED_GLOBALS = {
    (module, name)
    for module in ("numpy.core.multiarray", "numpy._core.multiarray")
    for name in ("_reconstruct", "scalar")
} | {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}  # encode: protocol-2 bytes


class SafeUnpickler(pickle.Unpickler):
    """Unpickles plain data and NumPy arrays only."""

    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: not array data")


def load_batch(path: Path) -> tuple[np.ndarray, list[int]]:
    """uint8 [N, 32, 32, 3] images and their labels from one CIFAR-10 batch file."""
    try:
        with open(path, "rb") as f:
            batch = SafeUnpickler(f, encoding="bytes").load()
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = [int(label) for label in batch[b"labels"]]
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as err:
        raise UserError(f"{path}: not a CIFAR-10 python batch ({err})") from None
    if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise UserError(f"{path}: data is {data.shape}, expected [N, 3072] with N labels")
    if any(not 0 <= label < len(CLASSES) for label in labels):
        raise UserError(f"{path}: labels outside 0..{len(CLASSES) - 1}")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def find_batches_dir(root: Path) -> Path:
    """`root` or its cifar-10-batches-py/ child, whichever holds the batch files."""
    for candidate in (root, root / "cifar-10-batches-py"):
        if (candidate / TRAIN_FILES[0]).is_file():
            return candidate
    raise UserError(f"{root}: no {TRAIN_FILES[0]} (expected the extracted cifar-10-batches-py/)")


class Cifar10Source(Source):
    name = "cifar10"

    def __init__(self, root: str | Path, official_split: bool = True):
        self.dir = find_batches_dir(Path(root))
        missing = [n for n in (*TRAIN_FILES, TEST_FILE) if not (self.dir / n).is_file()]
        if missing:
            raise UserError(f"{self.dir}: missing {', '.join(missing)}")
        self.official_split = official_split

    def candidates(self) -> Iterator[Item]:
        for name in (*TRAIN_FILES, TEST_FILE):
            split = ("val" if name == TEST_FILE else "train") if self.official_split else None
            images, labels = load_batch(self.dir / name)
            for row, (image, label) in enumerate(zip(images, labels)):
                provenance = {"source": name, "row": row, "label": label, "class": CLASSES[label]}
                yield Item(key=f"{name}:{row}", provenance=provenance, pixels=image, split=split)

    def describe(self) -> dict:
        return {"classes": list(CLASSES), "official_split": self.official_split}

"""MNIST-format IDX files: a directory with train- and t10k- images (idx3) and labels (idx1),
gzipped or not (Fashion-MNIST, MNIST, KMNIST...). The word `fashion-mnist` names Debian's copy,
`apt-get install dataset-fashion-mnist` (/usr/share/datasets/fashion-mnist).

An IDX file is a 4-byte magic number (two zero bytes, a type code, 0x08 for unsigned bytes, and
the number of dimensions), one big-endian 4-byte size per dimension, then the values. Each row's
label and class name go into the store's index; t10k is the val split unless the official split
is ignored.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ...errors import UserError
from .base import Item, Source

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
SOURCE_NAME = "fashion-mnist"  # the word that names Debian's Fashion-MNIST
FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
FASHION_LICENCE = {
    "name": "Fashion-MNIST",
    "license": "MIT",
    "attribution": "Fashion-MNIST by Zalando Research (Xiao, Rasul and Vollgraf 2017), MIT licence",
}
SPLITS = {"train": "train", "t10k": "val"}
UNSIGNED_BYTE = 0x08


def idx_file(root: Path, split: str, kind: str) -> Path:
    """The file of `split` (train / t10k) and `kind` (images / labels), gzipped or not."""
    dims = "idx3" if kind == "images" else "idx1"
    names = [f"{split}-{kind}-{dims}-ubyte", f"{split}-{kind}.{dims}-ubyte"]
    for name in names:
        for candidate in (root / name, root / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    raise UserError(f"{root}: no {names[0]} (or .gz): not an MNIST-format IDX directory")


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """The uint8 array an IDX file holds, checked: magic, dimensions, length."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as err:  # a damaged .gz
        raise UserError(f"{path}: unreadable ({err})") from None
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] != UNSIGNED_BYTE or data[3] != ndim:
        raise UserError(
            f"{path}: not an IDX file of unsigned bytes with {ndim} dimension(s) "
            f"(magic {data[:4].hex() or 'missing'}, expected 000008{ndim:02x})"
        )
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape))
    if len(data) != expected:
        raise UserError(
            f"{path}: truncated or padded: {len(data):,} bytes, the header {shape} needs "
            f"{expected:,}"
        )
    return np.frombuffer(data, np.uint8, offset=header).reshape(shape)


def resolve_root(source: str) -> Path:
    """The directory SOURCE names (the word fashion-mnist: Debian's copy)."""
    if source != SOURCE_NAME:
        return Path(source)
    if not DEBIAN_FASHION_MNIST.is_dir():
        raise UserError(
            f"{DEBIAN_FASHION_MNIST} does not exist: apt-get install dataset-fashion-mnist "
            "(or give the directory that holds the four IDX files)"
        )
    return DEBIAN_FASHION_MNIST


def is_idx_dir(path: Path) -> bool:
    try:
        idx_file(path, "train", "images")
    except UserError:
        return False
    return True


class IdxSource(Source):
    name = "idx"
    default_channels = 1

    def __init__(self, source: str, official_split: bool = True, classes=None):
        self.root = resolve_root(source)
        self.official_split = official_split
        self.fashion = "fashion" in str(self.root).lower()
        self.classes = tuple(classes) if classes else (FASHION_CLASSES if self.fashion else None)
        self.files = {
            (split, kind): idx_file(self.root, split, kind)
            for split in SPLITS
            for kind in ("images", "labels")
        }

    def load(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """uint8 images [N, H, W] and labels [N] of `split` (train / t10k), checked."""
        images = read_idx(self.files[split, "images"], 3)
        labels = read_idx(self.files[split, "labels"], 1)
        if len(images) != len(labels):
            raise UserError(
                f"{self.root}: {split} has {len(images):,} images but {len(labels):,} labels"
            )
        if self.classes is not None and labels.size and int(labels.max()) >= len(self.classes):
            raise UserError(
                f"{self.files[split, 'labels']}: label {int(labels.max())} but only "
                f"{len(self.classes)} class names"
            )
        return images, labels

    def candidates(self) -> Iterator[Item]:
        for split, store_split in SPLITS.items():
            images, labels = self.load(split)
            for row, (image, label) in enumerate(zip(images, labels)):
                label = int(label)
                provenance = {"source": f"{split}:{row}", "row": row, "label": label}
                provenance["class"] = self.classes[label] if self.classes else str(label)
                yield Item(
                    key=f"{split}:{row}",
                    provenance=provenance,
                    pixels=image,
                    split=store_split if self.official_split else None,
                )

    def describe(self) -> dict:
        classes = list(self.classes) if self.classes else None
        return {"root": str(self.root), "classes": classes, "official_split": self.official_split}

    def licences(self) -> list[dict]:
        return [FASHION_LICENCE] if self.fashion else []

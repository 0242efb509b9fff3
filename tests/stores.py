"""Small dataset stores generated for tests: soft discs of random colour on a plain field."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from picodiff.data import StoreWriter


def disc_images(count: int, size: int, channels: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    images = np.empty((count, size, size, channels), np.uint8)
    for i in range(count):
        cy, cx, r = rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7), rng.uniform(0.15, 0.3)
        inside = 1 / (1 + np.exp(((yy - cy) ** 2 + (xx - cx) ** 2 - r**2) * 200))
        colour = rng.uniform(0, 255, channels)
        images[i] = (inside[..., None] * colour + (1 - inside[..., None]) * 20).astype(np.uint8)
    return images


def make_disc_store(path: Path, train=64, val=16, size=16, channels=3, seed=0, named=False) -> Path:
    """Discs of random colours; `named`: each row also has a `name` (a text to learn)."""
    with StoreWriter(path, size=size, channels=channels) as writer:
        for split, count in (("train", train), ("val", val)):
            for i, image in enumerate(disc_images(count, size, channels, seed + len(split))):
                row = {"source": f"disc-{split}-{i}"}
                row |= {"name": f"disc number {i % 4}"} if named else {}
                writer.add(split, image, row)
        writer.commit({"source": "generated discs"})
    return path

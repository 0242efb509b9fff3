"""What every source hands the pipeline: a stream of `Item`s, one per candidate image."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..images import Rejected


@dataclass
class Item:
    """One candidate image: where its pixels are and what the index should say about it.

    key identifies the image for de-duplication and the val split; exactly one of path,
    data (an image file's bytes, e.g. from inside an archive), pixels or rejected is set once
    the source has resolved it. split is set only by sources with an official split (CIFAR-10
    test_batch, CelebA partitions, IDX t10k).
    """

    key: str
    provenance: dict[str, Any]
    path: str | None = None
    data: bytes | None = field(default=None, repr=False)
    pixels: np.ndarray | None = None
    rejected: Rejected | None = None
    split: str | None = None
    url: str | None = field(default=None, repr=False)


class Source:
    """A collection of images. Subclasses implement `candidates`; `resolve` may fetch files."""

    name = "source"
    default_channels = 3

    def candidates(self) -> Iterator[Item]:
        """Every image the source lists, in a fixed order (cheap: no pixels decoded)."""
        raise NotImplementedError

    def resolve(self, items: Iterator[Item]) -> Iterator[Item]:
        """Items with `path`, `pixels` or `rejected` filled in, in the same order."""
        return items

    def describe(self) -> dict[str, Any]:
        """Source-specific facts for dataset.json (filters, label names...)."""
        return {}

    def licences(self) -> list[dict[str, Any]]:
        """The licence and attribution of what the source holds ({name, license, attribution}),
        recorded in dataset.json and shown by `picodiff info`; [] when unknown."""
        return []

    def warnings(self) -> list[str]:
        """Things the user should hear about once the run is over."""
        return []

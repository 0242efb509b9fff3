"""scikit-learn's handwritten digits (`sklearn.datasets.load_digits`): 1,797 real 8x8 grayscale
scans with values 0..16, shipped inside scikit-learn (nothing is downloaded). Values are scaled
to 0..255 and upscaled with the same Lanczos filter as every other source (smooth strokes, no
8x8 blocks). Each index row records the digit as "label". SOURCE is the word `digits`.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ...errors import UserError
from .base import Item, Source

SOURCE_NAME = "digits"


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """uint8 [1797, 8, 8] images in 0..255 and int labels."""
    try:
        from sklearn.datasets import load_digits as sklearn_load_digits
    except ImportError:
        raise UserError(
            "the digits source needs scikit-learn: pip install 'picodiff[digits]'"
        ) from None
    digits = sklearn_load_digits()
    images = np.clip(np.round(digits.images * (255 / 16)), 0, 255).astype(np.uint8)
    return images, digits.target.astype(int)


class DigitsSource(Source):
    name = "digits"
    default_channels = 1

    def __init__(self, source: str = SOURCE_NAME):
        if source != SOURCE_NAME:
            raise UserError(f"the digits format takes SOURCE 'digits', not {source!r}")
        self.images, self.labels = load_digits()

    def candidates(self) -> Iterator[Item]:
        for index, (image, label) in enumerate(zip(self.images, self.labels)):
            provenance = {"source": "sklearn digits", "index": index, "label": int(label)}
            yield Item(key=f"digits:{index}", provenance=provenance, pixels=image)

    def describe(self) -> dict:
        return {"classes": [str(d) for d in range(10)]}

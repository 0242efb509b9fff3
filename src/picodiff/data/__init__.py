"""Datasets: image sources -> `picodiff prepare` -> a store of uint8 arrays -> ImageStore.

ImageStore (a torch Dataset) is imported on first use, so preparing data never loads torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .store import StoreError, StoreWriter, read_meta

if TYPE_CHECKING:
    from .dataset import ImageStore

__all__ = ["ImageStore", "StoreError", "StoreWriter", "read_meta"]


def __getattr__(name: str) -> Any:
    if name == "ImageStore":
        from .dataset import ImageStore

        return ImageStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""Datasets: image sources -> `picodiff prepare` -> a store of uint8 arrays -> ImageStore."""

from .store import ImageStore, StoreError, StoreWriter, read_meta

__all__ = ["ImageStore", "StoreError", "StoreWriter", "read_meta"]

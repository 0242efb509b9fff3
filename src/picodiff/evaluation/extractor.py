"""The interface of a feature extractor for FID / KID: uint8 images [B, C, H, W] -> [B, D]."""

from __future__ import annotations

from torch import nn


class FeatureExtractor(nn.Module):
    """Base class: `name`, and a `fingerprint` that changes whenever the features would.
    `protocol` names how images are resized for the network, where that is a choice."""

    name: str = "features"
    protocol: str | None = None

    def fingerprint(self) -> str:
        raise NotImplementedError

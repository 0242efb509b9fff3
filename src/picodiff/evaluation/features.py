"""Feature extractors for FID / KID: uint8 images [B, C, H, W] -> float features [B, D].

`--features` names one: "inception" (the standard FID network, optional extra picodiff[fid], resized
to 299 by an explicit protocol),
"digits" (a small classifier trained on scikit-learn's digits) or "MODULE:CALLABLE", any
importable callable taking such a uint8 batch and returning features.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import torch

from ..errors import UserError
from .cache import digest
from .extractor import FeatureExtractor

BUILTIN = ("inception", "digits")


class CallableFeatures(FeatureExtractor):
    """Wraps a user's `MODULE:CALLABLE` (its module's source is part of the fingerprint)."""

    def __init__(self, spec: str):
        super().__init__()
        self.name, self.fn = spec, import_callable(spec)
        source = _source_file(self.fn)
        self._source_digest = digest(source.read_bytes()) if source else "no-source"

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = torch.as_tensor(self.fn(images))
        if features.ndim != 2 or len(features) != len(images):
            raise UserError(
                f"--features {self.name} returned shape {tuple(features.shape)}; "
                f"expected [{len(images)}, D] for {len(images)} images"
            )
        return features.float()

    def fingerprint(self) -> str:
        return digest(self.name, self._source_digest)


def load_extractor(
    spec: str, inception_weights: Path | None = None, protocol: str | None = None
) -> FeatureExtractor:
    """The extractor `--features` names (see the module docstring); `protocol` (the resize to
    299: clean, default, or tf1-bilinear) applies to inception only."""
    if spec == "inception":
        from .inception import InceptionFeatures

        return InceptionFeatures(inception_weights, protocol or "clean")  # type: ignore[arg-type]
    if protocol is not None:
        raise UserError(f"--protocol applies to --features inception, not {spec}")
    if spec == "digits":
        from .digits import load_digits_classifier

        return load_digits_classifier()
    if ":" in spec:
        return CallableFeatures(spec)
    raise UserError(f"--features {spec!r}: use one of {BUILTIN} or MODULE:CALLABLE")


def import_callable(spec: str) -> Callable:
    module_name, _, attribute = spec.partition(":")
    try:
        target = importlib.import_module(module_name)
    except ImportError as err:
        raise UserError(f"--features {spec}: cannot import {module_name} ({err})") from None
    for part in attribute.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise UserError(f"--features {spec}: {module_name} has no {attribute}")
    if not callable(target):
        raise UserError(f"--features {spec}: {attribute} is not callable")
    return target


def extract(extractor: FeatureExtractor, batches: Iterable[np.ndarray], chunk: int = 64):
    """Features [N, D] (float64) of uint8 image batches [b, H, W, C]."""
    features = []
    with torch.inference_mode():
        for batch in batches:
            images = torch.from_numpy(np.array(batch)).permute(0, 3, 1, 2)  # a writable copy
            features += [extractor(part).double().cpu() for part in images.split(chunk)]
    if not features:
        raise UserError("no images to compute features of")
    return torch.cat(features)


def _source_file(fn: Callable) -> Path | None:
    """The file defining a function, or an object's class; None for built-ins."""
    for obj in (inspect.unwrap(fn), type(fn)):
        try:
            source = inspect.getsourcefile(obj)
        except TypeError:
            continue
        if source:
            return Path(source)
    return None

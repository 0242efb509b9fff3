"""Evaluation: FID / KID with pluggable feature extractors, cached reference features, and
side-by-side model reports."""

from .extractor import FeatureExtractor
from .features import extract, load_extractor
from .fid import fid_kid
from .reference import reference_features
from .samples import DrawnFeatures, checkpoint_features, folder_features

__all__ = [
    "DrawnFeatures",
    "FeatureExtractor",
    "checkpoint_features",
    "extract",
    "fid_kid",
    "folder_features",
    "load_extractor",
    "reference_features",
]

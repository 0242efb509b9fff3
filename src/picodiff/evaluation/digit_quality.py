"""Does a digits model draw real digits? Measured with the digits classifier:

- recognised: the share of images it classifies with probability >= 0.9;
- spread: how the confident images divide over the ten classes (counts, and their entropy
  divided by log 10: 1.0 means perfectly balanced, 0.0 a single digit);
- FID / KID with the classifier's features against held-out real digits.

The same figures for real images (the floor) come from the same function.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .digits import load_digits_classifier
from .features import extract
from .fid import fid_kid

CONFIDENCE = 0.9


def recognition(images: np.ndarray, classifier=None) -> dict:
    """Recognised share and class spread of uint8 [N, H, W, C] images."""
    classifier = classifier or load_digits_classifier()
    with torch.no_grad():
        probs = classifier.probabilities(torch.tensor(images).permute(0, 3, 1, 2))
    confidence, label = probs.max(dim=1)
    confident = label[confidence >= CONFIDENCE]
    counts = torch.bincount(confident, minlength=10).tolist()
    shares = [c / max(len(confident), 1) for c in counts]
    entropy = -sum(p * math.log(p) for p in shares if p > 0)
    return {
        "recognised": len(confident) / len(images),
        "class_counts": counts,
        "class_balance": entropy / math.log(10),
    }


def digit_quality(images: np.ndarray, reference: np.ndarray) -> dict:
    """recognition(images) plus FID/KID (digits features) of images against `reference`."""
    classifier = load_digits_classifier()
    features = [extract(classifier, [batch]) for batch in (reference, images)]
    return {**recognition(images, classifier), **fid_kid(*features), "n": len(images)}

"""FID and KID between two feature sets, with torchmetrics' implementations
(FrechetInceptionDistance, Heusel et al. 2017; KernelInceptionDistance, Binkowski et al. 2018).

Features are computed once (and the reference ones cached), then handed to the metrics through
an identity "feature extractor", so any extractor works and nothing is computed twice.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance

from ..errors import UserError

KID_SUBSETS, KID_SUBSET_SIZE = 100, 1000


class Precomputed(nn.Module):
    """Hands features through unchanged; torchmetrics reads `num_features`."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features


def fid_kid(real: torch.Tensor, fake: torch.Tensor, seed: int = 0) -> dict[str, float]:
    """{"fid", "kid", "kid_std"} of fake vs real features [N, D] (float64 for precision).

    KID averages the unbiased MMD^2 over 100 random subsets of min(1000, N_real, N_fake)
    images, drawn with `seed`, and reports their standard deviation.
    """
    if len(real) < 2 or len(fake) < 2 or real.shape[1] != fake.shape[1]:
        raise UserError(
            f"FID needs at least 2 images on each side with the same features, got "
            f"{tuple(real.shape)} reference and {tuple(fake.shape)} sample features"
        )
    real, fake = real.double(), fake.double()
    subset = min(KID_SUBSET_SIZE, len(real), len(fake))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchmetrics' note that KID keeps all features
        fid = FrechetInceptionDistance(feature=Precomputed(real.shape[1]))
        kid = KernelInceptionDistance(
            feature=Precomputed(real.shape[1]), subsets=KID_SUBSETS, subset_size=subset
        )
        for metric in (fid, kid):
            metric.update(real, real=True)
            metric.update(fake, real=False)
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            kid_mean, kid_std = kid.compute()
        return {"fid": float(fid.compute()), "kid": float(kid_mean), "kid_std": float(kid_std)}

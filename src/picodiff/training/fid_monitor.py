"""FID during training: every `fid_every` steps, `fid_n` images from the EMA weights (fixed seed,
the sample grids' sampler) against a split of the training store, with any feature extractor;
the reference features are computed once and cached with the store."""

from __future__ import annotations

import time

import numpy as np

from ..checkpoint import Checkpoint
from ..diffusion import SamplerSettings
from ..errors import UserError
from ..evaluation import fid_kid, load_extractor, reference_features
from ..evaluation.features import extract
from ..sampling import sample_batches
from .config import TrainConfig


class FidMonitor:
    """Loads the extractor and the reference features at once (a missing network or split is
    refused before training starts), then measures checkpoints."""

    def __init__(self, cfg: TrainConfig, channels: int):
        self.cfg = cfg
        self.extractor = load_extractor(cfg.fid_features, None, cfg.fid_protocol)
        try:
            self.real, _ = reference_features(cfg.data, cfg.fid_split, self.extractor)
        except UserError as err:
            raise UserError(f"fid_split {cfg.fid_split!r}: {err}") from None
        self.channels = channels

    def measure(self, ema: Checkpoint) -> dict:
        """FID and KID of `fid_n` images of the EMA weights, with what they were measured on."""
        cfg = self.cfg
        settings = SamplerSettings(cfg.sample_method, cfg.sample_steps)  # type: ignore[arg-type]
        started = time.perf_counter()
        batches = sample_batches(ema, range(cfg.fid_n), settings, seed=cfg.seed, batch_size=64)
        images = np.concatenate([pixels for _, pixels in batches])
        seconds = time.perf_counter() - started
        metrics = fid_kid(self.real, extract(self.extractor, [images]))
        return {
            **metrics,
            "fid_n": cfg.fid_n,
            "fid_reference": f"{cfg.fid_split} ({len(self.real)} images)",
            "fid_features": self.extractor.name,
            "fid_protocol": self.extractor.protocol,
            "fid_sampling_s": round(seconds, 2),
        }

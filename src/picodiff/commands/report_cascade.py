"""`picodiff report --cascade BASE SR ...`: the cascade's output beside its base model's output
upsampled bicubically to the same size, so the report shows what the super-resolution stages
add (Ho et al. 2021 compare the same way)."""

from __future__ import annotations

import argparse

import torch.nn.functional as F

from ..evaluation import fid_kid
from ..evaluation.features import extract
from ..evaluation.report import ModelResult, model_result
from ..pixels import to_uint8
from .sample_cascade import build_cascade


def evaluate_cascade(args: argparse.Namespace, extractor, real, device) -> list[ModelResult]:
    """Two rows: the cascade's final images, and the base's images upsampled bicubically."""
    cascade = build_cascade(args, device)
    size = cascade.stages[-1].checkpoint.config.image_size
    final, bicubic, seconds = [], [], []
    for start in range(0, args.n, args.batch_size):
        rows = [(args.seed, i) for i in range(start, min(start + args.batch_size, args.n))]
        outputs = cascade.sample_rows(rows, seconds=seconds)
        final.append(to_uint8(outputs[-1]))
        upsampled = F.interpolate(outputs[0], size=(size, size), mode="bicubic")
        bicubic.append(to_uint8(upsampled.clamp(-1, 1)))
    names, stages = [s.name for s in cascade.stages], len(cascade.stages)
    base_seconds = sum(seconds[::stages])
    return [
        _result(
            f"cascade ({stages} stages)",
            " + ".join(names),
            cascade.stages[-1],
            final,
            extractor,
            real,
            sum(seconds) / args.n,
            args.grid_n,
        ),
        _result(
            "base + bicubic",
            names[0],
            cascade.stages[0],
            bicubic,
            extractor,
            real,
            base_seconds / args.n,
            args.grid_n,
        ),
    ]


def _result(name, path, stage, batches, extractor, real, seconds, grid_n) -> ModelResult:
    metrics = fid_kid(real, extract(extractor, batches))
    return model_result(name, path, stage.checkpoint, metrics, seconds, batches[0][:grid_n])

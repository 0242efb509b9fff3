"""Measure FID and KID of samples against a dataset store's split; print them and write JSON.

Examples:
    picodiff fid --samples samples/pico --ref stores/pico-64 \\
        --inception-weights pt_inception-2015-12-05-6726825d.pth
    picodiff fid --samples runs/digits --ref stores/digits-32 --features digits --n 2000
    picodiff fid --samples samples/x --ref stores/x --features mypackage.features:clip_features

--samples is a folder of images (what 'picodiff sample' writes) or a checkpoint, run directory
or .pt/.pth to draw --n images from with the sampling options. Reference features are computed
once per store, split and extractor and cached in STORE/fid-cache/. FID depends on the number
of images: compare models at the same --n, --features and reference split.
"""

from __future__ import annotations

import argparse
import datetime
import json
from pathlib import Path

from .. import __version__
from ..atomic import write_text
from ..distributed import pick_device
from ..errors import UserError
from ..sampling import default_micro_batch, resolve_checkpoint_dir
from .evaluation_options import (
    add_reference_arguments,
    class_rows,
    load_reference,
    measured_on,
    open_reference_store,
)
from .sampling_options import (
    add_condition_arguments,
    add_sampler_arguments,
    condition_from,
    described,
    open_model,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--samples",
        required=True,
        type=Path,
        help="folder of images, or a checkpoint / run dir / .pt to draw from",
    )
    parser.add_argument(
        "--report",
        type=Path,
        help="JSON report (default: fid.json in the samples folder, else here)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_reference_arguments(parser)
    add_sampler_arguments(parser, default_n=10000)
    add_condition_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from ..evaluation import fid_kid

    store = open_reference_store(args, "fid")
    if (args.label or args.prompt) is not None and is_samples_folder(args.samples):
        raise UserError(
            "--label and --prompt apply to a checkpoint drawn on the fly, not a samples folder"
        )
    rows = class_rows(args, store, args.samples)
    extractor, real, cached = load_reference(args, rows)
    fake, samples = _sample_features(args, extractor, store.channels)
    metrics = fid_kid(real, fake)
    reference = {"store": str(args.ref), "split": args.split, "n": len(real), "cached": cached}
    if args.label is not None:
        reference["label"] = samples["label"]
    report = {
        **metrics,
        "features": {
            "name": extractor.name,
            "protocol": extractor.protocol,
            "fingerprint": extractor.fingerprint(),
            "dim": real.shape[1],
        },
        "reference": reference,
        "samples": {**samples, "n": len(fake)},
        "picodiff_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    path = args.report or (args.samples if samples["kind"] == "folder" else Path()) / "fid.json"
    write_text(path, json.dumps(report, indent=2) + "\n")
    scope = measured_on(len(fake), len(real), f"{args.ref} {args.split}", extractor)
    print(
        f"FID {metrics['fid']:.4f}  KID {metrics['kid']:.5f} ± {metrics['kid_std']:.5f}  "
        f"({scope})\nreport: {path}"
    )
    return 0


def is_samples_folder(path: Path) -> bool:
    """A folder that is neither a checkpoint nor a run directory."""
    try:
        resolve_checkpoint_dir(path)
    except UserError as err:
        if path.is_dir():
            return True
        raise UserError(f"--samples: {err}") from None
    return False


def _sample_features(args, extractor, channels: int):
    """(features, description) of --samples: a folder's images, or images drawn on the fly."""
    from ..evaluation import checkpoint_features, folder_features

    if is_samples_folder(args.samples):
        features = folder_features(extractor, args.samples, args.n, channels)
        return features, {"kind": "folder", "path": str(args.samples)}
    device = pick_device(args.device)
    checkpoint, settings = open_model(args, args.samples, device)
    condition = condition_from(args, checkpoint)
    if checkpoint.config.image_channels != channels:
        raise UserError(
            f"{args.samples} draws {checkpoint.config.image_channels}-channel "
            f"images, the reference store holds {channels}"
        )
    drawn = checkpoint_features(
        extractor,
        checkpoint,
        args.n,
        settings,
        seed=args.seed,
        batch_size=args.batch_size,
        micro_batch=args.micro_batch or default_micro_batch(device),
        progress=not args.quiet,
        **condition,
    )
    description = {
        "kind": "checkpoint",
        "path": str(checkpoint.path),
        "ema": not args.no_ema,
        **settings.describe(),
        "seed": args.seed,
        **described(checkpoint.conditioning, condition),
        "seconds_per_image": drawn.seconds / args.n,
    }
    return drawn.features, description

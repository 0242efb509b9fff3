"""Quality of a digits model (the bundled demo): recognised share, class spread and FID with
the digits classifier, next to the same figures for real digits (the floor).

    python bench/demo_quality.py runs/digits-demo/best --ref stores/digits-16 --n 1000
    python bench/demo_quality.py src/picodiff/bundled_models/digits-demo \\
        --ref stores/digits-16 --record      # also store the figures in its config.json

Generated images: image i of --seed drawn with dpmpp2m (20 steps). Reference: the store's
held-out val split. Floor: the same number of real training digits against that reference.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from quality import command_line, record_metadata  # bench/quality.py

from picodiff.checkpoint import load_checkpoint
from picodiff.data import ImageStore
from picodiff.evaluation.digit_quality import digit_quality
from picodiff.sampling import SamplerSettings, sample_batches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path, help="a digits checkpoint directory")
    parser.add_argument("--ref", type=Path, required=True, help="the digits store (val = held out)")
    parser.add_argument("--n", type=int, default=1000, help="generated images")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed")
    parser.add_argument("--steps", type=int, default=20, help="dpmpp2m steps")
    parser.add_argument("--record", action="store_true", help="write the figures to config.json")
    args = parser.parse_args()
    checkpoint = load_checkpoint(args.checkpoint)
    reference = ImageStore(args.ref, "val").array[:]
    train = ImageStore(args.ref, "train").array
    rows = np.random.default_rng(0).permutation(len(train))[: min(args.n, len(train))]
    settings = SamplerSettings("dpmpp2m", args.steps)
    drawn = sample_batches(
        checkpoint, range(args.n), settings, seed=args.seed, batch_size=64, micro_batch=4
    )
    images = np.concatenate([batch for _, batch in drawn])
    results = {
        "generated": digit_quality(images, reference),
        "real (floor)": digit_quality(train[np.sort(rows)], reference),
    }
    print(f"reference: {len(reference)} held-out real digits ({args.ref}, val)")
    print(f"{'':<14} {'n':>5} {'recognised':>10} {'balance':>8} {'FID':>8} {'KID':>8}  classes 0-9")
    for name, r in results.items():
        print(
            f"{name:<14} {r['n']:>5} {r['recognised']:>10.1%} {r['class_balance']:>8.3f} "
            f"{r['fid']:>8.2f} {r['kid']:>8.4f}  {r['class_counts']}"
        )
    if args.record:
        record(args, results)


def record(args: argparse.Namespace, results: dict) -> None:
    record_metadata(
        args.checkpoint,
        fid=round(results["generated"]["fid"], 3),
        fid_features="digits",
        quality={
            name: {k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()}
            for name, r in results.items()
        },
        quality_command=command_line(),
    )


if __name__ == "__main__":
    main()

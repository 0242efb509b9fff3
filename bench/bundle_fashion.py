"""Ship the quality race's picodiff model as the bundled `fashion-32`, with its quality recorded.

    python bench/bundle_fashion.py runs/race --store STORE --n 2000

Takes the last checkpoint of RACE/picodiff (`picodiff train --preset fashion-32 --max-minutes
M`, see bench/quality.py), keeps only what sampling needs (config.json and the EMA weights) and
writes it to src/picodiff/bundled_models/fashion-32 with, in its metadata: the commands that
reproduce it, the race's FID and KID of it against the 10,000 Fashion-MNIST test images
(standard Inception, clean protocol, n images, dpmpp2m 20 steps, seeds 0..n-1), the floor (n real
training images against the same reference), the race's peers' figures at the same budget, and
the data's licence.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np

from picodiff.checkpoint import CONFIG_FILE, EMA_FILE, read_spec
from picodiff.data import ImageStore
from picodiff.data.sources.idx import FASHION_LICENCE
from picodiff.evaluation import fid_kid, load_extractor, reference_features
from picodiff.evaluation.features import extract

BUNDLE = (
    Path(__file__).resolve().parent.parent / "src" / "picodiff" / "bundled_models" / "fashion-32"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("race", type=Path, help="bench/quality.py's --out folder")
    parser.add_argument("--store", required=True, help="the Fashion-MNIST 32 px store")
    parser.add_argument("--n", type=int, default=2000, help="images per FID")
    args = parser.parse_args()
    source = sorted((args.race / "picodiff" / "checkpoints").glob("step-*"))[-1]
    race = json.loads((args.race / "results.json").read_text())
    generated = race["picodiff"][-1]  # the race's final figure: dpmpp2m, seeds 0..n-1
    if generated["n"] != args.n:
        raise SystemExit(f"the race measured n = {generated['n']}, not {args.n}: rerun it")
    extractor = load_extractor("inception")
    real, _ = reference_features(args.store, "val", extractor)
    train = ImageStore(args.store, "train").array
    rows = np.sort(np.random.default_rng(0).choice(len(train), args.n, replace=False))
    floor = fid_kid(real, extract(extractor, [train[rows]]))
    measured = {"n": args.n, "reference": "Fashion-MNIST test (10,000)", "protocol": "clean"}
    quality = {
        "generated": {**generated, **measured, "sampler": "dpmpp2m, 20 steps, seeds 0..n-1"},
        "real training images (the floor)": {**floor, **measured},
        "diffusers, same data and budget": {**race["diffusers"][-1], **measured},
        "lucidrains, same data and budget": {**race["lucidrains"][-1], **measured},
    }
    write_bundle(source, read_spec(source).metadata, quality, generated["fid"])
    print(json.dumps(quality, indent=2))


def write_bundle(source: Path, metadata: dict, quality: dict, fid: float) -> None:
    config = json.loads((source / CONFIG_FILE).read_text())
    minutes = metadata["train_config"]["max_minutes"]
    metadata["train_config"]["data"] = "stores/fashion-32"  # as the reproduce commands name it
    config["metadata"] = {
        **metadata,
        "description": "Fashion-MNIST product photos, 32x32 grayscale, 10 classes",
        "weights": f"EMA (decay 0.999) after {minutes:g} minutes of training on a 2-core CPU",
        "reproduce": [
            "apt-get install dataset-fashion-mnist",
            "picodiff prepare fashion-mnist --out stores/fashion-32 --size 32",
            f"picodiff train --data stores/fashion-32 --out runs/fashion-32 --preset fashion-32 "
            f"--max-minutes {minutes:g}",
            "# bundled: the last checkpoint's config.json + ema.safetensors "
            "(python bench/bundle_fashion.py)",
        ],
        "fid": round(fid, 3),
        "fid_features": "inception (clean)",
        "quality": quality,
        "licences": [FASHION_LICENCE],
    }
    if BUNDLE.exists():
        shutil.rmtree(BUNDLE)
    BUNDLE.mkdir(parents=True)
    (BUNDLE / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
    shutil.copy(source / EMA_FILE, BUNDLE / EMA_FILE)


if __name__ == "__main__":
    main()

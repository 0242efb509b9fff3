"""Ship a fashion-32 run as the bundled `fashion-32`, with its quality recorded.

    python bench/bundle_fashion.py runs/fashion-32-class --store STORE --n 2000
    python bench/bundle_fashion.py runs/race/picodiff --store STORE --race runs/race

Takes the run's best checkpoint (its last when it has no best), keeps only what sampling needs
(config.json and the EMA weights) and writes it to src/picodiff/bundled_models/fashion-32 with,
in its metadata: the commands that reproduce it, its FID and KID against the 10,000
Fashion-MNIST test images (standard Inception, clean protocol, n images drawn with dpmpp2m in
20 steps, seeds 0..n-1; a class-conditional model's as its users draw them, image i of class
i mod 10 at its recorded default guidance: picodiff.models.conditioning.classes_in_turn), the
floor (n real training images against the same reference), the peers' figures (from --race,
bench/quality.py's results; else those the bundled model records), a class-conditional run's
`conditional_quality` (bench/conditional.py --record) and the data's licence.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from bundling import BUNDLED, cpu_weights, training_length, write_bundle

from picodiff.checkpoint import CONFIG_FILE, read_spec
from picodiff.data import ImageStore
from picodiff.data.sources.idx import FASHION_LICENCE
from picodiff.diffusion import SamplerSettings
from picodiff.evaluation import checkpoint_features, fid_kid, load_extractor, reference_features
from picodiff.evaluation.features import extract
from picodiff.models.conditioning import default_guidance
from picodiff.sampling import open_checkpoint, resolve_checkpoint_dir

BUNDLE = BUNDLED / "fashion-32"
PEERS = ("diffusers, same data and budget", "lucidrains, same data and budget")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path, help="a fashion-32 run folder or checkpoint")
    parser.add_argument("--store", required=True, help="the Fashion-MNIST 32 px store")
    parser.add_argument("--n", type=int, default=2000, help="images per FID")
    parser.add_argument("--race", type=Path, help="bench/quality.py's --out folder (the peers)")
    args = parser.parse_args()
    source = resolve_checkpoint_dir(args.run)
    metadata = read_spec(source).metadata
    extractor = load_extractor("inception")
    real, _ = reference_features(args.store, "val", extractor)
    model = open_checkpoint(source)
    classes = model.conditioning is not None and model.conditioning.kind == "class"
    guidance = default_guidance(model.metadata)  # a class model draws its classes in turn
    settings = SamplerSettings("dpmpp2m", 20)
    drawn = checkpoint_features(
        extractor, model, args.n, settings, seed=0, batch_size=64, micro_batch=4,
        every_class=True, guidance=guidance,
    )  # fmt: skip
    train = ImageStore(args.store, "train").array
    rows = np.sort(np.random.default_rng(0).choice(len(train), args.n, replace=False))
    floor = fid_kid(real, extract(extractor, [train[rows]]))
    measured = {"n": args.n, "reference": "Fashion-MNIST test (10,000)", "protocol": "clean"}
    generated = {
        **fid_kid(real, drawn.features),
        **({"guidance": guidance} if classes else {}),
        "sample_s_per_image": drawn.seconds / args.n,
        **{k: metadata[k] for k in ("train_seconds", "images_seen", "step")},
    }
    quality = {
        "generated": {**generated, **measured, "sampler": "dpmpp2m, 20 steps, seeds 0..n-1"},
        "real training images (the floor)": {**floor, **measured},
        **peers(args.race, measured),
    }
    bundle(source, metadata, quality, generated["fid"])
    print(json.dumps(quality, indent=2))


def peers(race: Path | None, measured: dict) -> dict:
    if race is not None:
        results = json.loads((race / "results.json").read_text())
        return {name: {**results[name.split(",")[0]][-1], **measured} for name in PEERS}
    bundled = json.loads((BUNDLE / CONFIG_FILE).read_text())["metadata"].get("quality", {})
    return {name: bundled[name] for name in PEERS if name in bundled}


def reproduce(metadata: dict) -> list[str]:
    """The commands that make the run again, from its training config."""
    length = training_length(metadata)
    condition = " --condition class" if metadata["train_config"].get("condition") == "class" else ""
    out = "runs/fashion-32-class" if condition else "runs/fashion-32"
    commands = [
        "apt-get install dataset-fashion-mnist",
        "picodiff prepare fashion-mnist --out stores/fashion-32 --size 32",
        f"picodiff train --data stores/fashion-32 --out {out} --preset fashion-32 {length}"
        f"{condition}",
    ]
    if condition:
        commands.append(
            f"python bench/conditional.py {out} --ref stores/fashion-32 --n 50 --sampler ddim "
            "--steps 10 --guidance 0 1 2 3 4 5 --record --grid docs/fashion-32-classes.png "
            "--grid-guidance 3"
        )
    return [
        *commands,
        f"python bench/bundle_fashion.py {out} --store stores/fashion-32 --n 2000",
    ]


def bundle(source: Path, metadata: dict, quality: dict, fid: float) -> None:
    classes = metadata["train_config"].get("condition") == "class"
    write_bundle(
        source,
        "fashion-32",
        {
            **metadata,
            "description": "Fashion-MNIST product photos, 32x32 grayscale, 10 classes"
            + (" (class-conditional: ask for one by name)" if classes else ""),
            "weights": cpu_weights(metadata),
            "reproduce": reproduce(metadata),
            "fid": round(fid, 3),
            "fid_features": "inception (clean)",
            "quality": quality,
            "licences": [FASHION_LICENCE],
        },
        "stores/fashion-32",
    )


if __name__ == "__main__":
    main()

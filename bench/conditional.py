"""How well a conditional model draws what it is asked for, against guidance.

    python bench/conditional.py runs/fashion-class --ref STORE              # n 100 per class
    python bench/conditional.py MODEL --ref STORE --guidance 0 1 3 --n 50 --features digits
    python bench/conditional.py runs/emoji-text --ref STORE --prompts 100 --n 4

A class-conditional model, for each guidance w: n images of every class (seeds (0, 0..n-1), the
same for every w), the share of them that a classifier trained on the store's real training
images assigns to the requested class with confidence >= 0.9, and FID per class (against the
val images of that class) and overall (all classes' samples against the whole val split), with
the standard Inception features unless --features says otherwise. The floor is the real val
images: the classifier's share on them.

A text-conditional model, for each w: n images of each of --prompts texts (the first text of
rows of the training split, e.g. an emoji's name, drawn at random with seed 0), and the share
of them whose nearest training image (Euclidean, in the feature space) carries the prompt among
its texts; chance is the share of training images that carry it, and the floor the same
share for the real val images whose name the training split carries. FID is all the samples
against the training images (biased upwards at small n: compare w with w only).

--record writes the figures into the model's metadata (`conditional_quality`) with the default
guidance they pick (`guidance`: the lowest FID among the w whose share reaches the goal, 85%
recognised for classes, 40% named for texts; picodiff.models.conditioning.pick_guidance);
--grid draws a row of 8 samples per class, or per prompt (--grid-prompts, default the first 8
measured), at --grid-guidance (default: the guidance --record picks, else 3).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from quality import command_line, record_metadata  # bench/quality.py
from torch import nn
from tqdm import tqdm

from picodiff.data import ImageStore
from picodiff.data.labels import class_labels
from picodiff.data.texts import row_texts
from picodiff.diffusion import SamplerSettings
from picodiff.evaluation import extract, fid_kid, load_extractor, reference_features
from picodiff.models.conditioning import (
    DEFAULT_GUIDANCE,
    NAMED_GOAL,
    RECOGNISED_GOAL,
    pick_guidance,
)
from picodiff.pixels import make_grid, save_png, to_uint8
from picodiff.provenance import provenance
from picodiff.sampling import open_checkpoint, sample_images

CONFIDENT = 0.9


class Classifier(nn.Module):
    """A small VGG-style CNN (batch norm, two convolutions per stage) on uint8 images
    [B, H, W, C]: what the real training images teach."""

    def __init__(self, channels: int, classes: int):
        super().__init__()

        def stage(c_in: int, c_out: int) -> list[nn.Module]:
            return [
                nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(),
                nn.Conv2d(c_out, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(),
            ]  # fmt: skip

        self.net = nn.Sequential(
            *stage(channels, 16), nn.MaxPool2d(2),
            *stage(16, 32), nn.MaxPool2d(2),
            *stage(32, 64), nn.AdaptiveAvgPool2d(1),
            nn.Flatten(), nn.Dropout(0.3), nn.Linear(64, classes),
        )  # fmt: skip

    def forward(self, images: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 127.5
        return self.net(x - 1)


def train_classifier(store: ImageStore, ids: np.ndarray, classes: int, steps: int) -> Classifier:
    """Adam with a one-cycle learning rate, batches of 64 with random horizontal flips."""
    torch.manual_seed(0)
    model = Classifier(store.channels, classes)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=steps)
    rng = np.random.default_rng(0)
    for _ in tqdm(range(steps), desc="training the judge", unit="step"):
        rows = np.sort(rng.choice(len(store), min(64, len(store)), replace=False))
        images = store.array[rows]
        flip = rng.random(len(rows)) < 0.5
        images[flip] = images[flip, :, ::-1]
        loss = nn.functional.cross_entropy(model(images), torch.from_numpy(ids[rows]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    return model.eval()


def recognised(classifier: Classifier, images: np.ndarray, label: int) -> float:
    """The share of images assigned to `label` with probability >= CONFIDENT."""
    with torch.inference_mode():
        probs = torch.cat(
            [classifier(images[i : i + 256]).softmax(1) for i in range(0, len(images), 256)]
        )
    return float(((probs.argmax(1) == label) & (probs.max(1).values >= CONFIDENT)).float().mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", help="a conditional checkpoint or run folder")
    parser.add_argument("--ref", type=Path, required=True, help="the store it was trained on")
    parser.add_argument(
        "--n", type=int, default=None, help="images per class or prompt and guidance (100; 4)"
    )
    parser.add_argument("--prompts", type=int, default=100, help="texts a text model is asked")
    parser.add_argument("--guidance", type=float, nargs="+", default=[0, 1, 2, 3, 5])
    parser.add_argument(
        "--features", default="inception", help="inception, digits or MODULE:CALLABLE"
    )
    parser.add_argument("--sampler", default="dpmpp2m")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--classifier-steps", type=int, default=2000)
    parser.add_argument("--record", action="store_true", help="write into the model's metadata")
    parser.add_argument("--grid", type=Path, help="a PNG: a row per class or prompt")
    parser.add_argument("--grid-guidance", type=float, help="default: the one picked, else 3")
    parser.add_argument("--grid-prompts", nargs="+", help="a text model's grid rows")
    args = parser.parse_args()
    checkpoint = open_checkpoint(args.model)
    if checkpoint.conditioning is None:
        raise SystemExit(f"{args.model} is not conditional")
    text = checkpoint.conditioning.kind == "text"
    args.n = args.n or (4 if text else 100)
    settings = SamplerSettings(args.sampler, args.steps)  # type: ignore[arg-type]
    measure = text_quality if text else class_quality
    results = measure(args, checkpoint, load_extractor(args.features), settings)
    print(json.dumps(results, indent=2))
    picked = DEFAULT_GUIDANCE
    if args.record:
        points = {w: results[f"guidance {w:g}"] for w in args.guidance}
        goal = NAMED_GOAL if text else RECOGNISED_GOAL
        default = pick_guidance(points, goal, measured=command_line())
        picked = default["default"]
        print(f"default guidance: {picked:g}")
        record_metadata(args.model, conditional_quality=results, guidance=default)
    if args.grid:
        w = picked if args.grid_guidance is None else args.grid_guidance
        draw_grid(args, checkpoint, settings, w, results)


def draw_grid(args, checkpoint, settings: SamplerSettings, w: float, results: dict) -> None:
    """Rows of 8 samples at guidance w: one per class, or per prompt (--grid-prompts, else
    the first 8 measured)."""
    conditioning = checkpoint.conditioning
    if conditioning.kind == "class":
        labels = list(conditioning.labels)
        rows = [draw(checkpoint, 8, settings, w, labels=k) for k in range(len(labels))]
        made = provenance(model=args.model, guidance=w, labels=labels, index=0, count=8)
    else:
        measured = results[f"guidance {args.guidance[0]:g}"]["recognised_per_prompt"]
        prompts = args.grid_prompts or list(measured)[:8]
        rows = [draw(checkpoint, 8, settings, w, prompts=p) for p in prompts]
        made = provenance(model=args.model, guidance=w, prompts=prompts, index=0, count=8)
    save_png(args.grid, make_grid(np.concatenate(rows), ncols=8), made)
    print(f"wrote {args.grid} (guidance {w:g})")


def class_quality(args, checkpoint, extractor, settings: SamplerSettings) -> dict:
    """The class model's figures per guidance (see the module's docstring)."""
    labels = checkpoint.conditioning.labels
    train, val = ImageStore(args.ref, "train"), ImageStore(args.ref, "val")
    names, _, train_ids = class_labels(train, checkpoint.conditioning.field)
    _, _, val_ids = class_labels(val, checkpoint.conditioning.field)
    if tuple(names) != tuple(labels):
        raise SystemExit(f"the store's labels {names} are not the model's {labels}")
    started = time.perf_counter()
    classifier = train_classifier(train, train_ids, len(labels), args.classifier_steps)
    floor = [recognised(classifier, val.array[val_ids == k], k) for k in range(len(labels))]
    print(f"classifier trained in {time.perf_counter() - started:.0f} s; real val images "
          f"recognised: {np.mean(floor):.1%}", flush=True)  # fmt: skip
    everything, _ = reference_features(args.ref, "val", extractor)
    per_class = [
        reference_features(args.ref, "val", extractor, rows=np.flatnonzero(val_ids == k))[0]
        for k in range(len(labels))
    ]
    results = {
        "n_per_class": args.n,
        "features": args.features,
        "real_recognised": float(np.mean(floor)),
    }
    print(f"\n| guidance | recognised (>= {CONFIDENT}) | FID overall | FID per class (mean) |")
    print("|---:|---:|---:|---:|")
    for w in args.guidance:
        shares, fids, features = [], [], []
        for k in range(len(labels)):
            images = draw(checkpoint, args.n, settings, w, labels=k)
            shares.append(recognised(classifier, images, k))
            fake = extract(extractor, [images])
            features.append(fake)
            fids.append(fid_kid(per_class[k], fake)["fid"])
        overall = fid_kid(everything, torch.cat(features))["fid"]
        results[f"guidance {w:g}"] = {
            "recognised": float(np.mean(shares)),
            "recognised_per_class": dict(zip(labels, shares)),
            "fid": overall,
            "fid_per_class": dict(zip(labels, fids)),
        }
        print(
            f"| {w:g} | {np.mean(shares):.1%} | {overall:.2f} | {np.mean(fids):.2f} |", flush=True
        )
    return results


def text_quality(args, checkpoint, extractor, settings: SamplerSettings) -> dict:
    """The text model's figures per guidance (see the module's docstring)."""
    train = ImageStore(args.ref, "train")
    fields = checkpoint.conditioning.fields
    texts = row_texts(train, fields)
    carriers: dict[str, list[int]] = {}  # a text (case folded) -> the training rows it names
    for row, ids in enumerate(texts.rows):
        for k in ids:
            carriers.setdefault(texts.texts[k].casefold(), []).append(row)
    names = sorted(set(texts.first))
    count = min(args.prompts, len(names))
    prompts = sorted(np.random.default_rng(0).choice(names, count, replace=False).tolist())
    real = reference_features(args.ref, "train", extractor)[0].double()
    chance = float(np.mean([len(carriers[p.casefold()]) for p in prompts]) / len(train))
    results = {
        "prompts": count,
        "n_per_prompt": args.n,
        "features": args.features,
        "chance": chance,
        "real_named": real_named(args.ref, fields, extractor, real, carriers),
    }
    print(f"\n{count} prompts, chance {chance:.3%}; real val images named: "
          f"{results['real_named']:.1%}\n")  # fmt: skip
    print("| guidance | nearest training image carries the prompt | FID (vs training) |")
    print("|---:|---:|---:|")
    for w in args.guidance:
        shares, features = [], []
        for prompt in tqdm(prompts, desc=f"guidance {w:g}", unit="prompt"):
            images = draw(checkpoint, args.n, settings, w, prompts=prompt)
            fake = extract(extractor, [images])
            features.append(fake)
            nearest = torch.cdist(fake.double(), real).argmin(1).numpy()
            shares.append(float(np.isin(nearest, carriers[prompt.casefold()]).mean()))
        fid = fid_kid(real, torch.cat(features))["fid"]
        results[f"guidance {w:g}"] = {
            "recognised": float(np.mean(shares)),
            "fid": fid,
            "recognised_per_prompt": dict(zip(prompts, shares)),
        }
        print(f"| {w:g} | {np.mean(shares):.1%} | {fid:.2f} |", flush=True)
    return results


def real_named(store: Path, fields, extractor, real: torch.Tensor, carriers: dict) -> float:
    """The floor: the share of the val images whose name the training split carries too that
    are nearest (in the feature space) to a training image carrying it."""
    names = [text.casefold() for text in row_texts(ImageStore(store, "val"), fields).first]
    rows = np.array([row for row, name in enumerate(names) if name in carriers])
    features = reference_features(store, "val", extractor, rows=rows)[0].double()
    nearest = torch.cdist(features, real).argmin(1).numpy()
    return float(np.mean([n in carriers[names[row]] for n, row in zip(nearest, rows)]))


def draw(checkpoint, n: int, settings: SamplerSettings, w: float, **condition) -> np.ndarray:
    """Images 0..n-1 of one class (labels=k) or prompt (prompts=TEXT) at guidance w, uint8."""
    repeated = {key: [value] * n for key, value in condition.items()}
    return to_uint8(sample_images(checkpoint, range(n), settings, guidance=w, **repeated))


if __name__ == "__main__":
    main()

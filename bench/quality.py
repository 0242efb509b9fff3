"""The quality race: picodiff against Hugging Face diffusers and lucidrains'
denoising-diffusion-pytorch, on the same data and the same budget of training time, measured with
the standard FID against the same reference.

    python bench/quality.py race --store STORE --minutes 20 --out runs/race \\
        --lucidrains-python /work/venvs/lucid/bin/python
    python bench/quality.py recipe --store STORE --minutes 8 --out runs/recipe   # ablations

STORE is `picodiff prepare fashion-mnist --out STORE --size 32` (60,000 train images; the 10,000
test images are its val split and the FID reference). Every contestant trains in its own process,
one after the other, for --minutes of training-step time (data loading included, evaluation not),
keeping EMA snapshots at --marks (fractions of the budget). Then every snapshot draws --n images
(--n-final for the last one) with --nfe network evaluations: picodiff's DPM-Solver++(2M),
diffusers' DPMSolverMultistepScheduler, lucidrains' DDIM (its fast sampler); FID/KID use the
standard InceptionV3 (clean resize) against all 10,000 test images, whose features are computed
once. Printed per contestant: parameters, images seen, training images/s, peak memory, FID and
KID at equal wall-clock and at (about) equal images seen, sampling seconds per image; the FID
against training time is drawn in --plot.

The contestants:
- picodiff: `picodiff train --preset fashion-32 --max-minutes M` (checkpoints every budget mark);
- diffusers: UNet2DModel of a parameter count within 10% of picodiff's, trained with the
  recipe of diffusers' examples/unconditional_image_generation/train_unconditional.py (AdamW
  lr 1e-4, betas 0.95/0.999, weight decay 1e-6, eps 1e-8; 500 warm-up steps then cosine; EMA
  inv_gamma 1, power 3/4, max 0.9999; DDPMScheduler 1000 linear betas; epsilon MSE; its default
  batch of 16);
- lucidrains: Unet(dim 18, its default dim_mults) + GaussianDiffusion with their defaults
  (pred_v, sigmoid schedule, 1000 steps) and the defaults of their Trainer (Adam lr 1e-4, betas
  0.9/0.99, EMA 0.995 every 10 steps, gradient clipping 1, horizontal flips, batch 16). It needs
  torchvision, so it runs in its own virtual environment (--lucidrains-python; here
  `pip install torch==2.14.1 torchvision==0.29.1 denoising-diffusion-pytorch==2.3.4`).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve()
SEED = 0


def command_line() -> str:
    """This bench's command, as a model's metadata records what measured it."""
    return "python bench/" + shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]])


def record_metadata(model: str | Path, **fields) -> None:
    """Merge `fields` into the metadata of MODEL's config.json (a checkpoint, a run folder or
    a bundled model's name)."""
    from picodiff.atomic import write_text
    from picodiff.checkpoint import CONFIG_FILE
    from picodiff.sampling import resolve_checkpoint_dir

    path = resolve_checkpoint_dir(model) / CONFIG_FILE
    config = json.loads(path.read_text())
    config.setdefault("metadata", {}).update(fields)
    write_text(path, json.dumps(config, indent=2) + "\n")
    print(f"recorded in {path}")


# --- workers: one contestant's training or sampling, in its own process ---------------------
def load_train(store: str) -> np.ndarray:
    """The store's train split as float32 [N, 1, H, W] in [-1, 1] (numpy: no picodiff needed)."""
    array = np.load(Path(store) / "train.npy", mmap_mode="r")
    return np.ascontiguousarray(array).transpose(0, 3, 1, 2).astype(np.float32) / 127.5 - 1


def train_loop(step_fn, snapshot_fn, images: np.ndarray, batch: int, minutes: float, marks):
    """Run step_fn(batch) on shuffled batches for `minutes` of step time, calling
    snapshot_fn(k, seconds, images_seen, steps) when the clock passes each mark."""
    import torch

    generator = np.random.default_rng(SEED)
    seconds, seen, steps, k = 0.0, 0, 0, 0
    order = generator.permutation(len(images))
    cursor = 0
    while k < len(marks):
        if cursor + batch > len(order):
            order, cursor = generator.permutation(len(images)), 0
        began = time.perf_counter()
        step_fn(torch.from_numpy(images[order[cursor : cursor + batch]]))
        seconds += time.perf_counter() - began
        cursor, seen, steps = cursor + batch, seen + batch, steps + 1
        while k < len(marks) and seconds >= marks[k] * minutes * 60:
            snapshot_fn(k, seconds, seen, steps)
            k += 1


def write_meta(folder: Path, seconds: float, seen: int, steps: int, **extra) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    meta = {"train_seconds": seconds, "images_seen": seen, "steps": steps, "peak_rss_mb": peak}
    (folder / "meta.json").write_text(json.dumps({**meta, **extra}))


def diffusers_model():
    from diffusers import UNet2DModel

    return UNet2DModel(
        sample_size=32,
        in_channels=1,
        out_channels=1,
        block_out_channels=(32, 64, 112),
        layers_per_block=2,
        down_block_types=("DownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
        norm_num_groups=8,
    )


def train_diffusers(args) -> None:
    """train_unconditional.py's recipe, timed (its default batch of 16)."""
    import torch
    import torch.nn.functional as F
    from diffusers import DDPMScheduler
    from diffusers.optimization import get_cosine_schedule_with_warmup
    from diffusers.training_utils import EMAModel

    torch.manual_seed(SEED)
    model = diffusers_model()
    scheduler = DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear")
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=1e-4, betas=(0.95, 0.999), weight_decay=1e-6, eps=1e-8
    )
    # the script decays over its planned steps: here, the steps the budget allows at the
    # rate of a short calibration
    planned = planned_steps(model, args.batch, args.minutes)
    lr = get_cosine_schedule_with_warmup(optimizer, 500, planned)
    ema = EMAModel(model.parameters(), decay=0.9999, use_ema_warmup=True, inv_gamma=1.0, power=0.75)
    out = Path(args.out)

    def step(x):
        noise = torch.randn_like(x)
        t = torch.randint(0, 1000, (len(x),))
        loss = F.mse_loss(model(scheduler.add_noise(x, noise, t), t).sample, noise)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        lr.step()
        optimizer.zero_grad()
        ema.step(model.parameters())

    def snapshot(k, seconds, seen, steps):
        folder = out / f"snap-{k}"
        folder.mkdir(parents=True, exist_ok=True)
        averaged = diffusers_model()
        ema.copy_to(averaged.parameters())
        torch.save(averaged.state_dict(), folder / "ema.pt")
        write_meta(folder, seconds, seen, steps, parameters=n_params(model))

    train_loop(step, snapshot, load_train(args.store), args.batch, args.minutes, args.marks)


def sample_diffusers(args) -> None:
    import torch
    from diffusers import DDPMScheduler, DPMSolverMultistepScheduler

    model = diffusers_model()
    model.load_state_dict(torch.load(Path(args.snapshot) / "ema.pt", weights_only=True))
    model.eval()
    scheduler = DPMSolverMultistepScheduler.from_config(
        DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear").config
    )
    generator = torch.Generator().manual_seed(SEED)

    def draw(n):
        scheduler.set_timesteps(args.nfe)
        x = torch.randn((n, 1, 32, 32), generator=generator)
        for t in scheduler.timesteps:
            x = scheduler.step(model(x, t).sample, t, x).prev_sample
        return x

    save_samples(args, draw)


def lucidrains_diffusion(sampling_steps: int = 1000):
    from denoising_diffusion_pytorch import GaussianDiffusion, Unet

    net = Unet(dim=18, channels=1)
    return GaussianDiffusion(net, image_size=32, timesteps=1000, sampling_timesteps=sampling_steps)


def train_lucidrains(args) -> None:
    """GaussianDiffusion's loss with the defaults of their Trainer, timed."""
    import torch
    from ema_pytorch import EMA

    torch.manual_seed(SEED)
    diffusion = lucidrains_diffusion()
    optimizer = torch.optim.Adam(diffusion.parameters(), lr=1e-4, betas=(0.9, 0.99))
    ema = EMA(diffusion, beta=0.995, update_every=10)
    out, flip = Path(args.out), np.random.default_rng(SEED + 1)

    def step(x):
        x = torch.where(
            torch.from_numpy(flip.random(len(x)) < 0.5)[:, None, None, None], x.flip(-1), x
        )
        loss = diffusion((x + 1) / 2)  # it normalises [0, 1] inputs itself
        loss.backward()
        torch.nn.utils.clip_grad_norm_(diffusion.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad()
        ema.update()

    def snapshot(k, seconds, seen, steps):
        folder = out / f"snap-{k}"
        folder.mkdir(parents=True, exist_ok=True)
        torch.save(ema.ema_model.state_dict(), folder / "ema.pt")
        write_meta(folder, seconds, seen, steps, parameters=n_params(diffusion.model))

    train_loop(step, snapshot, load_train(args.store), args.batch, args.minutes, args.marks)


def sample_lucidrains(args) -> None:
    import torch

    diffusion = lucidrains_diffusion(sampling_steps=args.nfe)
    diffusion.load_state_dict(torch.load(Path(args.snapshot) / "ema.pt", weights_only=True))
    diffusion.eval()
    torch.manual_seed(SEED)
    save_samples(args, lambda n: diffusion.sample(batch_size=n) * 2 - 1)


def save_samples(args, draw) -> None:
    """Draw args.n images in batches of 64, write them as uint8 [n, 32, 32, 1] and the time."""
    import torch

    batches, started = [], time.perf_counter()
    with torch.inference_mode():
        for start in range(0, args.n, 64):
            batches.append(draw(min(64, args.n - start)))
    seconds = time.perf_counter() - started
    images = torch.cat(batches).clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8)
    np.save(Path(args.snapshot) / f"samples-{args.n}.npy", images.permute(0, 2, 3, 1).numpy())
    (Path(args.snapshot) / f"samples-{args.n}.json").write_text(json.dumps({"seconds": seconds}))


def planned_steps(model, batch: int, minutes: float) -> int:
    """Steps in the budget at the rate of 5 timed steps (the cosine schedule's length)."""
    import torch

    x, t = torch.randn(batch, 1, 32, 32), torch.randint(0, 1000, (batch,))
    model(x, t).sample.mean().backward()  # warm-up
    began = time.perf_counter()
    for _ in range(5):
        model(x, t).sample.mean().backward()
    model.zero_grad()
    return max(501, int(minutes * 60 / ((time.perf_counter() - began) / 5)))


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


WORKERS = {
    "train-diffusers": train_diffusers,
    "sample-diffusers": sample_diffusers,
    "train-lucidrains": train_lucidrains,
    "sample-lucidrains": sample_lucidrains,
}


# --- the harness ----------------------------------------------------------------------------
def run(command: list[str]) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    print("$", " ".join(command), flush=True)
    subprocess.run(command, check=True, env=env)


def train_picodiff(args, out: Path, overrides: list[str]) -> list[Path]:
    """`picodiff train` with the budget; its checkpoints at the marks become the snapshots."""
    every = args.minutes * min(args.marks)
    sets = [f"checkpoint_every_minutes={every}", "keep_last=1000", "val_every=100000000"]
    sets += ["sample_every=100000000", *overrides]
    command = [sys.executable, "-m", "picodiff", "train", "--data", args.store, "--out", str(out)]
    command += ["--preset", "fashion-32", "--max-minutes", str(args.minutes)]
    run(command + [a for s in sets for a in ("--set", s)])
    return sorted((out / "checkpoints").glob("step-*"))


def at_marks(checkpoints: list[Path], marks: list[float], minutes: float) -> list[Path]:
    """The checkpoint whose training time is nearest each mark (they are saved every
    min(marks) of the budget, and at its end)."""
    seconds = {c: picodiff_meta(c)["train_seconds"] for c in checkpoints}
    return [min(checkpoints, key=lambda c: abs(seconds[c] - m * minutes * 60)) for m in marks]


def picodiff_meta(checkpoint: Path) -> dict:
    from picodiff.checkpoint import load_checkpoint

    ckpt = load_checkpoint(checkpoint)
    meta = ckpt.metadata
    metrics = [json.loads(line) for line in (checkpoint.parent.parent / "metrics.jsonl").open()]
    peak = max(r.get("memory_mb", 0) for r in metrics)
    return {
        "train_seconds": meta["train_seconds"],
        "images_seen": meta["images_seen"],
        "steps": meta["step"],
        "peak_rss_mb": peak,
        "parameters": ckpt.model.num_parameters(),
    }


def sample_picodiff(checkpoint: Path, n: int, nfe: int) -> tuple[np.ndarray, float]:
    from picodiff.sampling import SamplerSettings, open_checkpoint, sample_batches

    model = open_checkpoint(checkpoint)
    started = time.perf_counter()
    batches = sample_batches(model, range(n), SamplerSettings("dpmpp2m", nfe), batch_size=64)
    images = np.concatenate([pixels for _, pixels in batches])
    return images, time.perf_counter() - started


def sample_peer(args, name: str, snapshot: Path, n: int) -> tuple[np.ndarray, float]:
    python = args.lucidrains_python if name == "lucidrains" else sys.executable
    cached = snapshot / f"samples-{n}.npy"
    if not cached.exists():
        run(
            [
                python,
                str(HERE),
                f"sample-{name}",
                "--snapshot",
                str(snapshot),
                "--n",
                str(n),
                "--nfe",
                str(args.nfe),
            ]
        )
    seconds = json.loads((snapshot / f"samples-{n}.json").read_text())["seconds"]
    return np.load(cached), seconds


class Judge:
    """FID / KID of uint8 images against the store's val split (standard Inception, clean)."""

    def __init__(self, store: str):
        from picodiff.evaluation import load_extractor, reference_features

        self.extractor = load_extractor("inception")
        self.real, _ = reference_features(store, "val", self.extractor)

    def __call__(self, images: np.ndarray) -> dict:
        from picodiff.evaluation import fid_kid
        from picodiff.evaluation.features import extract

        return fid_kid(self.real, extract(self.extractor, [images]))


def evaluate(args, judge: Judge, name: str, snapshots: list[Path]) -> list[dict]:
    """Every snapshot's figures (the last one with --n-final images), kept in
    OUT/NAME/figures-K-N.json so that a rerun only measures what is missing."""
    rows = []
    for k, snapshot in enumerate(snapshots):
        n = args.n_final if k == len(snapshots) - 1 else args.n
        cached = Path(args.out) / name / f"figures-{k}-{n}.json"
        if cached.exists():
            rows.append(json.loads(cached.read_text()))
            continue
        if name == "picodiff":
            meta = picodiff_meta(snapshot)
            images, seconds = sample_picodiff(snapshot, n, args.nfe)
        else:
            meta = json.loads((snapshot / "meta.json").read_text())
            images, seconds = sample_peer(args, name, snapshot, n)
        rows.append({**meta, **judge(images), "n": n, "sample_s_per_image": seconds / n})
        cached.write_text(json.dumps(rows[-1]))
        print(f"{name} snapshot {k}: {rows[-1]}", flush=True)
    return rows


def race(args) -> None:
    out = Path(args.out)
    names = args.only or ["picodiff", "diffusers", "lucidrains"]
    snapshots = {}
    for name in names:  # training first, one at a time, nothing else running
        folder = out / name
        if name == "picodiff":
            checkpoints = (
                sorted((folder / "checkpoints").glob("step-*"))
                if (folder / "last").exists()
                else train_picodiff(args, folder, [])
            )
            snapshots[name] = at_marks(checkpoints, args.marks, args.minutes)
            continue
        if not (folder / f"snap-{len(args.marks) - 1}" / "meta.json").exists():
            python = args.lucidrains_python if name == "lucidrains" else sys.executable
            run(
                [
                    python,
                    str(HERE),
                    f"train-{name}",
                    "--store",
                    args.store,
                    "--out",
                    str(folder),
                    "--minutes",
                    str(args.minutes),
                    "--batch",
                    "16",
                    "--marks",
                    *map(str, args.marks),
                ]
            )
        snapshots[name] = [folder / f"snap-{k}" for k in range(len(args.marks))]
    judge = Judge(args.store)
    results = {name: evaluate(args, judge, name, snapshots[name]) for name in names}
    (out / "results.json").write_text(json.dumps(results, indent=2))
    print_table(results)
    plot(results, Path(args.plot))


def print_table(results: dict) -> None:
    """Per contestant: the last snapshot (equal wall-clock), and the snapshot whose images seen
    are nearest to the fewest any contestant saw (about equal images seen)."""
    fewest = min(rows[-1]["images_seen"] for rows in results.values())
    head = (
        "contestant",
        "parameters",
        "images seen",
        "train img/s",
        "peak MB",
        "FID (n)",
        "KID",
        "FID at ~equal images (seen)",
        "sample s/img",
    )
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for name, rows in results.items():
        last = rows[-1]
        near = min(rows, key=lambda r: abs(r["images_seen"] - fewest))
        print(
            f"| {name} | {last['parameters']:,} | {last['images_seen']:,} | "
            f"{last['images_seen'] / last['train_seconds']:.1f} | {last['peak_rss_mb']:,.0f} | "
            f"{last['fid']:.2f} ({last['n']}) | {last['kid']:.4f} ± {last['kid_std']:.4f} | "
            f"{near['fid']:.2f} ({near['images_seen']:,}, n {near['n']}) | "
            f"{last['sample_s_per_image']:.3f} |"
        )
    best_peer = min((r[-1]["fid"] for n, r in results.items() if n != "picodiff"), default=None)
    if "picodiff" in results and best_peer:
        ratio = results["picodiff"][-1]["fid"] / best_peer
        print(f"\npicodiff FID / best peer's at equal wall-clock: {ratio:.2f} (goal <= 0.7)")


def plot(results: dict, path: Path) -> None:
    from picodiff.training.plot import plot_series

    series = {
        name: [(r["train_seconds"] / 60, r["fid"]) for r in rows] for name, rows in results.items()
    }
    plot_series({"FID vs training minutes (log scale)": series}, path, x_label="minutes")
    print(f"plot: {path}")


def recipe(args) -> None:
    """One change at a time from an eps-prediction baseline (the objective of the peers' DDPM
    recipes; otherwise the fashion-32 preset), the same short budget for each."""
    eps = ["prediction=eps"]
    variants = {
        "eps baseline (the preset, prediction eps)": eps,
        "lr 2e-4 (not 1e-3)": [*eps, "lr=2e-4"],
        "prediction v (the fashion-32 preset)": [],
        "no min-SNR weighting": [*eps, "min_snr_gamma=null"],
        "linear schedule (not cosine)": [*eps, "schedule=linear"],
        "EMA 0.9999 (not 0.999)": [*eps, "ema_decay=0.9999"],
        "1 block per level (not 2)": [*eps, "unet.blocks_per_level=1"],
        "batch 32 (not 64)": [*eps, "batch_size=32"],
    }
    judge, results = Judge(args.store), {}
    for label, overrides in variants.items():
        folder = Path(args.out) / label.split(" (")[0].replace(" ", "-")
        checkpoints = sorted((folder / "checkpoints").glob("step-*"))
        if not (folder / "last").exists():
            checkpoints = train_picodiff(args, folder, overrides)
        cached = folder / f"figures-{args.n}.json"
        if not cached.exists():
            images, _ = sample_picodiff(checkpoints[-1], args.n, args.nfe)
            figures = {**picodiff_meta(checkpoints[-1]), **judge(images), "n": args.n}
            cached.write_text(json.dumps(figures))
        results[label] = json.loads(cached.read_text())
        print(label, results[label], flush=True)
    (Path(args.out) / "recipe.json").write_text(json.dumps(results, indent=2))
    base = next(iter(results.values()))["fid"]
    print("| variant | images seen | FID (n) | vs the eps baseline |\n|---|---|---|---|")
    for label, r in results.items():
        ratio = r["fid"] / base
        print(f"| {label} | {r['images_seen']:,} | {r['fid']:.2f} ({r['n']}) | {ratio:.2f}x |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=["race", "recipe", *WORKERS])
    parser.add_argument("--store", help="the Fashion-MNIST 32 px store")
    parser.add_argument("--out", default="runs/race", help="folder for runs and results")
    parser.add_argument("--minutes", type=float, default=20, help="training budget per contestant")
    parser.add_argument(
        "--marks",
        type=float,
        nargs="+",
        default=[0.25, 0.5, 1.0],
        help="snapshots, as fractions of the budget",
    )
    parser.add_argument("--n", type=int, default=500, help="images per FID of the curve")
    parser.add_argument("--n-final", type=int, default=2000, help="images for the final FID")
    parser.add_argument("--nfe", type=int, default=20, help="network evaluations per image")
    parser.add_argument("--only", nargs="+", help="run these contestants only")
    parser.add_argument("--lucidrains-python", default="python", help="its venv's python")
    parser.add_argument("--plot", default="docs/quality-race.png", help="FID vs time chart")
    parser.add_argument("--batch", type=int, default=16, help="(workers) batch size")
    parser.add_argument("--snapshot", help="(workers) snapshot folder")
    args = parser.parse_args()
    if args.mode in WORKERS:
        WORKERS[args.mode](args)
    else:
        {"race": race, "recipe": recipe}[args.mode](args)


if __name__ == "__main__":
    main()

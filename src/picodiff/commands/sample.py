"""Sample images from a checkpoint, a training run (its best/, else last) or a legacy .pt/.pth.

Examples:
    picodiff sample runs/pico-64 --n 64 --out samples/pico --grid grid.png
    picodiff sample models/faces --n 16 --sampler ddim --steps 50 --eta 0.5 --seed 3 --out s
    picodiff sample runs/digits --n 16 --out s --animation denoise.gif     # or .mp4
    picodiff sample picobanana_84.pth --image-size 84 --T 500 --n 8 --out s
    torchrun --nproc_per_node 4 -m picodiff sample runs/pico-64 --num-images 50000 --out samples/fid
    picodiff sample --cascade runs/base-32 runs/sr-32-64 --stage-steps 20 10 --n 16 --out s

A checkpoint is sampled at its own resolution, channels, T, schedule and prediction target.
Image i depends only on (--seed, i): the same seed gives byte-identical PNGs whatever
--batch-size or the number of processes, and --n 8 gives the first 8 images of --n 64.
Under torchrun write --num-images for --n (torchrun takes --n for one of its own options).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..distributed import Distributed, pick_device
from ..errors import UserError
from ..pixels import make_grid, save_png
from ..provenance import model_name, model_version, provenance
from ..sampling import (
    DenoisingRecorder,
    check_animation_path,
    check_out_dir,
    default_micro_batch,
    finish,
    sample_batches,
    shard_range,
    write_animation,
    write_images,
)
from ..sampling.output import image_path, read_images
from ..sampling.progress import SamplingBar, chain
from .sample_cascade import add_cascade_arguments, run_cascade
from .sampling_options import (
    add_condition_arguments,
    add_sampler_arguments,
    check_counts,
    condition_from,
    described,
    open_model,
)

GRID_MAX = 64  # the grid shows the first 64 images


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", nargs="?", help="checkpoint dir, run dir or legacy .pt/.pth")
    parser.add_argument("--out", type=Path, required=True, help="folder for the PNGs")
    parser.add_argument("--grid", type=Path, help="also write the first 64 as one grid .png")
    parser.add_argument(
        "--animation", type=Path, help="the first batch's denoising, x_t | x0, as .gif or .mp4"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace samples in --out")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_sampler_arguments(parser, default_n=64)
    add_condition_arguments(parser)
    add_cascade_arguments(parser)


def run(args: argparse.Namespace) -> int:
    check_counts(args)
    if args.grid and args.grid.suffix.lower() != ".png":
        raise UserError(f"--grid {args.grid}: use a .png file name")
    if args.animation:
        check_animation_path(args.animation)
    if bool(args.checkpoint) == bool(args.cascade):
        raise UserError("give either CHECKPOINT or --cascade BASE SR [SR ...]")
    check_out_dir(args.out, args.overwrite)
    if args.cascade:
        return run_cascade(args)
    device = pick_device(args.device)
    checkpoint, settings = open_model(args, args.checkpoint, device)
    condition = condition_from(args, checkpoint)
    dist = Distributed.from_env(device)  # all processes meet here, after their checks
    micro_batch = args.micro_batch or default_micro_batch(device)
    indices = shard_range(args.n, micro_batch, dist.rank, dist.world_size)
    recorder = DenoisingRecorder() if args.animation and dist.is_main else None
    made = _provenance(args, checkpoint, settings, condition)
    started = time.perf_counter()
    show_progress = not args.quiet and dist.is_main
    draw = (checkpoint, settings, indices, micro_batch, condition)
    _draw(args, *draw, recorder, show_progress, made)
    dist.close()
    if dist.is_main:
        seconds = time.perf_counter() - started
        _finish(args, checkpoint, settings, micro_batch, recorder, seconds, made)
    return 0


def _provenance(args, checkpoint, settings, condition: dict) -> dict:
    """The PNG chunk of every image drawn (write_images adds each one's index)."""
    return provenance(
        model=model_name(checkpoint.path),
        version=model_version(checkpoint),
        seed=args.seed,
        ema=not args.no_ema,
        **settings.describe(),  # sampler, steps, eta, spacing
        **described(checkpoint.conditioning, condition),
    )


def _draw(args, checkpoint, settings, indices, micro_batch, condition, recorder, show, made):
    batch_size = -(-args.batch_size // micro_batch) * micro_batch
    batches = -(-len(indices) // batch_size)
    bar = SamplingBar(len(indices), batches, settings.steps, enabled=show)
    images = sample_batches(
        checkpoint,
        indices,
        settings,
        seed=args.seed,
        batch_size=batch_size,
        micro_batch=micro_batch,
        callback=chain(bar, recorder),
        **condition,
    )
    for batch, pixels in images:
        write_images(args.out, batch, pixels, made)
        bar.batch_done(len(batch))
    bar.close()


def _finish(args, checkpoint, settings, micro_batch, recorder, seconds: float, made) -> None:
    manifest = {
        "checkpoint": str(checkpoint.path),
        "ema": not args.no_ema,
        **settings.describe(),
        "seed": args.seed,
        "micro_batch": micro_batch,
        "size": checkpoint.config.image_size,
        "channels": checkpoint.config.image_channels,
    }
    finish(args.out, args.n, manifest)
    if args.grid:
        shown = [image_path(args.out, i) for i in range(min(args.n, GRID_MAX))]
        grid = make_grid(read_images(shown, checkpoint.config.image_channels))
        save_png(args.grid, grid, {**made, "index": 0, "count": len(shown)})
    if recorder is not None:
        write_animation(args.animation, recorder.frames)
    print(f"wrote {args.n} images to {args.out} in {seconds:.1f}s ({seconds / args.n:.3f} s/image)")

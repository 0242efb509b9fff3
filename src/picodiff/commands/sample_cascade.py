"""`picodiff sample --cascade BASE SR [SR2 ...]`: a base model and super-resolution stages.

Each stage keeps its own sampler and step count (--stage-sampler / --stage-steps, one value per
stage; by default every stage uses --sampler and --steps). Image i depends only on (--seed, i).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ..cascade import Cascade, Stage
from ..errors import UserError
from ..imageio import make_grid, save_png, to_uint8
from ..models.batching import default_micro_batch
from ..sampling import METHODS, finish, shard_range, write_images
from ..sampling.source import open_checkpoint
from ..training.distributed import Distributed, pick_device


def add_cascade_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("cascades")
    group.add_argument("--cascade", nargs="+", metavar="CHECKPOINT",
                       help="base checkpoint, then super-resolution stages")  # fmt: skip
    group.add_argument("--stage-sampler", nargs="+", help="one sampler per cascade stage")
    group.add_argument("--stage-steps", nargs="+", type=int, help="steps per cascade stage")
    group.add_argument("--aug-level", type=float,
                       help="conditioning augmentation of the super-resolution stages "
                       "(fraction of T; default: the one each was trained with)")  # fmt: skip


def build_cascade(args: argparse.Namespace, device) -> Cascade:
    paths = args.cascade
    samplers = _per_stage("--stage-sampler", args.stage_sampler, len(paths), args.sampler)
    steps = _per_stage("--stage-steps", args.stage_steps, len(paths), args.steps)
    stages = [
        Stage(open_checkpoint(p, use_ema=not args.no_ema, device=device, superres_ok=True),
              sampler=m, steps=s,
              eta=args.eta if m == "ddim" else 0.0, aug_level=args.aug_level)
        for p, m, s in zip(paths, samplers, steps)
    ]  # fmt: skip
    return Cascade(stages)


def run_cascade(args: argparse.Namespace) -> int:
    if args.animation:
        raise UserError("--animation is not available with --cascade")
    device = pick_device(args.device)
    cascade = build_cascade(args, device)
    dist = Distributed.from_env(device)
    micro = default_micro_batch(device)
    indices = shard_range(args.n, micro, dist.rank, dist.world_size)
    started, grid = time.perf_counter(), []
    for start in range(indices.start, indices.stop, args.batch_size):
        rows = range(start, min(start + args.batch_size, indices.stop))
        pixels = to_uint8(cascade.sample_rows([(args.seed, i) for i in rows])[-1])
        write_images(args.out, rows, pixels)
        grid.extend(pixels[: max(0, 64 - len(grid))])
    dist.close()
    if dist.is_main:
        seconds = time.perf_counter() - started
        stages = [{"checkpoint": s.name, "sampler": s.sampler, "steps": s.steps_or_default}
                  for s in cascade.stages]  # fmt: skip
        finish(args.out, args.n, {"cascade": stages, "seed": args.seed})
        if args.grid:
            save_png(args.grid, make_grid(np.stack(grid)))
        print(f"wrote {args.n} images to {args.out} in {seconds:.1f}s")
    return 0


def _per_stage(flag: str, values, stages: int, default):
    if values is None:
        return [default] * stages
    if len(values) != stages:
        raise UserError(f"{flag} needs one value per stage ({stages}), got {len(values)}")
    if flag == "--stage-sampler" and set(values) - set(METHODS):
        raise UserError(f"{flag}: samplers are {METHODS}, got {values}")
    return values

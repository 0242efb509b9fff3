"""`picodiff sample --cascade BASE SR [SR2 ...]`: a base model and super-resolution stages.

Each stage keeps its own sampler, step count, eta and spacing (--stage-sampler / --stage-steps
/ --stage-eta / --stage-spacing, one value per stage; by default every stage uses --sampler,
--steps, --eta and --spacing).
Image i depends only on (--seed, i).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ..diffusion import DEFAULT_SAMPLER, SAMPLERS, SPACINGS, SamplerSettings
from ..distributed import Distributed, pick_device
from ..errors import UserError
from ..models.batching import default_micro_batch
from ..pixels import make_grid, save_png, to_uint8
from ..provenance import model_name, model_version, provenance
from ..sampling import Cascade, Stage, finish, shard_range, write_images
from ..sampling.source import open_checkpoint


def add_cascade_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("cascades")
    group.add_argument(
        "--cascade",
        nargs="+",
        metavar="CHECKPOINT",
        help="base checkpoint, then super-resolution stages",
    )
    group.add_argument("--stage-sampler", nargs="+", choices=SAMPLERS, help="sampler per stage")
    group.add_argument("--stage-steps", nargs="+", type=int, help="steps per cascade stage")
    group.add_argument("--stage-eta", nargs="+", type=float, help="ddim eta per cascade stage")
    group.add_argument(
        "--stage-spacing", nargs="+", choices=SPACINGS, help="timestep spacing per stage"
    )
    group.add_argument(
        "--aug-level",
        type=float,
        help="conditioning augmentation of the super-resolution stages "
        "(fraction of T; default: the one each was trained with)",
    )


def build_cascade(args: argparse.Namespace, device) -> Cascade:
    paths = args.cascade
    if args.preset:
        raise UserError("--preset applies to one model; give a cascade --stage-sampler/--steps")
    sampler = args.sampler or DEFAULT_SAMPLER
    samplers = _per_stage("--stage-sampler", args.stage_sampler, len(paths), sampler)
    steps = _per_stage("--stage-steps", args.stage_steps, len(paths), args.steps)
    etas = _per_stage("--stage-eta", args.stage_eta, len(paths), args.eta)
    spacings = _per_stage("--stage-spacing", args.stage_spacing, len(paths), args.spacing)
    settings = [SamplerSettings(*options) for options in zip(samplers, steps, etas, spacings)]
    stages = [
        Stage(
            open_checkpoint(path, use_ema=not args.no_ema, device=device, superres_ok=True),
            stage_settings,
            args.aug_level,
        )
        for path, stage_settings in zip(paths, settings)
    ]
    return Cascade(stages)


def run_cascade(args: argparse.Namespace) -> int:
    if args.animation:
        raise UserError("--animation is not available with --cascade")
    device = pick_device(args.device)
    cascade = build_cascade(args, device)
    dist = Distributed.from_env(device)
    micro = default_micro_batch(device)
    indices = shard_range(args.n, micro, dist.rank, dist.world_size)
    made = cascade_provenance(cascade, args.seed, ema=not args.no_ema)
    started, grid = time.perf_counter(), []
    for start in range(indices.start, indices.stop, args.batch_size):
        rows = range(start, min(start + args.batch_size, indices.stop))
        pixels = to_uint8(cascade.sample_rows([(args.seed, i) for i in rows])[-1])
        write_images(args.out, rows, pixels, made)
        grid.extend(pixels[: max(0, 64 - len(grid))])
    dist.close()
    if dist.is_main:
        seconds = time.perf_counter() - started
        stages = [{"checkpoint": s.name, **s.settings.describe()} for s in cascade.stages]
        finish(args.out, args.n, {"cascade": stages, "seed": args.seed})
        if args.grid:
            save_png(args.grid, make_grid(np.stack(grid)), {**made, "index": 0, "count": len(grid)})
        print(f"wrote {args.n} images to {args.out} in {seconds:.1f}s")
    return 0


def cascade_provenance(cascade: Cascade, seed: int, **extra) -> dict:
    """The PNG chunk of a cascade's images: model, version and settings as lists, one entry
    per stage (write_images adds each image's index)."""
    stages = cascade.stages
    settings = [stage.settings.describe() for stage in stages]
    return provenance(
        model=[model_name(s.checkpoint.path) if s.checkpoint.path else None for s in stages],
        version=[model_version(s.checkpoint) for s in stages],
        seed=seed,
        aug_level=[s.aug_level for s in stages],
        **{key: [d[key] for d in settings] for key in settings[0]},  # sampler, steps, ...
        **extra,
    )


def _per_stage(flag: str, values, stages: int, default) -> list:
    if values is None:
        return [default] * stages
    if len(values) != stages:
        raise UserError(f"{flag} needs one value per stage ({stages}), got {len(values)}")
    return values

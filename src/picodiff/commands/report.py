"""Compare model versions side by side: for each checkpoint its config, parameter count,
FID/KID at one sampler and step count, sampling time per image and a sample grid, as a
self-contained HTML page (OUT/report.html) and a markdown table (OUT/report.md).

Examples:
    picodiff report runs/pb2025-a runs/pb2025-c runs/ours --ref stores/pico-64 --n 1000 \\
        --inception-weights pt_inception-2015-12-05-6726825d.pth --out reports/pico
    picodiff report runs/digits-v1 runs/digits-v2 --ref stores/digits-32 --features digits \\
        --sampler ddim --steps 50 --n 2000
    picodiff report --cascade runs/base-32 runs/sr-32-64 --ref stores/pico-64 --n 1000

Each model is sampled at its own resolution with the same sampler, steps, seed and --n, and
compared with the same reference split.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from ..atomic import write_bytes, write_text
from ..diffusion import DEFAULT_SAMPLER
from ..distributed import pick_device
from ..errors import UserError
from ..models.conditioning import DEFAULT_GUIDANCE
from ..sampling import default_micro_batch
from .evaluation_options import (
    add_reference_arguments,
    class_rows,
    load_reference,
    open_reference_store,
)
from .report_cascade import evaluate_cascade
from .sample_cascade import add_cascade_arguments
from .sampling_options import (
    add_condition_arguments,
    add_sampler_arguments,
    condition_from,
    open_model,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="*", type=Path, help="run dirs, checkpoints or .pt files")
    parser.add_argument("--out", type=Path, default=Path("report"), help="output folder")
    parser.add_argument("--grid-n", type=int, default=16, help="images in each sample grid")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    add_reference_arguments(parser)
    add_sampler_arguments(parser, default_n=1000)
    add_condition_arguments(parser)
    add_cascade_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from ..evaluation.report import html_page, markdown_table

    if not args.runs and not args.cascade:
        raise UserError("give run directories / checkpoints to compare, or --cascade BASE SR")
    if args.cascade and (args.label or args.prompt) is not None:
        raise UserError("--label and --prompt apply to conditional checkpoints, not --cascade")
    if args.preset:
        raise UserError(
            "report draws every model with the same settings: give --sampler and "
            "--steps, not --preset"
        )
    # the same sampler for every model, not each one's default preset
    args.sampler = args.sampler or DEFAULT_SAMPLER
    store = open_reference_store(args, "report")
    device = pick_device(args.device)
    opened = [open_model(args, path, device) for path in args.runs]  # refuse bad ones first
    for path, (checkpoint, _) in zip(args.runs, opened):
        if checkpoint.config.image_channels != store.channels:
            raise UserError(
                f"{path}: draws {checkpoint.config.image_channels}-channel images, "
                f"{args.ref} holds {store.channels}"
            )
    # one guidance for every model, so that they compare
    conditions = [condition_from(args, c, _guidance(args)) for c, _ in opened]
    rows = class_rows(args, store, args.runs[0]) if args.runs else None
    extractor, real, _ = load_reference(args, rows)
    names = model_names(args.runs)
    results = [
        _evaluate(args, name, *model, extractor, real, device, condition)
        for name, model, condition in zip(names, opened, conditions)
    ]
    if args.cascade:
        results += evaluate_cascade(args, extractor, real, device)
    grids = [f"grid-{i + 1}-{_slug(r.name)}.png" for i, r in enumerate(results)]
    for result, grid in zip(results, grids):
        write_bytes(args.out / grid, result.grid_png)
    table = markdown_table(results, grids)
    write_text(
        args.out / "report.md",
        f"# Model report\n\n{_settings_line(args, real, extractor, conditions)}\n\n{table}",
    )
    page = html_page(results, _settings(args, real, extractor, conditions))
    write_text(args.out / "report.html", page)
    print(table + f"\nwrote {args.out / 'report.html'} and {args.out / 'report.md'}")
    return 0


def model_names(paths: list[Path]) -> list[str]:
    """Each path's last part (a checkpoint inside a run is named after the run)."""
    names = [p.parent.name if p.name in ("best", "last") else p.name for p in paths]
    return names if len(set(names)) == len(names) else [str(p) for p in paths]


def _evaluate(args, name, checkpoint, settings, extractor, real, device, condition):
    from ..evaluation import checkpoint_features, fid_kid
    from ..evaluation.report import model_result

    micro_batch = args.micro_batch or default_micro_batch(device)
    drawn = checkpoint_features(
        extractor,
        checkpoint,
        args.n,
        settings,
        seed=args.seed,
        batch_size=args.batch_size,
        micro_batch=micro_batch,
        keep=args.grid_n,
        progress=not args.quiet,
        **condition,
    )
    metrics = fid_kid(real, drawn.features)
    seconds = drawn.seconds / args.n
    return model_result(
        name,
        str(checkpoint.path),
        checkpoint,
        metrics,
        seconds,
        drawn.first,
        settings=settings,
        seed=args.seed,
    )


def _settings(args, real, extractor, conditions: list[dict]) -> dict[str, str]:
    in_turn = any(c.get("every_class") for c in conditions)
    steps = f"{args.steps} steps" if args.steps else "default steps"
    protocol = f" (protocol {extractor.protocol})" if extractor.protocol else ""
    return {
        "reference": f"{args.ref} ({args.split}, {len(real)} images)",
        "features": args.features + protocol,
        "sampler": f"{args.sampler}, {steps}" + (f", eta {args.eta}" if args.eta else ""),
        "samples per model": str(args.n),
        "seed": str(args.seed),
        "weights": "raw" if args.no_ema else "EMA when present",
        **({"class": f"{args.label}, guidance {_guidance(args):g}"} if args.label else {}),
        **({"prompt": f"{args.prompt}, guidance {_guidance(args):g}"} if args.prompt else {}),
        **({"classes": f"each in turn, guidance {_guidance(args):g}"} if in_turn else {}),
    }


def _guidance(args) -> float:
    return DEFAULT_GUIDANCE if args.guidance is None else args.guidance


def _settings_line(args, real, extractor, conditions: list[dict]) -> str:
    settings = _settings(args, real, extractor, conditions)
    return " · ".join(f"{k}: {v}" for k, v in settings.items())


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "model"

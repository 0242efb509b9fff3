"""Convert a state dict saved by the code of the 2025 Pico-Banana student project (a .pt/.pth
file) into a picodiff checkpoint directory (safetensors + config.json). The file is read with
weights_only=True.

Example:
    picodiff convert-pb2025 picobanana_84.pth models/picobanana-84 --image-size 84 --T 500
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", type=Path, help="the pb2025 project's .pt/.pth state dict")
    parser.add_argument("out", type=Path, help="checkpoint directory to write")
    parser.add_argument("--image-size", type=int, default=64, help="resolution it was trained at")
    parser.add_argument("--T", type=int, default=1000, help="diffusion steps it was trained with")
    parser.add_argument("--beta-start", type=float, default=1e-4, help="first beta")
    parser.add_argument("--beta-end", type=float, default=0.02, help="last beta")


def run(args: argparse.Namespace) -> int:
    from ..checkpoint import load_legacy, save_checkpoint
    from ..diffusion import NoiseSchedule

    schedule = NoiseSchedule.linear(args.T, args.beta_start, args.beta_end)
    ckpt = load_legacy(args.source, image_size=args.image_size, schedule=schedule)
    metadata = {"converted_from": str(args.source), "origin": "pb2025 project"}
    save_checkpoint(args.out, ckpt.model, ckpt.schedule, metadata=metadata)
    params = ckpt.model.num_parameters()
    print(f"wrote {args.out} ({params:,} parameters, {args.image_size} px, T={args.T})")
    return 0

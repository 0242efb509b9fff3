"""Sampling speed: seconds per image and images/s for ddpm (T steps), ddim (50) and dpmpp2m (20).

    python bench/sampling.py                       # default preset, 64 px, batch 16, T = 1000
    python bench/sampling.py --ddpm-steps 50       # measure more ddpm steps before extrapolating
    python bench/sampling.py --compare-micro-batch # also: fixed micro-batch vs one call per batch

Runs `picodiff sample`'s engine (picodiff.sampling.sample_images) on random weights: speed does
not depend on what the network learnt. ddpm's T steps take minutes per batch on a CPU, so only
--ddpm-steps of them run; its per-step time is multiplied by T, and the table says so.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from picodiff.checkpoint import Checkpoint
from picodiff.diffusion import NoiseSchedule
from picodiff.models import UNet, UNetConfig
from picodiff.sampling import SamplerSettings, default_micro_batch, sample_images


def seconds_per_image(checkpoint, settings, batch: int, micro_batch: int, repeats=1) -> float:
    """Wall time of one batch of `batch` images, per image (median of `repeats`)."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        sample_images(checkpoint, range(batch), settings, seed=0, micro_batch=micro_batch)
        times.append((time.perf_counter() - started) / batch)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default", help="UNet preset")
    parser.add_argument("--size", type=int, default=64, help="image side in pixels")
    parser.add_argument("--T", type=int, default=1000, help="diffusion steps (ddpm runs all)")
    parser.add_argument("--batch-size", type=int, default=16, help="images per batch")
    parser.add_argument("--micro-batch", type=int, help="default: picodiff sample's (4 on CPU)")
    parser.add_argument("--ddpm-steps", type=int, default=20, help="ddpm steps actually run")
    parser.add_argument("--repeats", type=int, default=3, help="batches per sampler (median)")
    parser.add_argument(
        "--compare-micro-batch",
        action="store_true",
        help="time dpmpp2m with the fixed micro-batch and with one network "
        "call per batch, alternately",
    )
    args = parser.parse_args()
    torch.manual_seed(0)
    model = UNet(UNetConfig.preset(args.preset, image_size=args.size)).eval()
    checkpoint = Checkpoint(model, NoiseSchedule.cosine(args.T))
    micro_batch = args.micro_batch or default_micro_batch("cpu")
    seconds_per_image(checkpoint, SamplerSettings("ddim", 1), micro_batch, micro_batch)  # warm-up
    print(
        f"{args.preset} preset ({model.num_parameters() / 1e6:.1f} M parameters), {args.size} px, "
        f"batch {args.batch_size}, micro-batch {micro_batch}, {torch.get_num_threads()} threads, "
        f"T = {args.T}"
    )
    print("| sampler | steps | s/image | images/s | how |\n|---|---|---|---|---|")
    runs = [("ddpm", args.T, args.ddpm_steps), ("ddim", 50, 50), ("dpmpp2m", 20, 20)]
    for method, steps, measured in runs:
        settings = SamplerSettings(method, measured)
        per_step = (
            seconds_per_image(checkpoint, settings, args.batch_size, micro_batch, args.repeats)
            / measured
        )
        per_image = per_step * steps
        how = (
            "measured"
            if measured == steps
            else f"{measured} of {steps} steps measured, x {steps // measured}"
        )
        print(f"| {method} | {steps} | {per_image:.2f} | {1 / per_image:.3f} | {how} |")
    if args.compare_micro_batch:
        compare_micro_batch(checkpoint, args.batch_size, micro_batch)


def compare_micro_batch(checkpoint, batch: int, micro_batch: int, rounds: int = 3) -> None:
    """dpmpp2m (20 steps) with the fixed micro-batch vs the whole batch per network call."""
    settings = SamplerSettings("dpmpp2m", 20)
    fixed, whole = [], []
    for _ in range(rounds):
        fixed.append(seconds_per_image(checkpoint, settings, batch, micro_batch))
        whole.append(seconds_per_image(checkpoint, settings, batch, batch))
    ratios = ", ".join(f"{w / f:.2f}" for f, w in zip(fixed, whole))
    print(
        f"dpmpp2m s/image: micro-batch {micro_batch}: {statistics.median(fixed):.3f}, "
        f"one call of {batch}: {statistics.median(whole):.3f} "
        f"(one-call time / micro-batch time, by round: {ratios})"
    )


if __name__ == "__main__":
    main()

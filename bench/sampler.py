"""Sampler overhead: time spent outside the network per network call, for every sampler.

    python bench/sampler.py                # default preset, 64 px, batch 16, 10 steps per method
    python bench/sampler.py --preset small --steps 20

The network call is timed from inside model_fn, so "sampler" is everything else sample() does
per call (schedule lookups, the update, noise, callbacks). Goal: <= 5% of the forward time.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from picodiff.diffusion import SAMPLERS, NoiseSchedule, sample
from picodiff.models import UNet, UNetConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default", help="UNet preset")
    parser.add_argument("--size", type=int, default=64, help="image side in pixels")
    parser.add_argument("--batch", type=int, default=16, help="images per batch")
    parser.add_argument("--steps", type=int, default=10, help="denoising steps per method")
    parser.add_argument("--repeats", type=int, default=3, help="runs per method (median)")
    args = parser.parse_args()
    torch.manual_seed(0)
    model = UNet(UNetConfig.preset(args.preset, image_size=args.size)).eval()
    schedule = NoiseSchedule.linear(1000)
    shape = (args.batch, 3, args.size, args.size)
    print(f"{args.preset} preset, {args.size} px, batch {args.batch}, {args.steps} steps, CPU")
    print(f"{'method':<12} {'forward s/call':>15} {'sampler s/call':>15} {'overhead':>9}")
    for method in SAMPLERS:
        overheads, forwards = [], []
        for repeat in range(args.repeats):
            in_model, calls = 0.0, 0

            def model_fn(x, t):
                nonlocal in_model, calls
                start = time.perf_counter()
                out = model(x, t)
                in_model += time.perf_counter() - start
                calls += 1
                return out

            start = time.perf_counter()
            with torch.inference_mode():
                sample(
                    model_fn,
                    schedule,
                    shape,
                    sampler=method,
                    steps=args.steps,
                    eta=1.0 if method == "ddim" else 0.0,
                    generator=torch.Generator().manual_seed(repeat),
                )
            total = time.perf_counter() - start
            forwards.append(in_model / calls)
            overheads.append((total - in_model) / calls)
        forward, overhead = statistics.median(forwards), statistics.median(overheads)
        print(f"{method:<12} {forward:>15.4f} {overhead:>15.5f} {overhead / forward:>8.2%}")


if __name__ == "__main__":
    main()

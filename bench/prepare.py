"""Preparation speed: 1024-px JPEGs -> 84-px store rows, ours vs a naive full-decode resize.

    python bench/prepare.py                    # 48 images, 84 px, 5 repeats
    python bench/prepare.py --images 96 --size 64 --repeats 7

"ours" is picodiff's decoder (reduced-scale JPEG decoding via PIL's draft, then Lanczos);
"naive" is Image.open(...).convert("RGB").resize((size, size), LANCZOS), what the pb2025
project did. Both run in this one process, interleaved, on the same files (real skimage photos
upscaled to 1024 px with noise added, JPEG quality 90), so the ratio holds on a noisy machine.
"end to end" runs `picodiff prepare` itself (store writing included) with 1 and 2 workers on 5
links per JPEG. The projection for the full 257,730-image Pico-Banana SFT set takes 16 times the
one-core rate, or the rate at which the main process (reading results, writing the store) keeps
up, whichever is lower.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data as skimage_data

from picodiff.data.images import ImageSpec, load_image
from picodiff.data.prepare import PrepareOptions, prepare

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field")
FULL_SET, WORKERS = 257_730, 16
COPIES = 5  # links per JPEG in the end-to-end runs


def make_jpegs(folder: Path, count: int, side: int) -> list[Path]:
    """`count` JPEGs with a long side of `side` px: real photos, upscaled, plus mild noise."""
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        image = Image.fromarray(getattr(skimage_data, PHOTOS[i % len(PHOTOS)])())
        scale = side / max(image.size)
        image = image.resize(
            (round(image.width * scale), round(image.height * scale)), Image.BICUBIC
        )
        noisy = np.asarray(image, dtype=np.float32) + rng.normal(
            0, 6, (image.height, image.width, 3)
        )
        paths.append(folder / f"{i:04d}.jpg")
        Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(paths[-1], quality=90)
    return paths


def naive_row(path: Path, size: int) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB").resize((size, size), Image.LANCZOS))


def images_per_second(convert, paths: list[Path]) -> float:
    start = time.perf_counter()
    for path in paths:
        convert(path)
    return len(paths) / (time.perf_counter() - start)


def end_to_end(folder: Path, out: Path, size: int, workers: int) -> tuple[float, float]:
    """images/s of `picodiff prepare` itself (startup, decoding, store writing), and the CPU
    seconds per image its main process spent (reading results, writing the store)."""
    options = PrepareOptions(size, resize="squash", workers=workers, progress=False)
    cpu = time.process_time()
    report = prepare(folder, out, options)
    return report.kept / report.elapsed, (time.process_time() - cpu) / report.kept


def per_core_rates(paths: list[Path], size: int, repeats: int) -> tuple[float, float]:
    """Median images/s of ours and of the naive path, timed alternately in this process."""
    spec = ImageSpec(size, resize="squash")
    rates: dict[str, list[float]] = {"ours": [], "naive": []}
    for _ in range(repeats):
        rates["ours"].append(images_per_second(lambda p: load_image(p, spec), paths))
        rates["naive"].append(images_per_second(lambda p: naive_row(p, size), paths))
    return statistics.median(rates["ours"]), statistics.median(rates["naive"])


def linked_copies(paths: list[Path], folder: Path, copies: int) -> Path:
    """`folder` holding `copies` hard links per file (a bigger run, so start-up is amortised)."""
    folder.mkdir()
    for copy in range(copies):
        for path in paths:
            (folder / f"{copy}-{path.name}").hardlink_to(path)
    return folder


def print_report(args, ours: float, naive: float, e2e: dict[int, tuple[float, float]]) -> None:
    print(f"{args.images} JPEGs, long side {args.side} px -> {args.size} px rows")
    print(f"{'path':<28} {'images/s':>9}")
    print(f"{'naive (full decode), 1 core':<28} {naive:>9.1f}")
    print(f"{'ours (draft), 1 core':<28} {ours:>9.1f}   {ours / naive:.1f}x naive")
    for workers, (rate, _) in e2e.items():
        label = f"picodiff prepare, {workers} worker(s)"
        print(f"{label:<28} {rate:>9.1f}   {COPIES * args.images} images, store included")
    main_cap = 1 / e2e[2][1]  # the main process alone keeps up with this many images/s
    print(f"main process: {1000 * e2e[2][1]:.2f} ms CPU/image (caps a run at {main_cap:,.0f}/s)")
    for name, rate in (("ours", ours), ("naive", naive)):
        minutes = FULL_SET / min(rate * WORKERS, main_cap) / 60
        print(f"projected {FULL_SET:,} images on {WORKERS} workers, {name}: {minutes:.1f} min")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=48, help="JPEGs to generate")
    parser.add_argument("--side", type=int, default=1024, help="long side of the JPEGs")
    parser.add_argument("--size", type=int, default=84, help="store resolution")
    parser.add_argument("--repeats", type=int, default=5, help="timed passes (median)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp, "jpegs")
        folder.mkdir()
        paths = make_jpegs(folder, args.images, args.side)
        ours, naive = per_core_rates(paths, args.size, args.repeats)
        many = linked_copies(paths, Path(tmp, "many"), COPIES)
        e2e = {w: end_to_end(many, Path(tmp, f"store{w}"), args.size, w) for w in (1, 2)}
    print_report(args, ours, naive, e2e)


if __name__ == "__main__":
    main()

"""Turn an image collection into a training-ready dataset store (uint8 arrays + dataset.json).

Examples:
    picodiff prepare photos/ --out stores/photos-64 --size 64
    picodiff prepare sft.jsonl --out stores/pico-84 --size 84 --resize squash
    picodiff prepare https://ml-site.cdn-apple.com/datasets/pico-banana-300k/nb/jsonl/sft.jsonl \\
        --out stores/pico-edited-64 --size 64 --images edited --limit 1000
    picodiff prepare sft.jsonl --out stores/pico-84 --size 84 --resize squash \\
        --openimages-dir openimage_source_images \\
        --openimages-csv train-images-boxable-with-rotation.csv
    picodiff prepare cifar-10-batches-py --out stores/cifar10-32 --size 32
    picodiff prepare celeba/ --out stores/celeba-64 --size 64
    picodiff prepare digits --out stores/digits-32 --size 32
    picodiff prepare fashion-mnist --out stores/fashion-32 --size 32   # Debian's Fashion-MNIST
    picodiff prepare mnist-idx/ --out stores/mnist-32 --size 32 --class-names 0,1,2,3,4,5,6,7,8,9
    picodiff prepare emoji-datasource-twitter-16.0.0.tgz emoji-datasource-google-16.0.0.tgz \
        --out stores/emoji-64 --size 64 --skin-tones drop --drop-category Flags

Unusable files are listed in OUT/skipped.jsonl and the run goes on. Downloads are cached in
--cache-dir (default ~/.cache/picodiff/downloads), so a rerun fetches only what is missing.
PNGs that picodiff generated (its `picodiff` text chunk) are skipped as `generated` unless
--allow-generated: training on a model's own outputs feeds its errors back into it. A
re-encoded copy (a JPEG re-save, a screenshot) has lost the chunk and is not detected.
"""

from __future__ import annotations

import argparse
import os
import shlex
from pathlib import Path

from ..data.download import DownloadOptions, default_cache_dir
from ..data.images import DEFAULT_MAX_PIXELS, RESIZE_POLICIES, parse_colour
from ..data.prepare import SKIPPED_FILE, PrepareOptions, PrepareReport, prepare
from ..data.sources import FORMATS, PicoBananaOptions, SourceOptions, detect_format
from ..data.sources.emoji import SKIN_TONES
from ..data.sources.picobanana import CDN_BASE_URL, PICO_IMAGES
from ..errors import UserError

# Pico-Banana flags are absent from args unless given (default=SUPPRESS), so that they can be
# refused for other formats; these are their defaults.
_PICO_DEFAULTS = {
    "images": "source",
    "base_url": CDN_BASE_URL,
    "edit_type": [],
    "openimages_dir": None,
    "openimages_csv": None,
    "cache_dir": None,
    "download_threads": 16,
    "rate_limit": 10.0,
    "timeout": 30.0,
    "retries": 5,
    "backoff": 1.0,
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "source",
        nargs="+",
        help="folder, Pico-Banana .jsonl/.txt (path or URL), CIFAR-10, CelebA or MNIST-format "
        "IDX directory, emoji npm packages (.tgz or folder; several go into one store), or the "
        "word 'digits' or 'fashion-mnist'",
    )
    parser.add_argument("--out", required=True, type=Path, help="store directory to write")
    parser.add_argument("--size", required=True, type=int, help="image side in pixels")
    _add_image_arguments(parser.add_argument_group("images"))
    _add_run_arguments(parser.add_argument_group("split and run"))
    _add_format_arguments(parser.add_argument_group("emoji packages and IDX directories"))
    pico = parser.add_argument_group("Pico-Banana sources", argument_default=argparse.SUPPRESS)
    _add_picobanana_arguments(pico)
    _add_download_arguments(pico)


def _add_image_arguments(group) -> None:
    group.add_argument("--format", default="auto", choices=("auto", *FORMATS), help="source format")
    group.add_argument(
        "--channels",
        type=int,
        choices=(3, 1),
        help="3 (RGB) or 1 (gray); None: 1 for digits, else 3",
    )
    group.add_argument(
        "--resize",
        default="center-crop",
        choices=RESIZE_POLICIES,
        help="fit to a square: crop the middle, squash, or pad",
    )
    group.add_argument(
        "--background", default="white", help="behind transparency and padding (name, #rrggbb)"
    )
    group.add_argument(
        "--max-pixels",
        type=int,
        default=DEFAULT_MAX_PIXELS,
        help="skip larger images as decompression bombs",
    )
    group.add_argument(
        "--allow-generated",
        action="store_true",
        help="keep images that carry picodiff's provenance chunk (skipped as 'generated' "
        "otherwise)",
    )


def _add_run_arguments(group) -> None:
    group.add_argument(
        "--val-fraction", type=float, default=0.05, help="share of images in the val split"
    )
    group.add_argument("--seed", type=int, default=0, help="seed of the val split's hash")
    group.add_argument(
        "--ignore-official-split",
        action="store_true",
        help="use --val-fraction for CIFAR-10, CelebA and IDX (t10k) too",
    )
    group.add_argument("--workers", type=int, default=_cpu_count(), help="decoding processes")
    group.add_argument("--limit", type=int, help="use only the first M images of the source")
    group.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_format_arguments(group) -> None:
    group.add_argument(
        "--skin-tones",
        choices=SKIN_TONES,
        default="keep",
        help="emoji: keep or drop the skin-tone variants",
    )
    group.add_argument(
        "--drop-category",
        action="append",
        default=[],
        metavar="CATEGORY",
        help="emoji: leave out a category, e.g. Flags (repeatable)",
    )
    group.add_argument(
        "--class-names",
        help="IDX: comma-separated name of each label (Fashion-MNIST's are known)",
    )


def _add_picobanana_arguments(group) -> None:
    group.add_argument(
        "--images",
        choices=PICO_IMAGES,
        help="Open Images source photos (default; the pb2025 project's choice) or the edited "
        "outputs",
    )
    group.add_argument("--base-url", help=f"prefix of output_image paths ({CDN_BASE_URL})")
    group.add_argument(
        "--edit-type", action="append", help="keep rows of this edit_type (repeatable)"
    )
    group.add_argument(
        "--openimages-dir", type=Path, help="extracted Open Images images: no downloads"
    )
    group.add_argument("--openimages-csv", type=Path, help="train-images-boxable-with-rotation.csv")


def _add_download_arguments(group) -> None:
    group.add_argument("--cache-dir", type=Path, help=f"download cache ({default_cache_dir()})")
    group.add_argument("--download-threads", type=int, help="parallel downloads (16)")
    group.add_argument("--rate-limit", type=float, help="requests/s to each host (10)")
    group.add_argument("--timeout", type=float, help="seconds without data per attempt (30)")
    group.add_argument("--retries", type=int, help="retries on timeouts, 429 and 5xx (5)")
    group.add_argument("--backoff", type=float, help="first retry wait, doubled each time (1 s)")


def run(args: argparse.Namespace) -> int:
    report = prepare(args.source, args.out, _options(args))
    print(format_summary(report))
    return 0


def _options(args: argparse.Namespace) -> PrepareOptions:
    try:
        background = parse_colour(args.background)
    except ValueError as err:
        raise UserError(f"--background: {err}") from None
    picobanana, download = _picobanana_options(args)
    classes = tuple(c.strip() for c in args.class_names.split(",")) if args.class_names else ()
    sources = SourceOptions(
        skin_tones=args.skin_tones,
        drop_categories=tuple(args.drop_category),
        classes=classes,
        picobanana=picobanana,
        download=download,
    )
    return PrepareOptions(
        size=args.size,
        format=args.format,
        channels=args.channels,
        resize=args.resize,
        background=background,
        val_fraction=args.val_fraction,
        seed=args.seed,
        workers=args.workers,
        limit=args.limit,
        max_pixels=args.max_pixels,
        allow_generated=args.allow_generated,
        official_split=not args.ignore_official_split,
        sources=sources,
        command=command_line(args),
        progress=not args.quiet,
    )


def _picobanana_options(args: argparse.Namespace):
    """(PicoBananaOptions, DownloadOptions) with defaults filled in; a UserError if Pico-Banana
    flags are given for another format."""
    given = [name for name in _PICO_DEFAULTS if hasattr(args, name)]
    fmt = detect_format(args.source) if args.format == "auto" else args.format
    if given and fmt != "picobanana":
        flags = ", ".join("--" + name.replace("_", "-") for name in given)
        raise UserError(f"{flags}: Pico-Banana options, but {' '.join(args.source)} is {fmt}")
    value = {**_PICO_DEFAULTS, **{name: getattr(args, name) for name in given}}.get
    picobanana = PicoBananaOptions(
        images=value("images"),
        base_url=value("base_url"),
        edit_types=tuple(value("edit_type")),
        openimages_dir=value("openimages_dir"),
        openimages_csv=value("openimages_csv"),
    )
    download = DownloadOptions(
        cache_dir=value("cache_dir") or default_cache_dir(),
        threads=value("download_threads"),
        rate=value("rate_limit"),
        timeout=value("timeout"),
        retries=value("retries"),
        backoff=value("backoff"),
    )
    return picobanana, download


def command_line(args: argparse.Namespace) -> str:
    """The command for dataset.json, general options spelled out with their defaults."""
    words = ["picodiff", "prepare", *args.source]
    for dest, value in vars(args).items():
        if dest in ("source", "command", "run") or value is None or value is False or value == []:
            continue
        flag = "--" + dest.replace("_", "-")
        values = value if isinstance(value, list) else [value]
        for item in values:
            words += [flag] if item is True else [flag, str(item)]
    return shlex.join(words)


def format_summary(report: PrepareReport) -> str:
    """The final lines: kept per split, skipped by reason, duplicates, elapsed."""
    counts = ", ".join(f"{split} {n:,}" for split, n in report.counts.items())
    rate = report.kept / report.elapsed if report.elapsed else 0.0
    lines = [
        f"wrote {report.path}: {report.kept:,} images ({counts}) from "
        f"{report.candidates:,} candidates in {_duration(report.elapsed)} "
        f"({rate:,.1f} images/s)"
    ]
    if report.skipped:
        reasons = ", ".join(f"{r} {n:,}" for r, n in report.skipped.most_common())
        lines.append(
            f"skipped {report.skipped.total():,}: {reasons} "
            f"(listed in {report.path / SKIPPED_FILE})"
        )
    else:
        lines.append("skipped 0")
    lines.append(f"duplicates {report.duplicates:,} (stored once)")
    if report.generated:
        lines.append(f"generated {report.generated:,} kept (--allow-generated)")
    lines += [f"warning: {text}" for text in report.warnings]
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{seconds:.1f}s"


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1

"""Print a dataset store's summary: source, resolution, splits, statistics, the images
picodiff itself generated (skipped or kept), the licence and attribution of its images, how it
was made.

Example:
    picodiff info stores/pico-84
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..data import ImageStore, read_meta


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("store", type=Path, help="dataset store made by 'picodiff prepare'")


def run(args: argparse.Namespace) -> int:
    print(describe_store(args.store))
    return 0


def describe_store(path: Path) -> str:
    """The summary lines; a StoreError (exit code 2) if `path` is not a complete store."""
    meta = read_meta(path)
    splits = {name: len(ImageStore(path, name)) for name in meta["splits"]}  # checks each array
    size, channels = meta["size"], meta["channels"]
    lines = [
        f"store      {path}",
        f"source     {meta.get('source', '?')} ({meta.get('source_format', '?')})",
        f"images     {size}x{size}x{channels}, resize {meta.get('resize', '?')}",
        "splits     " + ", ".join(f"{name} {n:,}" for name, n in splits.items()),
        f"mean       {_numbers(meta.get('mean'))}",
        f"std        {_numbers(meta.get('std'))}",
    ]
    skipped = meta.get("skipped")
    if skipped is not None:
        reasons = ", ".join(f"{r} {n:,}" for r, n in skipped.items()) or "none"
        lines.append(f"skipped    {sum(skipped.values()):,} ({reasons})")
        lines.append(f"duplicates {meta.get('duplicates', 0):,}")
    if "allow_generated" in meta:  # stores made before the check say nothing
        lines.append(f"generated  {_generated(meta)}")
    for i, licence in enumerate(meta.get("licences") or []):
        lines.append(
            f"{'licence' if i == 0 else '':<10} {licence['name']}: {licence['license']}. "
            f"Attribution: {licence['attribution']}"
        )
    lines.append(
        f"made by    picodiff {meta.get('picodiff_version', '?')} at {meta.get('created', '?')}"
    )
    if meta.get("command"):
        lines.append(f"command    {meta['command']}")
    return "\n".join(lines)


def _generated(meta: dict) -> str:
    """How many images with picodiff's provenance chunk were skipped, or kept."""
    if meta["allow_generated"]:
        return f"{meta.get('generated_kept', 0):,} kept (--allow-generated)"
    skipped = (meta.get("skipped") or {}).get("generated", 0)
    return f"{skipped:,} skipped (picodiff provenance)"


def _numbers(values) -> str:
    return "?" if values is None else " ".join(f"{v:.4f}" for v in values)

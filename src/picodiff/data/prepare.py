"""`picodiff prepare`: stream a source's images through worker processes into a dataset store.

    candidates (source order) -> de-duplicate by key -> --limit -> resolve (download / local
    Open Images) -> decode + resize in K processes -> rows written in source order

Unusable images are listed in DIR/skipped.jsonl with their reason and the run goes on; so are
images picodiff generated (reason `generated`, see `picodiff.provenance`) unless
allow_generated, which keeps them and marks their index rows. The val split is the source's
official one (CIFAR-10, CelebA) or, otherwise, a hash of (seed, key): the same image always
lands in the same split, whatever the order, workers or --limit.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Any, Literal

import numpy as np
from tqdm import tqdm

from ..choices import check_fields
from ..errors import UserError
from .images import (
    DEFAULT_MAX_PIXELS,
    ImageSpec,
    Rejected,
    ResizePolicy,
    decode_image,
    from_array,
)
from .parallel import ordered_map
from .sources import Format, Source, SourceOptions, open_source
from .sources.base import Item
from .store import StoreError, StoreWriter, read_meta

SKIPPED_FILE = "skipped.jsonl"
Row = tuple[np.ndarray, dict[str, Any] | None]  # a decoded row and its picodiff provenance


@dataclass(frozen=True)
class PrepareOptions:
    size: int
    format: Format | Literal["auto"] = "auto"
    channels: int | None = None  # None: the source's default (1 for digits, else 3)
    resize: ResizePolicy = "center-crop"
    background: tuple[int, int, int] = (255, 255, 255)
    val_fraction: float = 0.05
    seed: int = 0
    workers: int = 1
    limit: int | None = None
    max_pixels: int = DEFAULT_MAX_PIXELS
    official_split: bool = True
    allow_generated: bool = False  # keep images carrying picodiff's provenance chunk
    sources: SourceOptions = field(default_factory=SourceOptions)
    command: str | None = None  # recorded in dataset.json
    progress: bool = True


@dataclass
class PrepareReport:
    path: Path
    source_format: str
    candidates: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    skipped: Counter = field(default_factory=Counter)
    duplicates: int = 0
    generated: int = 0  # generated images kept (allow_generated); skipped ones are in skipped
    elapsed: float = 0.0
    warnings: list[str] = field(default_factory=list)

    @property
    def kept(self) -> int:
        return sum(self.counts.values())


def prepare(
    source: str | os.PathLike | Sequence[str], out: str | Path, options: PrepareOptions
) -> PrepareReport:
    """Build the store `out` from `source` (several: emoji packages); returns what was kept
    and skipped."""
    _validate(options)
    one = isinstance(source, (str, os.PathLike))
    sources = [str(source)] if one else [str(s) for s in source]
    for one in sources:
        _check_out(Path(out), one)
    src = open_source(
        options.format, sources, official_split=options.official_split, options=options.sources
    )
    source = " ".join(sources)
    spec = ImageSpec(
        options.size,
        options.channels or src.default_channels,
        options.resize,
        options.background,
        options.max_pixels,
        options.allow_generated,
    )
    report = PrepareReport(Path(out), src.name)
    report.candidates = sum(1 for _ in _selected(src.candidates(), options.limit, Counter()))
    start = time.perf_counter()
    duplicates: Counter = Counter()
    items = src.resolve(_selected(src.candidates(), options.limit, duplicates))
    with StoreWriter(out, spec.size, spec.channels) as writer:
        _write_rows(writer, items, spec, options, report)
        report.duplicates, report.warnings = duplicates["count"], src.warnings()
        report.elapsed = time.perf_counter() - start
        if report.kept == 0:
            raise UserError(f"no image of {source} could be used ({_reasons(report.skipped)})")
        writer.commit(_metadata(source, src, spec, options, report))
    return report


def decode_chunk(items: list[Item], spec: ImageSpec) -> list[Row | Rejected]:
    """Worker task: each item's row and provenance, or why it was rejected."""
    return [_decode(item, spec) for item in items]


def split_of(key: str, seed: int, val_fraction: float) -> str:
    """'val' for a stable pseudo-random `val_fraction` of keys, else 'train'."""
    digest = hashlib.blake2b(f"{seed}:{key}".encode(), digest_size=8).digest()
    return "val" if int.from_bytes(digest, "big") / 2**64 < val_fraction else "train"


def _decode(item: Item, spec: ImageSpec) -> Row | Rejected:
    if item.rejected is not None:
        return item.rejected
    try:
        if item.pixels is not None:
            return from_array(item.pixels, spec), None
        return decode_image(item.data if item.data is not None else item.path, spec)
    except Rejected as rejected:
        return rejected
    except Exception as err:  # one odd file must not end a 250k-image run; it is listed
        return Rejected("decode-error", f"{type(err).__name__}: {err}")


def _selected(items: Iterable[Item], limit: int | None, duplicates: Counter) -> Iterator[Item]:
    """The first `limit` items with a key not seen before (repeats are counted)."""
    seen: set[str] = set()

    def unique() -> Iterator[Item]:
        for item in items:
            if item.key in seen:
                duplicates["count"] += 1
                continue
            seen.add(item.key)
            yield item

    return islice(unique(), limit)


def _write_rows(writer: StoreWriter, items, spec, options, report: PrepareReport) -> None:
    task = partial(decode_chunk, spec=spec)
    bar = tqdm(
        total=report.candidates,
        unit="img",
        desc="prepare",
        disable=not options.progress,
        dynamic_ncols=True,
        smoothing=0.05,
    )
    with bar, open(writer.tmp / SKIPPED_FILE, "w") as skipped:
        for item, result in ordered_map(task, items, options.workers):
            if isinstance(result, Rejected):
                report.skipped[result.reason] += 1
                line = {**item.provenance, "reason": result.reason, "detail": result.detail}
                skipped.write(json.dumps(line) + "\n")
                bar.set_postfix(skipped=report.skipped.total(), refresh=False)
            else:
                row, made = result
                split = item.split or split_of(item.key, options.seed, options.val_fraction)
                report.generated += made is not None
                index = item.provenance if made is None else {**item.provenance, "generated": made}
                writer.add(split, row, index)
            bar.update()
    report.counts = writer.counts()


def _metadata(source, src: Source, spec: ImageSpec, options, report) -> dict[str, Any]:
    return {
        "source": str(source),
        "source_format": src.name,
        "resize": spec.resize,
        "background": list(spec.background),
        "val_fraction": options.val_fraction,
        "seed": options.seed,
        "official_split": options.official_split,
        "allow_generated": options.allow_generated,
        "generated_kept": report.generated,  # the skipped ones: skipped["generated"]
        "limit": options.limit,
        "candidates": report.candidates,
        "skipped": dict(sorted(report.skipped.items())),
        "duplicates": report.duplicates,
        "source_details": src.describe(),
        "licences": src.licences(),
        "command": options.command,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "elapsed_s": round(report.elapsed, 1),
    }


def _reasons(skipped: Counter) -> str:
    if not skipped:
        return "the source lists no images"
    return "skipped: " + ", ".join(f"{reason} {n:,}" for reason, n in skipped.most_common())


def _check_out(out: Path, source: str) -> None:
    """Refuse an --out that replacing would destroy: a file, a non-store directory, the source."""
    source_path = Path(source).resolve()
    if out.resolve() == source_path or out.resolve() in source_path.parents:
        raise UserError(f"--out {out} would replace the source {source}; choose another --out")
    if out.is_file() or (out.is_dir() and any(out.iterdir())):
        try:
            read_meta(out)
        except StoreError:
            raise UserError(
                f"--out {out} exists and is not a dataset store; choose another path or remove it"
            ) from None


def _validate(options: PrepareOptions) -> None:
    check_fields(options)  # resize: one of ResizePolicy
    checks = [
        (options.size >= 1, f"--size must be >= 1, not {options.size}"),
        (options.channels in (None, 1, 3), f"--channels must be 1 or 3, not {options.channels}"),
        (0 <= options.val_fraction < 1, "--val-fraction must be in [0, 1)"),
        (options.workers >= 1, "--workers must be >= 1"),
        (options.limit is None or options.limit >= 1, "--limit must be >= 1"),
    ]
    for ok, message in checks:
        if not ok:
            raise UserError(message)

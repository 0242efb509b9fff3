"""FID against the number of network evaluations (NFE), for every sampler, on a real model.

    python bench/nfe.py fashion-32 --ref STORE --n 500
    python bench/nfe.py fashion-32 --ref STORE --nfe 10 --spacings linear trailing logsnr karras
    python bench/nfe.py fashion-32 --ref STORE --nfe 10 --samplers ddim dpmpp2m --ode-error 40

Every point draws the same n images (seeds (0, 0..n-1)) from MODEL (a checkpoint, run folder
or bundled model's name) and measures FID with the standard Inception network (clean resize)
against all of the reference store's val split (for fashion-32: `picodiff prepare fashion-mnist
--out STORE --size 32`, whose val split is the 10,000 test images); the reference line is
ancestral DDPM with all T steps. NFE counts network calls: Heun makes 2 a step but the last, so
NFE k is (k + 1) // 2 of its steps (k calls for odd k, k - 1 for even k). Each sampler runs
at its default spacing, or at each of --spacings. A class-conditional model draws what its
users draw: image i of class i mod the number of classes, at --guidance (default: the model's
own; picodiff.models.conditioning.default_guidance), into points named with that guidance; its
reference line is not drawn (all T steps at twice the rows is hours on a CPU).

Nothing is lost when it stops: each batch of drawn images is kept under OUT/images/, each
finished point in OUT/POINT.json, and a rerun measures only what is missing (OUT/model.json names
the model version they come from; another version is refused). OUT defaults to
bench/results/nfe-MODEL, whose point files are committed (the images are not), so the curve can
be measured in pieces, on several machines. --record writes the presets the curve picks (fast,
balanced, best; picodiff.sampling.presets) into the model's metadata. Points run in
--nfe order (10 and 5 first: the goals), the reference after the first two; --table prints the table
and draws --plot from the points measured so far without measuring more.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
from quality import (  # bench/quality.py: FID/KID against a store's val split
    Judge,
    command_line,
    record_metadata,
)

from picodiff.diffusion import SAMPLERS, SamplerSettings
from picodiff.diffusion.settings import DEFAULT_SPACING
from picodiff.models.conditioning import classes_in_turn, default_guidance
from picodiff.pixels import to_uint8
from picodiff.provenance import model_version
from picodiff.sampling import open_checkpoint, sample_images
from picodiff.sampling.presets import pick_presets
from picodiff.training.plot import plot_series

BATCH = 50


def steps_for(sampler: str, nfe: int) -> int:
    return (nfe + 1) // 2 if sampler == "heun" else nfe


class Points:
    """The cached points of one (model, n) under `out`, measuring the missing ones on demand."""

    def __init__(self, args: argparse.Namespace):
        self.args, self.out = args, Path(args.out)
        self.model = open_checkpoint(args.model)
        self.T = self.model.schedule.T
        self.condition = conditioned(self.model, args.guidance)
        self.tag = f"-w{self.condition['guidance']:g}" if self.condition else ""
        self._judge: Judge | None = None
        self._workers: ProcessPoolExecutor | None = None
        self._check_version()

    def _check_version(self) -> None:
        """OUT/model.json names the model version its points and images come from: another
        version (a retrained model of the same name) needs its own --out."""
        version, record = model_version(self.model), self.out / "model.json"
        if record.exists():
            kept = json.loads(record.read_text())["version"]
            if kept != version:
                raise SystemExit(
                    f"{self.out} holds points of {self.args.model} version {kept}, not {version} "
                    "(this one): give another --out"
                )
        else:
            record.write_text(json.dumps({"model": self.args.model, "version": version}) + "\n")

    def path(self, sampler: str, spacing: str, steps: int) -> Path:
        return self.out / f"{sampler}-{spacing}-{steps}-n{self.args.n}{self.tag}.json"

    def cached(self, sampler: str, spacing: str, steps: int) -> dict | None:
        path = self.path(sampler, spacing, steps)
        return json.loads(path.read_text()) if path.exists() else None

    def measure(self, sampler: str, spacing: str, steps: int) -> dict:
        found = self.cached(sampler, spacing, steps)
        if found is not None:
            return found
        self._judge = self._judge or Judge(self.args.ref)
        images, sample_seconds = self.images(sampler, spacing, steps)
        started = time.perf_counter()
        figures = self._judge(images)
        result = {
            "sampler": sampler,
            "spacing": spacing,
            "steps": steps,
            "n": self.args.n,
            **({"guidance": self.condition["guidance"]} if self.condition else {}),
            "fid": figures["fid"],
            "kid": figures["kid"],
            "sample_seconds": round(sample_seconds, 1),
            "feature_seconds": round(time.perf_counter() - started, 1),
        }
        self.path(sampler, spacing, steps).write_text(json.dumps(result, indent=2))
        print(f"{sampler:12s} {spacing:8s} {steps:4d} steps: FID {result['fid']:.2f}", flush=True)
        return result

    def images(self, sampler: str, spacing: str, steps: int) -> tuple[np.ndarray, float]:
        """The n images of a point (uint8), drawing the batches not kept yet (in --jobs
        processes)."""
        folder = self.out / "images" / f"{sampler}-{spacing}-{steps}{self.tag}"
        folder.mkdir(parents=True, exist_ok=True)
        settings = SamplerSettings(sampler, steps, spacing=spacing)  # type: ignore[arg-type]
        batches = [range(k, min(k + BATCH, self.args.n)) for k in range(0, self.args.n, BATCH)]
        kept = [folder / f"{batch.start:06d}-{batch.stop:06d}.npz" for batch in batches]
        missing = [(b, path) for b, path in zip(batches, kept) if not path.exists()]
        if self.args.jobs > 1 and len(missing) > 1:
            more = [settings] * len(missing), [self.condition] * len(missing)
            list(self._pool().map(_draw, *zip(*missing), *more))
        else:
            for batch, path in missing:
                draw_batch(self.model, batch, path, settings, self.condition)
        parts, seconds = [], 0.0
        for path in kept:
            with np.load(path) as saved:
                parts.append(saved["images"])
                seconds += float(saved["seconds"])
        return np.concatenate(parts), seconds

    def close(self) -> None:
        if self._workers is not None:
            self._workers.shutdown(cancel_futures=True)

    def _pool(self) -> ProcessPoolExecutor:
        """--jobs processes, each with its share of the CPU's threads and its own model."""
        if self._workers is None:
            threads = max(1, torch.get_num_threads() // self.args.jobs)
            self._workers = ProcessPoolExecutor(
                self.args.jobs,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker,
                initargs=(self.args.model, threads),
            )
        return self._workers


def conditioned(model, guidance: float | None) -> dict:
    """How a class-conditional model's points draw ({} for another model): the guidance,
    --guidance or the model's own default."""
    if model.conditioning is None or model.conditioning.kind != "class":
        return {}
    own = default_guidance(model.metadata) if guidance is None else guidance
    return {"conditioning": model.conditioning, "guidance": own}


def draw_batch(model, batch: range, path: Path, settings: SamplerSettings, condition: dict) -> None:
    """Draw one batch of seeds and keep it (uint8 images and the seconds it took); with a
    condition, image i of class i mod its classes."""
    began = time.perf_counter()
    pixels = to_uint8(
        sample_images(model, batch, settings, micro_batch=10, **guided(condition, batch))
    )
    np.savez(path, images=pixels, seconds=time.perf_counter() - began)


def guided(condition: dict, batch: range) -> dict:
    """sample_images' options for a batch drawn under `condition` (conditioned's)."""
    return classes_in_turn(condition.get("conditioning"), batch, condition.get("guidance"))


_worker_model = None  # a --jobs process's model


def _start_worker(model: str, threads: int) -> None:
    global _worker_model
    torch.set_num_threads(threads)
    _worker_model = open_checkpoint(model)


def _draw(batch: range, path: Path, settings: SamplerSettings, condition: dict) -> None:
    draw_batch(_worker_model, batch, path, settings, condition)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", help="checkpoint, run folder or bundled model name")
    parser.add_argument("--ref", required=True, help="store whose val split is the reference")
    parser.add_argument("--n", type=int, default=500, help="images per point (same seeds)")
    parser.add_argument("--nfe", type=int, nargs="+", default=[10, 5, 8, 15, 20, 50])
    parser.add_argument("--samplers", nargs="+", default=[s for s in SAMPLERS if s != "ddpm"])
    parser.add_argument("--spacings", nargs="+", default=None, help="default: each sampler's")
    parser.add_argument(
        "--out", default=None, help="folder of the kept images and points (bench/results/nfe-MODEL)"
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=2,
        help="processes drawing a point's batches at once, sharing the CPU's threads",
    )
    parser.add_argument(
        "--guidance", type=float, help="class-conditional models: w (default: the model's own)"
    )
    parser.add_argument("--plot", default="docs/nfe-fid.png", help="FID vs NFE chart")
    parser.add_argument("--table", action="store_true", help="only print what is measured")
    parser.add_argument(
        "--record",
        action="store_true",
        help="write the presets (fast, balanced, best) the curve picks into the model's metadata",
    )
    parser.add_argument(
        "--ode-error",
        type=int,
        metavar="K",
        default=0,
        help="instead of FID: each point's RMS "
        "distance to a 400-step DDIM solution of the same ODE, over the first K seeds",
    )
    args = parser.parse_args()
    args.out = args.out or f"bench/results/nfe-{Path(args.model).name}"
    Path(args.out).mkdir(parents=True, exist_ok=True)
    lines = [
        (sampler, spacing)
        for sampler in args.samplers
        for spacing in args.spacings or [DEFAULT_SPACING[sampler]]
    ]
    if args.ode_error:
        return ode_error(open_checkpoint(args.model), lines, args)
    points = Points(args)
    get = points.cached if args.table else points.measure
    try:
        for k, nfe in enumerate(args.nfe):  # the reference after the first two (the goals)
            for sampler, spacing in lines:
                get(sampler, spacing, steps_for(sampler, nfe))
            if k == min(1, len(args.nfe) - 1) and not points.condition:
                get("ddpm", "linear", points.T)
    finally:
        points.close()
    report(points, args, lines, get)
    if args.record:
        record_presets(args, lines, get)


def record_presets(args: argparse.Namespace, lines: list, get) -> None:
    """The presets the measured points pick (picodiff.sampling.presets.pick_presets), into
    the model's metadata: what `picodiff sample`, the server and the page draw with."""
    measured = []
    for sampler, spacing in lines:
        for nfe in args.nfe:
            found = get(sampler, spacing, steps_for(sampler, nfe))
            measured += [{**found, "nfe": nfe, "fid": round(found["fid"], 2)}] if found else []
    presets = pick_presets(measured, command_line())
    for name, p in presets.named.items():
        print(
            f"preset {name}: {p.sampler} ({p.spacing}), {p.steps} steps, NFE {p.nfe}: FID {p.fid}"
        )
    record_metadata(args.model, sampling=presets.to_metadata())


def ode_error(model, lines: list, args: argparse.Namespace) -> None:
    """How far each deterministic sampler lands from the probability-flow ODE's exact end."""
    indices = range(args.ode_error)
    exact = sample_images(model, indices, SamplerSettings("ddim", 400), micro_batch=10)
    print(f"RMS distance to 400-step DDIM over {args.ode_error} images ([-1, 1] pixels)")
    for sampler, spacing in lines:
        cells = []
        for nfe in args.nfe:
            settings = SamplerSettings(sampler, steps_for(sampler, nfe), spacing=spacing)
            images = sample_images(model, indices, settings, micro_batch=10)  # type: ignore
            cells.append(f"NFE {nfe}: {(images - exact).pow(2).mean().sqrt():.3f}")
        print(f"{sampler:12s} {spacing:8s} " + "  ".join(cells), flush=True)


def report(points: Points, args: argparse.Namespace, lines: list, get) -> None:
    reference = None if points.condition else get("ddpm", "linear", points.T)
    ref_fid = reference["fid"] if reference else None
    T, nfes = points.T, sorted(args.nfe)
    measured = f"{ref_fid:.2f}" if ref_fid else "not measured yet"
    drawn = (
        f"every class in turn at guidance {points.condition['guidance']:g}"
        if points.condition
        else f"reference: ancestral DDPM, {T} steps: {measured}"
    )
    print(f"\nFID (n = {args.n}, Inception, clean) against NFE; {drawn}")
    print("| sampler | spacing | " + " | ".join(f"NFE {k}" for k in nfes) + " |")
    print("|---|---|" + "---:|" * len(nfes))
    series, best = {}, {}
    for sampler, spacing in lines:
        cells, line = [], []
        for nfe in nfes:
            found = get(sampler, spacing, steps_for(sampler, nfe))
            if found is None:
                cells.append("-")
                continue
            line.append((nfe, found["fid"]))
            ratio = f" ({found['fid'] / ref_fid:.2f}x)" if ref_fid else ""
            cells.append(f"{found['fid']:.2f}{ratio}")
            if nfe not in best or found["fid"] < best[nfe][1]:
                best[nfe] = (f"{sampler} ({spacing})", found["fid"])
        series[sampler if not args.spacings else f"{sampler} {spacing}"] = line
        print(f"| {sampler} | {spacing} | " + " | ".join(cells) + " |")
    for nfe, (name, fid) in sorted(best.items()):
        ratio = f" = {fid / ref_fid:.2f}x the reference" if ref_fid else ""
        print(f"best at NFE {nfe}: {name}, FID {fid:.2f}{ratio}")
    if ref_fid:
        series[f"ddpm, {T} steps"] = [(nfes[0], ref_fid), (nfes[-1], ref_fid)]
    if any(series.values()):
        plot_series({f"FID (n = {args.n}) vs NFE (log scale)": series}, Path(args.plot), "NFE")
        print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()

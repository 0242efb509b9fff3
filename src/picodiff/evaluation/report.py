"""Side-by-side comparison of model versions: a self-contained HTML page (grids inlined as
base64 PNGs) and a markdown table."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field

from ..checkpoint import Checkpoint
from ..pixels import make_grid, png_bytes
from ..provenance import model_version, provenance


@dataclass
class ModelResult:
    """One model's row of the comparison."""

    name: str
    path: str
    details: dict[str, str]
    parameters: int
    fid: float
    kid: float
    kid_std: float
    seconds_per_image: float
    grid_png: bytes = field(repr=False)


def model_result(
    name: str,
    path: str,
    checkpoint: Checkpoint,
    metrics: dict,
    seconds_per_image: float,
    grid_images,
    *,
    settings=None,
    seed: int | None = None,
) -> ModelResult:
    """A row from a checkpoint, its fid_kid() metrics and uint8 [N, H, W, C] grid images
    (images 0..N-1 of `seed`); the grid PNG carries picodiff's provenance chunks, with the
    sampler settings (a SamplerSettings) and seed when given."""
    sampling = settings.describe() if settings is not None else {}
    made = provenance(
        model=name,
        version=model_version(checkpoint),
        seed=seed,
        index=0,
        count=len(grid_images),
        **sampling,
    )
    return ModelResult(
        name,
        path,
        describe(checkpoint),
        checkpoint.model.num_parameters(),
        metrics["fid"],
        metrics["kid"],
        metrics["kid_std"],
        seconds_per_image,
        png_bytes(make_grid(grid_images), made),
    )


def describe(checkpoint: Checkpoint) -> dict[str, str]:
    """The configuration facts a reader compares: size, network, schedule, training."""
    config, meta = checkpoint.config, checkpoint.metadata
    widths = "-".join(str(c) for c in config.channels)
    loss = meta.get("best_val_loss")
    return {
        "resolution": f"{config.image_size} px, {config.image_channels} channel(s)",
        "network": f"{config.layout} {widths}",
        "schedule": f"{checkpoint.schedule.config.get('name', '?')}, T = {checkpoint.schedule.T}",
        "prediction": checkpoint.prediction,
        "trained steps": str(meta.get("step", "?")),
        "best val loss": f"{loss:.5f}" if isinstance(loss, float) else "?",
    }


def markdown_table(results: list[ModelResult], grid_files: list[str]) -> str:
    """One row per model; grid_files are the grid images' paths relative to the table."""
    head = [
        "model",
        "resolution",
        "network",
        "parameters",
        "schedule",
        "FID",
        "KID",
        "s/image",
        "samples",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for result, grid in zip(results, grid_files):
        d = result.details
        cells = [
            result.name,
            d["resolution"],
            d["network"],
            f"{result.parameters:,}",
            d["schedule"],
            f"{result.fid:.3f}",
            f"{result.kid:.5f} ± {result.kid_std:.5f}",
            f"{result.seconds_per_image:.3f}",
            f"![{result.name}]({grid})",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def html_page(results: list[ModelResult], settings: dict[str, str]) -> str:
    """A page with one column per model; the lowest FID is highlighted."""
    best = min(range(len(results)), key=lambda i: results[i].fid)
    rows = [("path", [r.path for r in results])]
    rows += [(key, [r.details[key] for r in results]) for key in results[0].details]
    rows += [
        ("parameters", [f"{r.parameters:,}" for r in results]),
        ("FID", [f"{r.fid:.3f}" for r in results]),
        ("KID", [f"{r.kid:.5f} ± {r.kid_std:.5f}" for r in results]),
        ("sampling time", [f"{r.seconds_per_image:.3f} s/image" for r in results]),
    ]
    body = "".join(_row(name, values, best) for name, values in rows)
    images = "".join(
        f'<td><img alt="samples" src="data:image/png;base64,'
        f'{base64.b64encode(r.grid_png).decode()}"></td>'
        for r in results
    )
    heads = "".join(f"<th>{html.escape(r.name)}</th>" for r in results)
    facts = " · ".join(f"{html.escape(k)}: {html.escape(v)}" for k, v in settings.items())
    return _PAGE.format(facts=facts, heads=heads, body=body, images=images)


def _row(name: str, values: list[str], best: int) -> str:
    cells = "".join(
        f'<td class="{"best" if i == best and name == "FID" else ""}">{html.escape(v)}</td>'
        for i, v in enumerate(values)
    )
    return f"<tr><th>{html.escape(name)}</th>{cells}</tr>"


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>picodiff model report</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #222; }}
table {{ border-collapse: collapse; }}
th, td {{ border: 1px solid #ccc; padding: .4rem .7rem; text-align: left; vertical-align: top; }}
thead th {{ background: #f3f3f3; }}
td.best {{ background: #e3f6e3; font-weight: bold; }}
img {{ image-rendering: pixelated; width: 256px; }}
</style></head><body>
<h1>Model report</h1>
<p>{facts}</p>
<table><thead><tr><th></th>{heads}</tr></thead>
<tbody>{body}<tr><th>samples</th>{images}</tr></tbody></table>
</body></html>
"""

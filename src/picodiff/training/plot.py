"""A dependency-free chart of a run (PIL): train and validation loss against step, and, when the
run measures it, FID in a second panel; both on log scales."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ..pixels import save_png

WIDTH, PANEL, MARGIN = 640, 400, 56
COLOURS = {"train_loss": (31, 119, 180), "val_loss": (214, 39, 40), "fid": (44, 160, 44)}
CYCLE = [  # matplotlib's tab10
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
]
Series = dict[str, list[tuple[float, float]]]


def plot_losses(series: Series, path: Path, fid: Series | None = None) -> Path:
    """Draw each series of (step, value) points, losses on top and FID below; returns the PNG."""
    panels = {"loss (log scale)": series, **({"FID (log scale)": fid} if fid else {})}
    return plot_series(panels, path)


def plot_series(panels: dict[str, Series], path: Path, x_label: str = "step") -> Path:
    """One panel per title, stacked, sharing the x range; returns the PNG."""
    image = Image.new("RGB", (WIDTH, PANEL * len(panels)), "white")
    draw = ImageDraw.Draw(image)
    first = next(iter(panels.values()))
    x_max = max([s for values in first.values() for s, _ in values] + [1])
    for k, (label, values) in enumerate(panels.items()):
        _panel(draw, k * PANEL, values, label, x_max, x_label)
    return save_png(path, np.asarray(image))


def _panel(draw, top: int, series: Series, label: str, x_max: float, x_label: str) -> None:
    points = [(s, v) for values in series.values() for s, v in values if v > 0]
    if not points:
        return
    x_max = max(x_max, *(s for s, _ in points))
    logs = [math.log10(v) for _, v in points]
    y_lo, y_hi = min(logs), max(logs)
    y_hi = y_hi if y_hi > y_lo else y_lo + 1

    def to_xy(step, value):
        x = MARGIN + (WIDTH - 2 * MARGIN) * step / x_max
        y = top + PANEL - MARGIN - (PANEL - 2 * MARGIN) * (math.log10(value) - y_lo) / (y_hi - y_lo)
        return x, y

    _axes(draw, top, x_max, y_lo, y_hi, label, x_label)
    for row, (name, values) in enumerate(series.items()):
        xy = [to_xy(s, v) for s, v in values if v > 0]
        colour = COLOURS.get(name, CYCLE[row % len(CYCLE)])
        if len(xy) > 1:
            draw.line(xy, fill=colour, width=2)
        for x, y in xy[-1:] if len(xy) > 1 else xy:
            draw.ellipse((x - 3, y - 3, x + 3, y + 3), fill=colour)
        draw.text((WIDTH - MARGIN - 120, top + 10 + 14 * row), name.replace("_", " "), fill=colour)


def _axes(draw, top: int, x_max, y_lo: float, y_hi: float, label: str, x_label: str) -> None:
    left, bottom = MARGIN, top + PANEL - MARGIN
    draw.line([(left, top + MARGIN), (left, bottom), (WIDTH - MARGIN, bottom)], fill="black")
    draw.text((left, bottom + 8), "0", fill="black")
    draw.text((WIDTH - MARGIN - 60, bottom + 8), f"{x_label} {x_max:g}", fill="black")
    draw.text((4, top + MARGIN - 6), f"{10**y_hi:.3g}", fill="black")
    draw.text((4, bottom - 6), f"{10**y_lo:.3g}", fill="black")
    draw.text((4, top + 8), label, fill="black")

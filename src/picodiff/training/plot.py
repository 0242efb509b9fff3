"""A dependency-free loss-curve chart (PIL): train and validation loss against step, log y."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ..pixels import save_png

WIDTH, HEIGHT, MARGIN = 640, 400, 56
COLOURS = {"train_loss": (31, 119, 180), "val_loss": (214, 39, 40)}


def plot_losses(series: dict[str, list[tuple[int, float]]], path: Path) -> Path:
    """Draw each series of (step, loss) points; returns the PNG path."""
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    points = [(s, v) for values in series.values() for s, v in values if v > 0]
    if points:
        x_max = max(max(s for s, _ in points), 1)
        logs = [math.log10(v) for _, v in points]
        y_lo, y_hi = min(logs), max(logs)
        y_hi = y_hi if y_hi > y_lo else y_lo + 1

        def to_xy(step, value):
            x = MARGIN + (WIDTH - 2 * MARGIN) * step / x_max
            y = HEIGHT - MARGIN - (HEIGHT - 2 * MARGIN) * (math.log10(value) - y_lo) / (y_hi - y_lo)
            return x, y

        _axes(draw, x_max, y_lo, y_hi)
        for row, (name, values) in enumerate(series.items()):
            xy = [to_xy(s, v) for s, v in values if v > 0]
            colour = COLOURS.get(name, (0, 0, 0))
            if len(xy) > 1:
                draw.line(xy, fill=colour, width=2)
            for x, y in xy[-1:] if len(xy) > 1 else xy:
                draw.ellipse((x - 3, y - 3, x + 3, y + 3), fill=colour)
            draw.text((WIDTH - MARGIN - 120, 10 + 14 * row), name.replace("_", " "), fill=colour)
    return save_png(path, np.asarray(image))


def _axes(draw: ImageDraw.ImageDraw, x_max: int, y_lo: float, y_hi: float) -> None:
    left, bottom = MARGIN, HEIGHT - MARGIN
    draw.line([(left, MARGIN), (left, bottom), (WIDTH - MARGIN, bottom)], fill="black")
    draw.text((left, bottom + 8), "0", fill="black")
    draw.text((WIDTH - MARGIN - 30, bottom + 8), f"step {x_max}", fill="black")
    draw.text((4, MARGIN - 6), f"{10**y_hi:.3g}", fill="black")
    draw.text((4, bottom - 6), f"{10**y_lo:.3g}", fill="black")
    draw.text((4, 8), "loss (log scale)", fill="black")

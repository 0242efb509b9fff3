"""Models shipped inside the package (README, "The demo model"), usable by name."""

from __future__ import annotations

from pathlib import Path

BUNDLED_MODELS_DIR = Path(__file__).parent / "bundled_models"
# the order `picodiff serve` lists them in (the web page offers the first valid model first)
FEATURED = ("fashion-32", "emoji-32", "digits-demo")


def bundled_model(name: str) -> Path | None:
    """The folder of the bundled model `name`, or None when there is no such model."""
    path = BUNDLED_MODELS_DIR / name
    return path if name and "/" not in name and path.is_dir() else None


def bundled_names() -> list[str]:
    if not BUNDLED_MODELS_DIR.is_dir():
        return []
    return sorted((p.name for p in BUNDLED_MODELS_DIR.iterdir() if p.is_dir()), key=rank)


def rank(name: str) -> tuple[int, str]:
    """Featured models first, in FEATURED's order, then the others by name."""
    return (FEATURED.index(name) if name in FEATURED else len(FEATURED), name)

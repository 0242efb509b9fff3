"""Open what `picodiff sample` is pointed at: a checkpoint directory, a training run directory
(its `best/`, else `last`), or a legacy `.pt`/`.pth` state dict (read with weights_only=True)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from ..bundled import bundled_model, bundled_names
from ..checkpoint import (
    CONFIG_FILE,
    LEGACY_SUFFIXES,
    Checkpoint,
    check_standalone,
    load_checkpoint,
    load_legacy,
)
from ..diffusion import NoiseSchedule
from ..errors import UserError


@dataclass(frozen=True)
class LegacyOptions:
    """What a legacy state dict does not record: its resolution and linear schedule."""

    image_size: int = 64
    T: int = 1000
    beta_start: float = 1e-4
    beta_end: float = 0.02

    def schedule(self) -> NoiseSchedule:
        return NoiseSchedule.linear(self.T, self.beta_start, self.beta_end)


def resolve_checkpoint_dir(path: str | os.PathLike) -> Path:
    """The checkpoint a path names: itself, a run's `best/`, else the run's `last`; a name
    that is no path but a bundled model's (`digits-demo`) names that model."""
    path = Path(path)
    if not path.exists() and (bundled := bundled_model(str(path))):
        return bundled
    if path.suffix in LEGACY_SUFFIXES or (path / CONFIG_FILE).is_file():
        return path
    for candidate in (path / "best", path / "last"):
        if (candidate / CONFIG_FILE).is_file():
            return candidate.resolve()
    if not path.exists():
        raise UserError(
            f"{path}: no such checkpoint, run directory or .pt/.pth file (bundled models: "
            f"{', '.join(bundled_names()) or 'none'})"
        )
    raise UserError(
        f"{path}: not a checkpoint (no {CONFIG_FILE}), a training run directory (no best/ or "
        f"last) or a legacy {'/'.join(LEGACY_SUFFIXES)} file"
    )


def open_checkpoint(
    path: str | os.PathLike,
    *,
    use_ema: bool = True,
    legacy: LegacyOptions | None = None,
    device: torch.device | str = "cpu",
    superres_ok: bool = False,
) -> Checkpoint:
    """Load a model to sample from; super-resolution stages need an input, so they are
    refused unless superres_ok (a cascade's stages)."""
    resolved = resolve_checkpoint_dir(path)
    if resolved.suffix in LEGACY_SUFFIXES:
        legacy = legacy or LegacyOptions()
        try:
            checkpoint = load_legacy(
                resolved, image_size=legacy.image_size, schedule=legacy.schedule(), device=device
            )
        except UserError:
            raise
        except ValueError as err:  # an impossible --image-size or --T
            raise UserError(f"{resolved}: {err}") from None
    else:
        checkpoint = load_checkpoint(resolved, use_ema=use_ema, device=device)
    if not superres_ok:
        check_standalone(checkpoint.config, resolved)
    return checkpoint

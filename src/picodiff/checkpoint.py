"""Model checkpoints: a directory holding `config.json` and safetensors weights.

    my-model/
      config.json          {"format": "picodiff", "model": UNetConfig, "schedule": ...,
                            "prediction": "eps", "metadata": {...}}
      model.safetensors    the trained weights
      ema.safetensors      (optional) exponential moving average of the weights

The directory alone rebuilds its model. Legacy `.pt` / `.pth` state dicts (ours or the seed
project's) load with `torch.load(weights_only=True)` only, so a pickle can never run code.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from . import __version__
from .atomic import make_temp_dir, replace_dir
from .diffusion import NoiseSchedule
from .diffusion.forward import check_prediction
from .errors import UserError
from .models import UNet, UNetConfig, convert_seed_state_dict
from .models.seed import seed_image_channels

CONFIG_FILE, WEIGHTS_FILE, EMA_FILE = "config.json", "model.safetensors", "ema.safetensors"
LEGACY_SUFFIXES = (".pt", ".pth")


class CheckpointError(UserError, ValueError):
    """A checkpoint is missing, incomplete, corrupt or does not match its config."""


@dataclass
class Checkpoint:
    """A loaded model with everything needed to sample from it."""

    model: UNet
    schedule: NoiseSchedule
    prediction: str = "eps"
    metadata: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    @property
    def config(self) -> UNetConfig:
        return self.model.config


def save_checkpoint(
    path: str | os.PathLike,
    model: UNet,
    schedule: NoiseSchedule,
    *,
    prediction: str = "eps",
    ema_state: dict[str, torch.Tensor] | None = None,
    metadata: dict[str, Any] | None = None,
    extra_files: dict[str, bytes] | None = None,
) -> Path:
    """Write a checkpoint directory atomically (a crash never leaves a half-written one).

    extra_files (name -> bytes) are written inside it, e.g. a trainer's resumable state.
    """
    path = Path(path)
    config = {
        "format": "picodiff",
        "picodiff_version": __version__,
        "model": model.config.to_dict(),
        "schedule": schedule.config,
        "prediction": check_prediction(prediction),
        "metadata": metadata or {},
    }
    staging = make_temp_dir(path)
    try:
        save_file(_contiguous(model.state_dict()), staging / WEIGHTS_FILE)
        if ema_state is not None:
            save_file(_contiguous(ema_state), staging / EMA_FILE)
        (staging / CONFIG_FILE).write_text(json.dumps(config, indent=2))
        for name, data in (extra_files or {}).items():
            (staging / name).write_bytes(data)
        replace_dir(staging, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path


def load_checkpoint(
    path: str | os.PathLike, *, use_ema: bool = True, device: torch.device | str = "cpu"
) -> Checkpoint:
    """Load a checkpoint directory (EMA weights when present, unless use_ema=False)."""
    path = Path(path)
    if path.suffix in LEGACY_SUFFIXES:
        return load_legacy(path, device=device)
    config = read_config(path)
    model = build_model(config, path)
    weights = path / (EMA_FILE if use_ema and (path / EMA_FILE).exists() else WEIGHTS_FILE)
    state = read_safetensors(weights)
    load_weights(model, state, weights)
    return Checkpoint(
        model.to(device).eval(),
        NoiseSchedule.from_config(config["schedule"]),
        config.get("prediction", "eps"),
        config.get("metadata", {}),
        path,
    )


def read_config(path: Path) -> dict[str, Any]:
    if not path.is_dir():
        raise CheckpointError(f"{path}: not a checkpoint directory (no such directory)")
    try:
        config = json.loads((path / CONFIG_FILE).read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing {CONFIG_FILE}") from None
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path / CONFIG_FILE}: invalid JSON ({err})") from None
    missing = [k for k in ("model", "schedule") if k not in config]
    if config.get("format") != "picodiff" or missing:
        raise CheckpointError(f"{path / CONFIG_FILE}: not a picodiff config (missing {missing})")
    return config


def build_model(config: dict[str, Any], path: Path) -> UNet:
    try:
        return UNet(UNetConfig.from_dict(config["model"]))
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{path / CONFIG_FILE}: invalid model config: {err}") from None


def read_safetensors(file: Path) -> dict[str, torch.Tensor]:
    if not file.exists():
        raise CheckpointError(f"{file}: missing weights file")
    try:
        return load_file(file)
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{file}: corrupt or truncated safetensors file ({err})") from None


def load_weights(model: UNet, state: dict[str, torch.Tensor], source: Path) -> None:
    """Load a state dict strictly, naming missing, unexpected and mis-shaped tensors."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [
        f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    problems = [
        f"missing {missing[:5]}" if missing else "",
        f"unexpected {unexpected[:5]}" if unexpected else "",
        f"wrong shapes {wrong[:5]}" if wrong else "",
    ]
    if any(problems):
        raise CheckpointError(
            f"{source}: weights do not match the model config: "
            + "; ".join(p for p in problems if p)
        )
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(f"{source}: non-finite values in {bad[:5]}")
    model.load_state_dict(state)


def load_legacy(
    path: Path,
    *,
    image_size: int = 64,
    schedule: NoiseSchedule | None = None,
    device: torch.device | str = "cpu",
) -> Checkpoint:
    """A `.pt`/`.pth` state dict saved by the seed project's code, read with weights_only=True.

    Such files carry no config: the seed network is assumed, at `image_size`, with the seed's
    linear schedule (T = 1000 unless `schedule` says otherwise).
    """
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols it reads anyway
            warnings.simplefilter("ignore", UserWarning)
            raw = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such file") from None
    except pickle.UnpicklingError:  # weights_only refuses anything but tensors and containers
        raise CheckpointError(
            f"{path}: refused: it holds Python objects besides tensors, which could run code "
            "when unpickled (only plain state dicts load, with weights_only=True)"
        ) from None
    except Exception as err:
        raise CheckpointError(
            f"{path}: not a readable PyTorch file ({type(err).__name__}); only plain state "
            "dicts of tensors are accepted"
        ) from None
    if not isinstance(raw, dict):
        raise CheckpointError(f"{path}: expected a state dict, found {type(raw).__name__}")
    try:
        state = convert_seed_state_dict(raw)
    except ValueError as err:
        raise CheckpointError(f"{path}: {err}") from None
    model = UNet(UNetConfig.preset("seed", seed_image_channels(state), image_size=image_size))
    load_weights(model, state, path)
    return Checkpoint(
        model.to(device).eval(), schedule or NoiseSchedule.linear(1000), "eps", {}, path
    )


def _contiguous(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().contiguous().cpu() for k, v in state.items()}

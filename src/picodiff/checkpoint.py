"""Model checkpoints: a directory holding `config.json` and safetensors weights.

    my-model/
      config.json          {"format": "picodiff", "model": UNetConfig, "schedule": ...,
                            "prediction": "eps", "metadata": {...}}
      model.safetensors    the trained weights
      ema.safetensors      (optional) exponential moving average of the weights

The directory alone rebuilds its model. Legacy `.pt` / `.pth` state dicts (ours or the pb2025
project's) load with `torch.load(weights_only=True)` only, so a pickle can never run code.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import stat
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from . import __version__
from .atomic import make_temp_dir, replace_dir
from .choices import check_choice
from .diffusion import NoiseSchedule, Prediction, check_samplable
from .errors import DiskFull, UserError
from .models import UNet, UNetConfig, convert_pb2025_state_dict
from .models.conditioning import ClassConditioning, Conditioning, read_conditioning
from .models.pb2025 import pb2025_image_channels

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
    conditioning: Conditioning | None = None  # what a conditional network takes

    def __post_init__(self) -> None:
        classes = self.model.config.num_classes
        if self.conditioning is None and classes:  # a class network built in code: 0..n-1
            self.conditioning = ClassConditioning(tuple(str(i) for i in range(classes)))

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
    conditioning: Conditioning | None = None,
) -> Path:
    """Write a checkpoint directory atomically (a crash never leaves a half-written one).

    extra_files (name -> bytes) are written inside it, e.g. a trainer's resumable state;
    `conditioning` (a class-conditional network's labels) is recorded in config.json.
    """
    path = Path(path)
    read_conditioning(conditioning and conditioning.to_dict(), model.config)  # they agree
    config = {
        "format": "picodiff",
        "picodiff_version": __version__,
        "model": model.config.to_dict(),
        "schedule": schedule.config,
        "prediction": check_choice("prediction", prediction, Prediction),
        "metadata": metadata or {},
        **({"conditioning": conditioning.to_dict()} if conditioning else {}),
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
    except (OSError, SafetensorError) as err:
        DiskFull.check(err, path)
        raise
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
    spec = read_spec(path)
    model = UNet(spec.model)
    weights = spec.weights_file(use_ema)
    load_weights(model, read_safetensors(weights), weights)
    return Checkpoint(
        model.to(device).eval(),
        spec.schedule,
        spec.prediction,
        spec.metadata,
        path,
        spec.conditioning,
    )


@dataclass(frozen=True)
class CheckpointSpec:
    """A checkpoint directory's config.json, validated: what the model is, before any weights."""

    path: Path
    model: UNetConfig
    schedule: NoiseSchedule
    prediction: str
    metadata: dict[str, Any]
    conditioning: Conditioning | None = None

    def weights_file(self, use_ema: bool = True) -> Path:
        ema = self.path / EMA_FILE
        return ema if use_ema and ema.exists() else self.path / WEIGHTS_FILE


def read_spec(path: Path) -> CheckpointSpec:
    """The validated config of a checkpoint directory (network, schedule, prediction target);
    a CheckpointError names the file and the problem otherwise."""
    config = read_config(path)
    try:
        model = UNetConfig.from_dict(config["model"])
        schedule = NoiseSchedule.from_config(config["schedule"])
        prediction = check_choice("prediction", config.get("prediction", "eps"), Prediction)
        check_samplable(schedule, prediction)
        conditioning = read_conditioning(config.get("conditioning"), model)
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{path / CONFIG_FILE}: invalid config: {err}") from None
    metadata = config.get("metadata") or {}
    return CheckpointSpec(path, model, schedule, prediction, metadata, conditioning)


def inspect_checkpoint(path: Path) -> tuple[CheckpointSpec, UNet]:
    """Validate a checkpoint directory, config and weights, without keeping the weights: the
    spec and its network built on the meta device (shapes and dtypes, no memory)."""
    spec = read_spec(path)
    with torch.device("meta"):
        model = UNet(spec.model)
    weights = spec.weights_file()
    check_weights(read_safetensors(weights), model.state_dict(), weights)
    return spec, model


def check_standalone(config: UNetConfig, where: Path | str) -> None:
    """Refuse to sample a super-resolution stage alone: it needs a low-resolution input."""
    if config.low_res_size:
        raise CheckpointError(
            f"{where}: a super-resolution model ({config.low_res_size} -> {config.image_size} "
            "px): it needs a low-resolution input, so it samples only as a stage of a cascade "
            "(picodiff sample --cascade BASE SR, or a NAME.cascade.yaml)"
        )


MAX_SMALL_FILE = 1 << 20  # config.json, sidecars and cascade files: at most 1 MiB


def read_small_file(file: Path, limit: int = MAX_SMALL_FILE) -> str:
    """The text of a regular file of at most `limit` bytes. Never blocks on a FIFO or device
    and never reads an oversized file; a CheckpointError says what it is instead."""
    try:
        fd = os.open(file, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise CheckpointError(f"{file}: missing") from None
    except OSError as err:
        raise CheckpointError(f"{file}: unreadable ({err.strerror})") from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise CheckpointError(f"{file}: not a regular file")
        if info.st_size > limit:
            raise CheckpointError(f"{file}: {info.st_size:,} bytes, over the {limit:,} allowed")
        data = f.read(limit + 1)
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise CheckpointError(f"{file}: not UTF-8 text") from None


def file_version(file: Path) -> str:
    """A model file's version when its metadata gives none: "sha256:" and 12 hex digits."""
    digest = hashlib.sha256()
    with open(check_regular(file), "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return f"sha256:{digest.hexdigest()[:12]}"


def check_regular(file: Path) -> Path:
    """`file` if it is a regular file (weights are memory-mapped or streamed, never waited on)."""
    try:
        mode = file.stat().st_mode
    except FileNotFoundError:
        raise CheckpointError(f"{file}: missing") from None
    except OSError as err:
        raise CheckpointError(f"{file}: unreadable ({err.strerror})") from None
    if not stat.S_ISREG(mode):
        raise CheckpointError(f"{file}: not a regular file")
    return file


def read_config(path: Path) -> dict[str, Any]:
    if not path.is_dir():
        raise CheckpointError(f"{path}: not a checkpoint directory (no such directory)")
    if not (path / CONFIG_FILE).exists():
        raise CheckpointError(f"{path}: missing {CONFIG_FILE}")
    try:
        config = json.loads(read_small_file(path / CONFIG_FILE))
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path / CONFIG_FILE}: invalid JSON ({err})") from None
    missing = [k for k in ("model", "schedule") if not isinstance(config, dict) or k not in config]
    if missing or config.get("format") != "picodiff":
        raise CheckpointError(f"{path / CONFIG_FILE}: not a picodiff config (missing {missing})")
    for key, kind in (("model", dict), ("schedule", dict), ("metadata", (dict, type(None)))):
        if not isinstance(config.get(key), kind):
            raise CheckpointError(f"{path / CONFIG_FILE}: '{key}' must be a JSON object")
    return config


def read_safetensors(file: Path) -> dict[str, torch.Tensor]:
    if not file.exists():
        raise CheckpointError(f"{file}: missing weights file")
    try:
        return load_file(check_regular(file))
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{file}: corrupt or truncated safetensors file ({err})") from None


def load_weights(model: UNet, state: dict[str, torch.Tensor], source: Path) -> None:
    """Load a state dict strictly, after check_weights."""
    check_weights(state, model.state_dict(), source)
    model.load_state_dict(state)


def check_weights(
    state: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor], source: Path
) -> None:
    """The one check of a checkpoint's tensors against its network: the names, then each
    tensor's shape and kind of dtype, then finite values; a CheckpointError lists what is wrong."""
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        parts = [f"missing {missing[:5]}"] if missing else []
        parts += [f"unexpected {unexpected[:5]}"] if unexpected else []
        raise CheckpointError(
            f"{source}: weights do not match the model config: {'; '.join(parts)}"
        )
    problems = [p for name in sorted(state) if (p := _tensor_problem(name, state, expected))]
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise CheckpointError(
            f"{source}: weights do not match the model config: {'; '.join(problems[:3])}{more}"
        )
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(f"{source}: non-finite values (NaN or inf) in {', '.join(bad[:5])}")


def _tensor_problem(name: str, state, expected) -> str | None:
    tensor, wanted = state[name], expected[name]
    if tensor.shape != wanted.shape:
        return f"{name} has shape {tuple(tensor.shape)}, the config needs {tuple(wanted.shape)}"
    floating = tensor.is_floating_point()
    if floating != wanted.is_floating_point() or (not floating and tensor.dtype != wanted.dtype):
        return f"{name} is {tensor.dtype}, expected {wanted.dtype}"
    return None


def load_legacy(
    path: Path,
    *,
    image_size: int = 64,
    schedule: NoiseSchedule | None = None,
    device: torch.device | str = "cpu",
) -> Checkpoint:
    """A `.pt`/`.pth` state dict saved by the pb2025 project's code, read with weights_only=True.

    Such files carry no config: the pb2025 network is assumed, at `image_size`, with its
    linear schedule (T = 1000 unless `schedule` says otherwise).
    """
    if not Path(path).exists():
        raise CheckpointError(f"{path}: no such file")
    check_regular(Path(path))
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
        state = convert_pb2025_state_dict(raw)
    except ValueError as err:
        raise CheckpointError(f"{path}: {err}") from None
    channels = pb2025_image_channels(state)
    model = UNet(UNetConfig.preset("pb2025", channels, image_size=image_size))
    load_weights(model, state, path)
    return Checkpoint(
        model.to(device).eval(), schedule or NoiseSchedule.linear(1000), "eps", {}, path
    )


def _contiguous(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().contiguous().cpu() for k, v in state.items()}

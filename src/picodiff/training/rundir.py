"""The run directory: resolved config, metrics, loss curve, sample grids and checkpoints.

RUN_DIR/
  config.yaml               the fully resolved TrainConfig (a valid --config file)
  metrics.jsonl             one JSON object per log line or validation
  loss.png                  train and validation loss (and FID), refreshed as training goes
  samples/step-0001000.png  sample grids from the EMA weights, fixed seed
  checkpoints/step-0001000/ checkpoint + training_state.pt (the newest keep_last are kept)
  last -> checkpoints/...   the newest checkpoint (what --resume continues from)
  best/                     the checkpoint with the lowest validation loss
"""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch

from ..checkpoint import (
    EMA_FILE,
    WEIGHTS_FILE,
    CheckpointError,
    read_config,
    read_safetensors,
    save_checkpoint,
)
from ..errors import UserError

TRAINING_STATE = "training_state.pt"
SERIES = ("train_loss", "val_loss", "fid")  # what the run's chart draws


class RunDir:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.config_file = self.path / "config.yaml"
        self.metrics_file = self.path / "metrics.jsonl"
        self.loss_plot = self.path / "loss.png"
        self.samples = self.path / "samples"
        self.checkpoints = self.path / "checkpoints"
        self.last = self.path / "last"
        self.best = self.path / "best"
        # the chart's series, kept in memory as records are appended
        self.series: dict[str, list[tuple[int, float]]] = {k: [] for k in SERIES}

    def check_start(self, resume: bool) -> None:
        """Refuse to overwrite a run by accident, or to resume one that has no checkpoint."""
        has_run = self.last.exists()
        if resume and not has_run:
            raise UserError(f"{self.path}: nothing to resume (no 'last' checkpoint)")
        if not resume and has_run:
            raise UserError(
                f"{self.path} already holds a run; pass --resume to continue it or choose "
                "another --out"
            )

    def save(self, step: int, keep_last: int, training_state: dict[str, Any], **ckpt) -> Path:
        """Write checkpoints/step-N atomically, point `last` at it, prune old ones."""
        buffer = io.BytesIO()
        torch.save(training_state, buffer)
        target = self.checkpoints / f"step-{step:07d}"
        save_checkpoint(target, extra_files={TRAINING_STATE: buffer.getvalue()}, **ckpt)
        link = self.path / ".last.tmp"
        link.unlink(missing_ok=True)
        link.symlink_to(target.relative_to(self.path))
        os.replace(link, self.last)
        for old in sorted(self.checkpoints.glob("step-*"))[:-keep_last]:
            shutil.rmtree(old, ignore_errors=True)
        return target

    def save_best(self, **ckpt) -> Path:
        return save_checkpoint(self.best, **ckpt)

    def load_last(self) -> tuple[dict, dict, dict | None, dict]:
        """(config.json, model weights, EMA weights or None, training state) of `last`."""
        path = self.last.resolve()
        config = read_config(path)
        weights = read_safetensors(path / WEIGHTS_FILE)
        ema = read_safetensors(path / EMA_FILE) if (path / EMA_FILE).exists() else None
        try:
            state = torch.load(path / TRAINING_STATE, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise CheckpointError(f"{path}: missing {TRAINING_STATE}, cannot resume") from None
        except Exception as err:
            raise CheckpointError(
                f"{path / TRAINING_STATE}: corrupt or truncated ({type(err).__name__})"
            ) from None
        return config, weights, ema, state

    def open_tensorboard(self):
        """A SummaryWriter logging to RUN_DIR/tensorboard (needs the tensorboard package)."""
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise UserError(
                "tensorboard: true needs the tensorboard package: pip install tensorboard"
            ) from None
        self._tensorboard = SummaryWriter(str(self.path / "tensorboard"))

    def append_metrics(self, record: dict[str, Any]) -> None:
        """Add a record to metrics.jsonl (and TensorBoard when open)."""
        with open(self.metrics_file, "a") as f:
            f.write(json.dumps(record) + "\n")
        self._track(record)
        writer = getattr(self, "_tensorboard", None)
        if writer is not None:
            for key, value in record.items():
                if key not in ("step", "epoch"):
                    writer.add_scalar(key, value, record["step"])
            writer.flush()

    def read_metrics(self) -> list[dict[str, Any]]:
        if not self.metrics_file.exists():
            return []
        return [json.loads(line) for line in self.metrics_file.read_text().splitlines() if line]

    def truncate_metrics(self, step: int) -> None:
        """Forget records after `step` (they are replayed when a run resumes from there)."""
        kept = [r for r in self.read_metrics() if r["step"] <= step]
        self.metrics_file.write_text("".join(json.dumps(r) + "\n" for r in kept))
        self.series = {k: [] for k in SERIES}
        for record in kept:
            self._track(record)

    def _track(self, record: dict[str, Any]) -> None:
        for key in SERIES:
            if key in record:
                self.series[key].append((record["step"], record[key]))

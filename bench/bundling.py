"""Writing a trained run into the package as a bundled model (bench/bundle_*.py).

A bundled model keeps only what sampling needs, config.json and the EMA weights, under
src/picodiff/bundled_models/NAME, with the metadata its bundling script measured.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from picodiff.checkpoint import CONFIG_FILE, EMA_FILE, read_spec
from picodiff.sampling import resolve_checkpoint_dir
from picodiff.training import resolve_config

BUNDLED = Path(__file__).resolve().parent.parent / "src" / "picodiff" / "bundled_models"


def training_length(metadata: dict) -> str:
    """The `picodiff train` flags that train the run for as long again."""
    minutes = metadata["train_config"].get("max_minutes")
    if minutes:
        return f"--max-minutes {minutes:g}"
    steps = metadata["train_config"].get("max_steps") or metadata["step"]  # a schedule's length
    return f"--set max_minutes=null --max-steps {steps}"


@dataclass(frozen=True)
class Stage:
    """One `picodiff train` of a model's making: its run folder and its checkpoint's metadata."""

    run: str
    metadata: dict

    def train_command(self, store: str, preset: str) -> str:
        """The command that trains this stage again (from the stage before, if any)."""
        config = self.metadata["train_config"]
        init = f" --init {config['init']}" if config.get("init") else ""
        sets = "".join(f" --set {k}={_text(v)}" for k, v in preset_overrides(config, preset))
        return (
            f"picodiff train --data {store} --out {self.run} --preset {preset}{init} "
            f"{training_length(self.metadata)}{sets}"
        )


def stages(run: str, metadata: dict) -> list[Stage]:
    """Each `picodiff train` that made a model, the first first: a run started with --init
    continues the model it names."""
    chain = [Stage(run, metadata)]
    while init := chain[0].metadata["train_config"].get("init"):
        chain.insert(0, Stage(init, read_spec(resolve_checkpoint_dir(init)).metadata))
    return chain


def preset_overrides(config: dict, preset: str) -> list[tuple[str, Any]]:
    """The options of a run's config that its preset does not give (its length and data aside)."""
    base = resolve_config(preset, max_steps=1).to_dict()
    given = {"data", "max_steps", "epochs", "max_minutes", "init"}
    return [(k, v) for k, v in config.items() if k not in given and base.get(k) != v]


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def cpu_weights(metadata: dict, seconds: float | None = None) -> str:
    """What the weights are: the EMA after so long (`seconds`, else the run's) on this CPU."""
    decay = metadata["train_config"]["ema_decay"]
    minutes = (metadata["train_seconds"] if seconds is None else seconds) / 60
    return f"EMA (decay {decay:g}) after {minutes:.0f} minutes of training on a 2-core CPU"


def write_bundle(source: Path, name: str, metadata: dict, store: str) -> Path:
    """Write the checkpoint `source` as the bundled model `name` with `metadata` (its data
    named `store`, as the reproduce commands name it; the training machine's paths dropped)."""
    config = json.loads((source / CONFIG_FILE).read_text())
    metadata = {**metadata, "train_config": {**metadata["train_config"], "data": store}}
    metadata.pop("reference", None)  # a path on the machine that trained it
    config["metadata"] = metadata
    folder = BUNDLED / name
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
    shutil.copy(source / EMA_FILE, folder / EMA_FILE)
    return folder

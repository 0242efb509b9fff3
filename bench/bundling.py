"""Writing a trained run into the package as a bundled model (bench/bundle_*.py).

A bundled model keeps only what sampling needs, config.json and the EMA weights, under
src/picodiff/bundled_models/NAME, with the metadata its bundling script measured.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from picodiff.checkpoint import CONFIG_FILE, EMA_FILE

BUNDLED = Path(__file__).resolve().parent.parent / "src" / "picodiff" / "bundled_models"


def training_length(metadata: dict) -> str:
    """The `picodiff train` flags that train the run for as long again."""
    minutes = metadata["train_config"].get("max_minutes")
    if minutes:
        return f"--max-minutes {minutes:g}"
    return f"--set max_minutes=null --max-steps {metadata['step']}"


def cpu_weights(metadata: dict) -> str:
    """What the weights are: the EMA after so long on this CPU."""
    decay = metadata["train_config"]["ema_decay"]
    minutes = metadata["train_seconds"] / 60
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

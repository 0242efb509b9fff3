"""Writing a trained run into the package as a bundled model (bench/bundle_*.py).

A bundled model keeps only what sampling needs, config.json and the EMA weights, under
src/picodiff/bundled_models/NAME, with the metadata its bundling script measured.
"""

from __future__ import annotations

import json
import shlex
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


def run_folder(path: str) -> str:
    """The run a path names: a checkpoint inside a run folder (`runs/x/last`) names the run."""
    parent = Path(path).parent
    return str(parent) if (parent / "config.yaml").is_file() else path


RECORDED = ("step", "images_seen", "train_seconds")


@dataclass(frozen=True)
class Stage:
    """One `picodiff train` of a model's making: the checkpoint it made (as a later stage's
    --init names it), its length (`RECORDED`) and the command that trains it again."""

    run: str
    record: dict
    command: str


def stages(run: str, metadata: dict, store: str, preset: str) -> list[Stage]:
    """Each `picodiff train` that made a model, the first first: a run started with --init
    continues the model it names; a bundled model recalls the stages that made it."""
    config = metadata["train_config"]
    init = config.get("init")
    earlier: list[Stage] = []
    if init:
        made = read_spec(resolve_checkpoint_dir(init)).metadata
        earlier = recalled(made) if "reproduce" in made else stages(init, made, store, preset)
        init = earlier[-1].run
    sets = "".join(f" --set {k}={_text(v)}" for k, v in preset_overrides(config, preset))
    command = (
        f"picodiff train --data {store} --out {run_folder(run)} --preset {preset}"
        f"{f' --init {init}' if init else ''} {training_length(metadata)}{sets}"
    )
    return [*earlier, Stage(run, {k: metadata[k] for k in RECORDED}, command)]


def recalled(bundled: dict) -> list[Stage]:
    """The stages a bundled model's metadata records: its `stages` beside the `picodiff train`
    lines of its `reproduce`, each made in its command's --out (unless it names its checkpoint)."""
    commands = [c for c in bundled["reproduce"] if c.startswith("picodiff train ")]
    records = bundled["stages"]
    if len(commands) != len(records):
        raise ValueError(
            "a bundled model's stages and its picodiff train commands differ in number"
        )
    return [
        Stage(r.get("run") or _option(c, "--out"), {k: r[k] for k in RECORDED}, c)
        for r, c in zip(records, commands, strict=True)
    ]


def _option(command: str, flag: str) -> str:
    words = shlex.split(command)
    return words[words.index(flag) + 1]


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

"""bench/bundling.py: the training stages a bundled model's metadata records, from the runs
that made it, a run started with --init after the model it continues."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from tiny_models import tiny_checkpoint

from picodiff.checkpoint import read_spec
from picodiff.training import resolve_config

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from bundling import Stage, recalled, stages

SHIPPED_TRAIN = "picodiff train --data s --out runs/a --preset digits-demo --max-minutes 1"


def _checkpoint(path: Path, step: int, seconds: float, train_config: dict, **extra) -> None:
    tiny_checkpoint(path)
    spec = path / "config.json"
    config = json.loads(spec.read_text())
    config["metadata"] = {
        "step": step,
        "images_seen": 64 * step,
        "train_seconds": seconds,
        "train_config": train_config,
        **extra,
    }
    spec.write_text(json.dumps(config))


def _run(folder: Path, step: int, seconds: float, **config) -> str:
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text("preset: digits-demo\n")
    _checkpoint(folder / "last", step, seconds, resolve_config("digits-demo", **config).to_dict())
    return str(folder.relative_to(Path.cwd()) / "last")


@pytest.fixture
def shipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A bundled model made by one run, runs/a, as its metadata records."""
    monkeypatch.chdir(tmp_path)
    _checkpoint(
        tmp_path / "shipped",
        100,
        60.0,
        resolve_config("digits-demo", max_minutes=1).to_dict(),
        stages=[{"step": 100, "images_seen": 6400, "train_seconds": 60.0}],
        reproduce=["npm pack x", SHIPPED_TRAIN, "python bench/bundle_x.py runs/a"],
    )
    return "shipped"


def test_a_chain_of_runs_after_a_bundled_model_replays_each_stage(shipped: str) -> None:
    b = _run(Path("runs/b").resolve(), 50, 30.0, init=shipped, max_steps=50, lr=5e-4)
    c = _run(Path("runs/c").resolve(), 20, 12.5, init=b, max_steps=20)
    made = stages(c, read_spec(Path(c)).metadata, "s", "digits-demo")
    assert made == [
        Stage("runs/a", {"step": 100, "images_seen": 6400, "train_seconds": 60.0}, SHIPPED_TRAIN),
        Stage(
            "runs/b/last",
            {"step": 50, "images_seen": 3200, "train_seconds": 30.0},
            "picodiff train --data s --out runs/b --preset digits-demo --init runs/a "
            "--set max_minutes=null --max-steps 50 --set lr=0.0005",
        ),
        Stage(
            "runs/c/last",
            {"step": 20, "images_seen": 1280, "train_seconds": 12.5},
            "picodiff train --data s --out runs/c --preset digits-demo --init runs/b/last "
            "--set max_minutes=null --max-steps 20",
        ),
    ]


def test_a_recorded_stage_that_names_its_checkpoint_is_continued_from_it() -> None:
    bundled = {
        "stages": [{"run": "runs/a/last", "step": 1, "images_seen": 64, "train_seconds": 1.0}],
        "reproduce": [SHIPPED_TRAIN],
    }
    assert [s.run for s in recalled(bundled)] == ["runs/a/last"]


def test_recorded_stages_that_do_not_match_their_commands_are_refused() -> None:
    bundled = {"stages": [], "reproduce": [SHIPPED_TRAIN]}
    with pytest.raises(ValueError, match="differ in number"):
        recalled(bundled)

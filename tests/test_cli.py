"""The command line: startup that imports only what a command needs, and options validated once,
before any file is written, with one line naming the legal values."""

import subprocess
import sys
import typing

import pytest
from stores import make_disc_store

from picodiff.training.config import TrainConfig

HEAVY = ("torch", "flask", "prometheus_client", "torchmetrics")


@pytest.mark.parametrize("argv", [["--help"], ["prepare", "--help"], ["--version"]])
def test_help_imports_no_heavy_package(argv):
    probe = (
        "import sys\nfrom picodiff.cli import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
        f"print('LOADED', [m for m in {HEAVY!r} if m in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "LOADED []"


def test_help_lists_every_command():
    done = subprocess.run(
        [sys.executable, "-m", "picodiff", "--help"], capture_output=True, text=True
    )
    for command in (
        "prepare",
        "info",
        "train",
        "sample",
        "fid",
        "report",
        "serve",
        "convert-pb2025",
    ):
        assert command in done.stdout


def enumerated_options() -> list[str]:
    """TrainConfig's options typed as a Literal: every one of them must be checked."""
    hints = typing.get_type_hints(TrainConfig)
    return [name for name, hint in hints.items() if "Literal" in str(hint)]


def test_every_enumerated_training_option_is_covered():
    assert set(enumerated_options()) >= {
        "task",
        "model",
        "schedule",
        "prediction",
        "optimizer",
        "lr_schedule",
        "precision",
        "sample_method",
    }


@pytest.mark.parametrize("option", enumerated_options())
def test_an_illegal_enumerated_value_fails_before_any_file(option, tmp_path):
    store = make_disc_store(tmp_path / "store", train=16, val=4)
    out = tmp_path / "run"
    command = [sys.executable, "-m", "picodiff", "train", "--data", str(store), "--out", str(out)]
    command += ["--max-steps", "1", "--set", f"{option}=bogus"]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("picodiff train: error:"), done.stderr
    assert f"{option} must be one of (" in lines[0] and "got 'bogus'" in lines[0]
    assert not out.exists()

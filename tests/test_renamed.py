"""Renamed names keep working for one release, each with a message naming the new spelling."""

import importlib
import json
import subprocess
import sys

import pytest
import torch
from pb2025_reference import Unet as PB2025Unet
from tiny_models import tiny_checkpoint

from picodiff.checkpoint import load_checkpoint, save_checkpoint
from picodiff.diffusion import NoiseSchedule
from picodiff.models import UNet, UNetConfig, convert_pb2025_state_dict, convert_seed_state_dict
from picodiff.sampling import (
    SamplerSettings,
    draw,
    generate,
    open_checkpoint,
    sample_batches,
    sample_images,
)
from picodiff.training import resolve_config


def test_the_seed_preset_and_layout_are_pb2025(tmp_path):
    with pytest.warns(FutureWarning, match="'seed' is now 'pb2025'"):
        old = UNetConfig.preset("seed", image_size=16)
    assert old == UNetConfig.preset("pb2025", image_size=16)
    path = save_checkpoint(tmp_path / "m", UNet(old), NoiseSchedule.cosine(40))
    config = json.loads((path / "config.json").read_text())
    config["model"]["layout"] = "seed"  # as an older release wrote it
    (path / "config.json").write_text(json.dumps(config))
    with pytest.warns(FutureWarning, match="UNet layout 'seed' is now 'pb2025'"):
        assert load_checkpoint(path).config.layout == "pb2025"


def test_convert_seed_state_dict_is_convert_pb2025_state_dict():
    state = PB2025Unet(1).state_dict()
    with pytest.warns(FutureWarning, match="'convert_seed_state_dict' is now"):
        old = convert_seed_state_dict(state)
    assert old.keys() == convert_pb2025_state_dict(state).keys()


def test_seed_training_presets_are_pb2025_presets():
    with pytest.warns(FutureWarning, match="preset 'seed-c' is now 'pb2025-c'"):
        old = resolve_config("seed-c", max_steps=1)
    assert old == resolve_config("pb2025-c", max_steps=1)
    with pytest.warns(FutureWarning, match="UNet preset 'seed' is now 'pb2025'"):
        assert resolve_config(None, None, ["model=seed"], max_steps=1).model == "pb2025"


def test_the_convert_seed_command_is_convert_pb2025(tmp_path):
    torch.save(PB2025Unet(1).state_dict(), tmp_path / "pb2025.pth")
    command = [sys.executable, "-m", "picodiff", "convert-seed", str(tmp_path / "pb2025.pth")]
    done = subprocess.run([*command, str(tmp_path / "out")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "'convert-seed' is now 'convert-pb2025'" in done.stderr
    assert load_checkpoint(tmp_path / "out").config.layout == "pb2025"


def test_old_sampling_names(tmp_path):
    checkpoint = open_checkpoint(tiny_checkpoint(tmp_path / "m"))
    settings = SamplerSettings("ddim", 3)
    with pytest.warns(FutureWarning, match="SamplerSettings argument 'method' is now 'sampler'"):
        assert SamplerSettings(method="ddim", steps=3) == settings
    expected = sample_images(checkpoint, range(4), settings, seed=2)
    with pytest.warns(FutureWarning, match="'draw' is now 'sample_images'"):
        old = draw(checkpoint, range(4), settings, seed=2, micro_batch=4)
    assert torch.equal(old, expected)
    new_batches = list(sample_batches(checkpoint, range(4), settings, seed=2, batch_size=4))
    with pytest.warns(FutureWarning, match="'generate' is now 'sample_batches'"):
        old_batches = list(
            generate(checkpoint, range(4), settings, seed=2, batch_size=4, micro_batch=4)
        )
    assert all((a[1] == b[1]).all() for a, b in zip(old_batches, new_batches))


def test_the_cascade_module_moved_to_sampling():
    sys.modules.pop("picodiff.cascade", None)
    with pytest.warns(FutureWarning, match="'picodiff.cascade' is now 'picodiff.sampling'"):
        module = importlib.import_module("picodiff.cascade")
    from picodiff.sampling import Cascade

    assert module.Cascade is Cascade

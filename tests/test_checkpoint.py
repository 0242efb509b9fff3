import os
import pickle
import subprocess
import sys

import pytest
import torch
from pb2025_reference import Unet as PB2025Unet

from picodiff.checkpoint import CheckpointError, load_checkpoint, load_legacy, save_checkpoint
from picodiff.diffusion import NoiseSchedule
from picodiff.models import UNet, UNetConfig


@pytest.fixture
def tiny(tmp_path):
    torch.manual_seed(0)
    model = UNet(UNetConfig.preset("tiny"))
    ema = {k: v + 1 if v.is_floating_point() else v for k, v in model.state_dict().items()}
    path = save_checkpoint(
        tmp_path / "ckpt",
        model,
        NoiseSchedule.cosine(200),
        prediction="v",
        ema_state=ema,
        metadata={"fid": 12.5},
    )
    return model, ema, path


def test_round_trip_prefers_ema(tiny):
    model, ema, path = tiny
    assert sorted(os.listdir(path)) == ["config.json", "ema.safetensors", "model.safetensors"]
    loaded = load_checkpoint(path)
    assert loaded.prediction == "v" and loaded.metadata == {"fid": 12.5}
    assert loaded.schedule.T == 200 and loaded.schedule.config["name"] == "cosine"
    assert loaded.config == model.config
    for k, v in loaded.model.state_dict().items():
        assert torch.equal(v, ema[k])
    raw = load_checkpoint(path, use_ema=False)
    x, t = torch.randn(1, 3, 16, 16), torch.tensor([5])
    with torch.no_grad():
        assert torch.equal(raw.model(x, t), model.eval()(x, t))


def test_overwrite_is_atomic_and_leaves_no_temporaries(tiny):
    model, _, path = tiny
    save_checkpoint(path, model, NoiseSchedule.linear(1000))
    assert load_checkpoint(path).schedule.T == 1000
    assert sorted(p.name for p in path.parent.iterdir()) == ["ckpt"]


def test_corrupt_and_incomplete_checkpoints_are_explained(tiny):
    _, _, path = tiny
    weights = path / "ema.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(path)
    (path / "ema.safetensors").unlink()
    config = (path / "config.json").read_text()
    (path / "config.json").write_text(
        config.replace('"channels": [\n      16,', '"channels": [\n      8,')
    )
    with pytest.raises(CheckpointError, match="weights do not match the model config"):
        load_checkpoint(path)
    (path / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="invalid JSON"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="not a checkpoint directory"):
        load_checkpoint(path.parent / "missing")


def test_non_finite_weights_are_refused(tmp_path):
    model = UNet(UNetConfig.preset("tiny"))
    with torch.no_grad():
        model.conv_in.weight[0, 0, 0, 0] = float("nan")
    save_checkpoint(tmp_path / "nan", model, NoiseSchedule.linear(1000))
    with pytest.raises(CheckpointError, match=r"non-finite values \(NaN or inf\) in conv_in"):
        load_checkpoint(tmp_path / "nan")


def test_pb2025_pth_loads_through_the_converter(tmp_path):
    torch.manual_seed(0)
    reference = PB2025Unet(3).eval()
    torch.save(reference.state_dict(), tmp_path / "pb2025.pth")
    loaded = load_legacy(tmp_path / "pb2025.pth", image_size=64)
    x, t = torch.randn(1, 3, 64, 64), torch.tensor([100])
    with torch.no_grad():
        assert torch.allclose(loaded.model(x, t), reference(x, t), atol=1e-4)


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_that_runs_code_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    with open(tmp_path / "evil.pth", "wb") as f:
        pickle.dump({"conv_in.weight": _Exploit(marker)}, f)
    with pytest.raises(CheckpointError, match="refused: it holds Python objects besides tensors"):
        load_checkpoint(tmp_path / "evil.pth")
    assert not marker.exists()
    with open(tmp_path / "evil.pth", "rb") as f:  # the exploit is real: plain pickle runs it
        pickle.load(f)
    assert marker.exists()


def test_cli_converts_a_pb2025_file(tmp_path):
    torch.manual_seed(0)
    torch.save(PB2025Unet(1).state_dict(), tmp_path / "pb2025.pth")
    cli = [sys.executable, "-m", "picodiff", "convert-pb2025"]
    done = subprocess.run(
        [
            *cli,
            str(tmp_path / "pb2025.pth"),
            str(tmp_path / "out"),
            "--image-size",
            "84",
            "--T",
            "500",
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    params = UNet(UNetConfig.preset("pb2025", image_channels=1)).num_parameters()
    assert f"{params:,} parameters" in done.stdout
    loaded = load_checkpoint(tmp_path / "out")
    assert loaded.config.image_channels == 1 and loaded.config.image_size == 84
    assert loaded.schedule.T == 500
    bad = subprocess.run(
        [*cli, str(tmp_path / "nope.pth"), str(tmp_path / "x")], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "no such file" in bad.stderr and "Traceback" not in bad.stderr


def test_cli_help_and_version():
    for flag, expected in (("--help", "convert-pb2025"), ("--version", "picodiff 0.1.0")):
        done = subprocess.run(
            [sys.executable, "-m", "picodiff", flag], capture_output=True, text=True
        )
        assert done.returncode == 0 and expected in done.stdout

"""Cascaded diffusion end to end on generated data: a 16 px base and a 16 -> 32 px stage."""

import pytest
import torch
import yaml
from PIL import Image
from safetensors.torch import load_file
from stores import make_disc_store

from picodiff.checkpoint import save_checkpoint
from picodiff.diffusion import NoiseSchedule
from picodiff.errors import UserError
from picodiff.models import UNet, UNetConfig
from picodiff.sampling import Cascade
from picodiff.training import Trainer, resolve_config

FAST = [
    "model=tiny",
    "batch_size=8",
    "log_every=2",
    "val_every=2",
    "val_size=8",
    "sample_n=2",
    "sample_steps=2",
    "lr=1e-3",
    "ema_decay=0.5",
    "checkpoint_every=2",
]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("cascade")
    small = make_disc_store(root / "s16", train=32, val=8, size=16)
    large = make_disc_store(root / "s32", train=32, val=8, size=32)
    Trainer(resolve_config(None, None, FAST, data=str(small), max_steps=4), root / "base").fit()
    sr = ["task=superres", "low_res=16", *FAST]
    Trainer(resolve_config(None, None, sr, data=str(large), max_steps=6), root / "sr").fit()
    return root


def test_superres_training_resumes_exactly(runs):
    sr = ["task=superres", "low_res=16", *FAST]
    large = str(runs / "s32")
    Trainer(resolve_config(None, None, sr, data=large, max_steps=4), runs / "sr2").fit()
    Trainer(
        resolve_config(None, None, sr, data=large, max_steps=6), runs / "sr2", resume=True
    ).fit()
    a = load_file(runs / "sr" / "last" / "ema.safetensors")
    b = load_file(runs / "sr2" / "last" / "ema.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    grid = Image.open(sorted((runs / "sr" / "samples").iterdir())[-1])
    assert grid.height > 3 * 32  # rows: bicubic input, model output, original


def test_cascade_samples_deterministically(runs):
    cascade = Cascade.from_paths([runs / "base" / "best", runs / "sr" / "best"], steps=4)
    base, final = cascade.sample(3, seed=7)
    assert base.shape == (3, 3, 16, 16) and final.shape == (3, 3, 32, 32)
    assert final.min() >= -1 and final.max() <= 1
    again = cascade.sample(3, seed=7)[-1]
    assert torch.equal(final, again)
    tail = cascade.sample(2, seed=7, start=1)[-1]  # images 1 and 2 alone: the same bits
    assert torch.equal(tail, final[1:])
    assert not torch.equal(final, cascade.sample(3, seed=8)[-1])


def test_a_mismatched_pair_is_refused(runs, tmp_path):
    config = UNetConfig.preset("tiny", image_size=64, low_res_size=32)
    save_checkpoint(tmp_path / "sr-32-64", UNet(config), NoiseSchedule.cosine(1000))
    with pytest.raises(UserError, match=r"trained for 32 -> 64 px.*makes 16 px"):
        Cascade.from_paths([runs / "base" / "best", tmp_path / "sr-32-64"])
    with pytest.raises(UserError, match="starts with a base"):
        Cascade.from_paths([tmp_path / "sr-32-64"])
    with pytest.raises(UserError, match="is not a super-resolution model"):
        Cascade.from_paths([runs / "base" / "best", runs / "base" / "best"])


def test_the_cascade_is_served_as_one_model(runs, tmp_path):
    from test_serving import Server, decode

    models = tmp_path / "models"
    models.mkdir()
    stages = [
        {"path": str(runs / "base" / "best")},
        {"path": str(runs / "sr" / "best"), "steps": 3},
    ]
    (models / "pair.cascade.yaml").write_text(yaml.safe_dump({"stages": stages, "fid": 42.0}))
    sr64 = tmp_path / "sr-32-64"
    save_checkpoint(
        sr64,
        UNet(UNetConfig.preset("tiny", image_size=64, low_res_size=32)),
        NoiseSchedule.cosine(1000),
    )
    wrong = [{"path": str(runs / "base" / "best")}, {"path": str(sr64)}]
    (models / "wrong.cascade.yaml").write_text(yaml.safe_dump({"stages": wrong}))
    server = Server(tmp_path, "--models", str(models))
    try:
        listed = {m["name"]: m for m in server.get("/api/models").json()}
        pair = listed["pair"]
        assert (pair["valid"], pair["kind"], pair["resolution"], pair["fid"]) == (
            True,
            "cascade",
            32,
            42.0,
        )
        assert [s["resolution"] for s in pair["stages"]] == [16, 32]
        assert pair["stages"][1]["low_res"] == 16 and pair["stages"][1]["steps"] == 3
        assert not listed["wrong"]["valid"]
        assert "was trained for 32 -> 64 px" in listed["wrong"]["reason"]
        body = {"model": "pair", "n": 2, "steps": 4, "seed": 5}
        first = server.generate(**body).json()["images_base64"]
        again = server.generate(**body).json()["images_base64"]
        assert first == again and len(first) == 2
        assert decode(first[0]).size == (32, 32)
    finally:
        server.stop()


def test_sample_command_draws_a_cascade(runs, tmp_path):
    import subprocess
    import sys

    base, sr = str(runs / "base" / "best"), str(runs / "sr" / "best")
    command = [
        sys.executable,
        "-m",
        "picodiff",
        "sample",
        "--cascade",
        base,
        sr,
        "--stage-steps",
        "3",
        "2",
        "--n",
        "3",
        "--seed",
        "7",
    ]
    grid = ["--grid", str(tmp_path / "g.png")]
    done = subprocess.run(
        [*command, "--out", str(tmp_path / "a"), *grid], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert Image.open(tmp_path / "a" / "000002.png").size == (32, 32)
    again = subprocess.run(
        [*command, "--batch-size", "1", "--out", str(tmp_path / "b")],
        capture_output=True,
        text=True,
    )
    assert again.returncode == 0, again.stderr
    for i in range(3):
        name = f"{i:06d}.png"
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    bad = subprocess.run(
        [*command[:5], sr, base, "--out", str(tmp_path / "c")], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "starts with a base" in bad.stderr


def test_report_compares_the_cascade_with_bicubic_upsampling(runs, tmp_path):
    import subprocess
    import sys

    base, sr = str(runs / "base" / "best"), str(runs / "sr" / "best")
    command = [
        sys.executable,
        "-m",
        "picodiff",
        "report",
        "--cascade",
        base,
        sr,
        "--ref",
        str(runs / "s32"),
        "--split",
        "train",
        "--features",
        "digits",
        "--n",
        "8",
        "--stage-steps",
        "3",
        "2",
        "--batch-size",
        "4",
        "--out",
        str(tmp_path / "r"),
        "--quiet",
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    table = (tmp_path / "r" / "report.md").read_text()
    assert "cascade (2 stages)" in table and "base + bicubic" in table
    assert "base + bicubic" in (tmp_path / "r" / "report.html").read_text()

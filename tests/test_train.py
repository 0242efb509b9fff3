"""Tiny end-to-end training runs on generated data (16 px discs, the 0.13 M-parameter preset)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from stores import make_disc_store
from tiny_models import TORCHRUN_TWO

from picodiff.checkpoint import load_checkpoint
from picodiff.cli import main
from picodiff.errors import UserError
from picodiff.models import UNet, UNetConfig
from picodiff.training import PRESETS, Trainer, plan_memory, resolve_config

FAST = [
    "model=tiny",
    "batch_size=8",
    "log_every=2",
    "val_every=4",
    "val_size=16",
    "sample_n=2",
    "sample_steps=2",
    "lr=1e-3",
    "warmup_steps=0",
    "ema_decay=0.9",
]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return make_disc_store(tmp_path_factory.mktemp("data") / "store", train=64, val=16)


def config(store, *extra, **direct):
    return resolve_config(None, None, [*FAST, *extra], data=str(store), **direct)


def cli(*args, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "picodiff", *args], capture_output=True, text=True, **kwargs
    )


def weights(run: Path, name="model.safetensors"):
    return load_file(run / "last" / name)


def test_loss_decreases_and_the_run_directory_is_complete(store, tmp_path):
    Trainer(config(store, "lr=3e-3", "log_every=5", max_steps=60), tmp_path / "run").fit()
    run = tmp_path / "run"
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if "train_loss" in r]
    assert train[-1]["train_loss"] < 0.6 * train[0]["train_loss"]
    assert {"step", "epoch", "lr", "images_per_s", "memory_mb"} <= set(train[0])
    assert any("val_loss" in r for r in records)
    for name in ("config.yaml", "loss.png", "best/ema.safetensors", "last/training_state.pt"):
        assert (run / name).exists(), name
    assert sorted(p.name for p in (run / "samples").iterdir())[-1] == "step-0000060.png"
    ckpt = load_checkpoint(run / "best")
    assert ckpt.metadata["train_config"]["model"] == "tiny"
    assert resolve_config(None, run / "config.yaml").max_steps == 60


def test_resume_reproduces_an_uninterrupted_run(store, tmp_path):
    Trainer(config(store, "checkpoint_every=4", max_steps=12), tmp_path / "one").fit()
    Trainer(config(store, "checkpoint_every=4", max_steps=8), tmp_path / "two").fit()
    Trainer(config(store, "checkpoint_every=4", max_steps=12), tmp_path / "two", resume=True).fit()
    for name in ("model.safetensors", "ema.safetensors"):
        a, b = weights(tmp_path / "one", name), weights(tmp_path / "two", name)
        assert all(torch.equal(a[k], b[k]) for k in a), name
    records = (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()
    train_steps = [r["step"] for r in map(json.loads, records) if "train_loss" in r]
    assert train_steps == [2, 4, 6, 8, 10, 12]  # steps 9-12 logged once, not twice


# Each preset as it is, made small enough for a CPU test: 16 px, batch 4, narrower default
# networks, validation and grids only at the end of a run (so that only the shorter run does
# them), through the command line (which re-reads the run's config.yaml on --resume).
PRESET_SIZE = [
    "image_size=16",
    "batch_size=4",
    "val_size=4",
    "sample_n=2",
    "sample_steps=2",
    "log_every=1",
    "val_every=100",
    "checkpoint_every=100",
    "sample_every=100",
    "warmup_steps=2",
]
NARROW = {
    "recommended": ["unet.channels=[32,32,32,32]"],
    "cifar10": ["unet.channels=[32,32,32,32]"],
}


@pytest.fixture(scope="module")
def store48(tmp_path_factory):
    """48 discs, each named (for the text-conditional presets; the others ignore names)."""
    return make_disc_store(tmp_path_factory.mktemp("data") / "store48", train=48, val=8, named=True)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_resumes_bit_for_bit(preset, store48, tmp_path):
    sets = [a for s in [*PRESET_SIZE, *NARROW.get(preset, [])] for a in ("--set", s)]
    train = ["train", "--data", str(store48), "--preset", preset, *sets]
    assert main([*train, "--out", str(tmp_path / "straight"), "--max-steps", "5"]) == 0
    assert main([*train, "--out", str(tmp_path / "resumed"), "--max-steps", "2"]) == 0
    assert main(["train", "--out", str(tmp_path / "resumed"), "--resume", "--max-steps", "5"]) == 0
    for name in ("model.safetensors", "ema.safetensors"):
        a, b = weights(tmp_path / "straight", name), weights(tmp_path / "resumed", name)
        assert all(torch.equal(a[k], b[k]) for k in a), (preset, name)


def test_sigkill_then_resume_loses_only_the_last_steps(store, tmp_path):
    args = ["train", "--data", str(store), "--max-steps", "30"]
    sets = [a for s in [*FAST, "checkpoint_every=5"] for a in ("--set", s)]
    Trainer(config(store, "checkpoint_every=5", max_steps=30), tmp_path / "whole").fit()
    victim = subprocess.Popen(
        [sys.executable, "-m", "picodiff", *args, *sets, "--out", str(tmp_path / "killed")],
        stderr=subprocess.DEVNULL,
    )
    last = tmp_path / "killed" / "last"
    deadline = time.time() + 120
    while not (last.exists() and last.resolve().name >= "step-0000010") and time.time() < deadline:
        time.sleep(0.05)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    assert last.exists()
    done = cli(*args, *["--out", str(tmp_path / "killed"), "--resume"])
    assert done.returncode == 0, done.stderr
    a, b = weights(tmp_path / "whole"), weights(tmp_path / "killed")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_corrupt_or_truncated_checkpoint_is_explained(store, tmp_path):
    Trainer(config(store, max_steps=4), tmp_path / "run").fit()
    state = tmp_path / "run" / "last" / "training_state.pt"
    state.write_bytes(state.read_bytes()[:100])
    done = cli("train", "--out", str(tmp_path / "run"), "--resume", "--max-steps", "8")
    assert done.returncode == 2 and "corrupt or truncated" in done.stderr
    assert "Traceback" not in done.stderr
    weights_file = tmp_path / "run" / "last" / "model.safetensors"
    weights_file.write_bytes(weights_file.read_bytes()[:500])
    done = cli("train", "--out", str(tmp_path / "run"), "--resume", "--max-steps", "8")
    assert done.returncode == 2 and "model.safetensors: corrupt or truncated" in done.stderr


def test_early_stopping_fires_on_a_plateau(store, tmp_path):
    cfg = config(
        store,
        "lr=1e-12",
        "ema_decay=0.0",
        "patience=2",
        "min_delta=1e-3",
        "val_every=2",
        max_steps=40,
    )
    progress = Trainer(cfg, tmp_path / "run").fit()
    assert progress.step == 6 and progress.bad_validations == 2


def test_ddp_with_two_gloo_processes_applies_the_single_process_gradient(store, tmp_path):
    """What DDP guarantees: each process applies the mean gradient of the global batch, i.e.
    the gradient one process computes on the whole batch (up to float summation order).
    Weights after a few Adam steps are no oracle: Adam turns float-level differences of a
    near-zero gradient into lr-sized steps, differently on every machine."""
    script = Path(__file__).parent / "ddp_gradients.py"
    args = [str(store), *[s for s in FAST if not s.startswith("batch_size")], "batch_size=8"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    single = subprocess.run(
        [sys.executable, str(script), args[0], str(tmp_path / "single"), *args[1:]],
        capture_output=True,
        text=True,
        env=env,
    )
    assert single.returncode == 0, single.stderr
    ddp = subprocess.run(
        [
            *TORCHRUN_TWO,
            str(script),
            args[0],
            str(tmp_path / "ddp"),
            *args[1:],
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert ddp.returncode == 0, ddp.stderr
    a = torch.load(tmp_path / "single.gradients.pt")
    b = torch.load(tmp_path / "ddp.gradients.pt")
    assert a.keys() == b.keys()
    scale = max(float(g.abs().max()) for g in a.values())
    for name in a:
        assert torch.allclose(a[name], b[name], rtol=1e-4, atol=1e-6 * scale), name
    assert scale > 0  # a real gradient, not zeros on both sides


def test_bad_inputs_fail_before_any_work(store, tmp_path):
    with pytest.raises(UserError, match="no such dataset store"):
        Trainer(config(tmp_path / "missing", max_steps=2), tmp_path / "r1")
    with pytest.raises(UserError, match=r"trains at 64 px but the store .* holds 16 px"):
        Trainer(config(store, "image_size=64", max_steps=2), tmp_path / "r2")
    with pytest.raises(UserError, match="unknown option 'batchsize'; did you mean 'batch_size'"):
        config(store, "batchsize=4", max_steps=2)
    with pytest.raises(UserError, match="fp16 needs a CUDA device"):
        Trainer(config(store, "precision=fp16", max_steps=2), tmp_path / "r3")
    with pytest.raises(UserError, match=r"needs about .* GiB but cpu has"):
        Trainer(config(store, "batch_size=2000000", max_steps=2), tmp_path / "r4")
    with pytest.raises(UserError, match="say how long to train"):
        config(store)
    Trainer(config(store, max_steps=2), tmp_path / "r5").fit()
    with pytest.raises(UserError, match="already holds a run; pass --resume"):
        Trainer(config(store, max_steps=2), tmp_path / "r5")
    done = cli("train", "--out", str(tmp_path / "nothing"), "--resume")
    assert done.returncode == 2 and "nothing to resume" in done.stderr


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_loads_and_plans(preset):
    cfg = resolve_config(preset, max_steps=1)
    unet = UNetConfig.preset(cfg.model, image_size=cfg.image_size, **cfg.unet)
    plan = plan_memory(unet, modes=[("fp32", False)])
    assert plan.parameters > 0 and plan.activations[("fp32", False)].per_image > 0
    assert plan.largest_batch(20 * 2**30, "fp32", False) >= 1


def test_plan_command_prints_the_largest_batches():
    done = cli(
        "train",
        "--out",
        "/nonexistent-run",
        "--preset",
        "pb2025-b",
        "--plan",
        "--gpu-memory",
        "20GB",
    )
    assert done.returncode == 0, done.stderr
    assert "6,420,467 parameters, 84 px" in done.stdout
    assert done.stdout.count("largest batch in 20 GiB") == 4


def real_step_saved_bytes(unet: UNetConfig, batch: int, precision: str) -> int:
    """Saved activation bytes of a real training step (forward + backward) on the CPU."""
    model = UNet(unet)
    x = torch.randn(batch, unet.image_channels, unet.image_size, unet.image_size)
    seen, params = {}, {p.untyped_storage().data_ptr() for p in model.parameters()}

    def pack(tensor):
        if tensor.untyped_storage().data_ptr() not in params:
            seen[tensor.untyped_storage().data_ptr()] = tensor.untyped_storage().nbytes()
        return tensor

    dtype = torch.bfloat16 if precision == "bf16" else None
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        with torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
            loss = model(x, torch.randint(0, 1000, (batch,))).float().square().mean()
        loss.backward()
    return sum(seen.values())


def test_memory_plan_is_within_15_percent_of_a_real_step():
    unet = UNetConfig.preset("pb2025", image_size=64)
    plan = plan_memory(unet)
    for (precision, checkpointing), cost in plan.activations.items():
        real = real_step_saved_bytes(
            unet.replace(gradient_checkpointing=checkpointing), 6, precision
        )
        assert abs(cost.at(6) - real) / real < 0.15, (precision, checkpointing, cost.at(6), real)


def test_fid_during_training_is_logged_and_can_choose_best(store, tmp_path):
    fid = ["fid_every=2", "fid_n=8", "fid_features=fid_features:colour_stats", "best_by=fid"]
    cfg = config(store, *fid, "val_every=100", "checkpoint_every=2", max_steps=6)
    progress = Trainer(cfg, tmp_path / "run").fit()
    run = tmp_path / "run"
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    measured = [r for r in records if "fid" in r]
    assert [r["step"] for r in measured] == [2, 4, 6]
    assert {"kid", "kid_std", "fid_n", "fid_reference", "fid_features"} <= set(measured[0])
    best = min(r["fid"] for r in measured)
    assert progress.best_fid == best
    assert load_checkpoint(run / "best").metadata["best_fid"] == best
    assert Image.open(run / "loss.png").height == 800  # losses, then an FID panel
    with pytest.raises(UserError, match="best_by fid needs fid_every > 0"):
        config(store, "best_by=fid", max_steps=2)
    with pytest.raises(UserError, match="best_by must be one of"):
        config(store, "best_by=kid", max_steps=2)


def test_a_time_budget_stops_saves_and_resumes(store, tmp_path, capsys):
    run = tmp_path / "run"
    sets = [
        a for s in [*FAST, "checkpoint_every_minutes=0.01", "keep_last=100"] for a in ("--set", s)
    ]
    train = ["train", "--data", str(store), "--out", str(run), *sets]
    assert main([*train, "--max-minutes", "0.05"]) == 0
    assert "out of time at step" in capsys.readouterr().out
    first = load_checkpoint(run / "last").metadata
    assert first["train_seconds"] >= 3 and first["images_seen"] == first["step"] * 8
    assert (
        len(list((run / "checkpoints").iterdir())) >= 3
    )  # every 0.6 s of training, and at the end
    assert main(["train", "--out", str(run), "--resume", "--max-minutes", "0.1"]) == 0
    second = load_checkpoint(run / "last").metadata
    assert second["train_seconds"] >= 6 and second["step"] > first["step"]
    with pytest.raises(UserError, match="lr_schedule cosine decays over a known number"):
        config(store, "lr_schedule=cosine", max_minutes=1)


def first_train_loss(run: Path) -> float:
    records = map(json.loads, (run / "metrics.jsonl").read_text().splitlines())
    return next(r["train_loss"] for r in records if "train_loss" in r)


def test_init_starts_from_a_models_ema_weights_with_a_fresh_optimizer(store, tmp_path):
    Trainer(config(store, "lr=3e-3", max_steps=60), tmp_path / "first").fit()
    start = load_file(tmp_path / "first" / "last" / "ema.safetensors")
    trainer = Trainer(
        config(store, "unet.dropout=0.1", max_steps=4, init=str(tmp_path / "first")),
        tmp_path / "next",
    )
    assert all(torch.equal(trainer.model.state_dict()[k], start[k]) for k in start)
    assert all(torch.equal(trainer.ema.state[k], start[k]) for k in start)
    assert not trainer.optimizer.state  # Adam's moments start afresh
    trainer.fit()
    # the same first batches: the trained weights start far below the random ones
    assert first_train_loss(tmp_path / "next") < 0.7 * first_train_loss(tmp_path / "first")
    metadata = load_checkpoint(tmp_path / "next" / "last").metadata
    assert metadata["train_config"]["init"] == str(tmp_path / "first")


def test_init_refuses_a_model_of_another_network_or_conditions(store, tmp_path):
    Trainer(config(store, max_steps=2), tmp_path / "plain").fit()
    wider = config(store, "unet.channels=[16,48]", max_steps=2, init=str(tmp_path / "plain"))
    with pytest.raises(UserError, match=r"its network differs from this run's in channels"):
        Trainer(wider, tmp_path / "wider")
    named = make_disc_store(tmp_path / "named", train=16, val=4, named=True)
    classes = dict(condition="class", label_field="name", max_steps=2)
    Trainer(config(named, **classes), tmp_path / "classes").fit()
    other = tmp_path / "relabelled"
    shutil.copytree(tmp_path / "classes" / "last", other)
    spec = json.loads((other / "config.json").read_text())
    spec["conditioning"]["labels"] = [f"shape {i}" for i in range(4)]  # same count, other names
    (other / "config.json").write_text(json.dumps(spec))
    with pytest.raises(UserError, match=r"its conditioning differs \(class labels\)"):
        Trainer(config(named, **classes, init=str(other)), tmp_path / "r1")
    done = cli(
        "train",
        "--data",
        str(store),
        "--out",
        str(tmp_path / "r2"),
        "--init",
        "nowhere",
        "--max-steps",
        "2",
    )
    assert done.returncode == 2 and "nowhere: no such checkpoint" in done.stderr
    done = cli("train", "--out", str(tmp_path / "plain"), "--resume", "--init", "emoji-32")
    assert done.returncode == 2 and "drop --preset/--config/--set/--init" in done.stderr

"""One engine draws every image: the same (model, sampler, steps, seed, indices) gives the same
bytes through every path, and every path resolves defaults by the same policy (a T = 40 model)."""

import base64
import io
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import requests
from PIL import Image
from stores import make_disc_store
from tiny_models import cpu_threads
from web_helpers import Server

from picodiff.cli import main
from picodiff.diffusion import SAMPLERS, SamplerSettings
from picodiff.pixels import to_uint8
from picodiff.sampling import Cascade, Stage, open_checkpoint, sample_batches, sample_images
from picodiff.training import Trainer, resolve_config

single_thread = pytest.fixture(scope="module", autouse=True)(cpu_threads)
SEED, N, SETTINGS = 5, 4, SamplerSettings("ddpm", 6)  # a stochastic sampler: noise per image
TRAIN = [
    "model=tiny",
    "T=40",
    "schedule=cosine",
    "batch_size=8",
    "lr=1e-3",
    "ema_decay=0.9",
    "val_every=4",
    "val_size=8",
    "log_every=2",
    f"seed={SEED}",
    f"sample_n={N}",
    "sample_method=ddpm",
    "sample_steps=6",
]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}  # subprocesses with this module's thread count


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny model trained for 4 steps (T = 40), its reference store and a models folder."""
    root = tmp_path_factory.mktemp("engine")
    store = make_disc_store(root / "store", train=32, val=8)
    Trainer(resolve_config(None, None, TRAIN, data=str(store), max_steps=4), root / "run").fit()
    shutil.copytree((root / "run" / "last").resolve(), root / "models" / "m")
    return root


def pngs(folder, n=N) -> np.ndarray:
    return np.stack([np.asarray(Image.open(folder / f"{i:06d}.png")) for i in range(n)])


def grid_tiles(path, n=N, size=16, pad=2) -> np.ndarray:
    """The n images of a one-row grid (picodiff.pixels.make_grid's layout)."""
    grid = np.asarray(Image.open(path))
    left = [pad + i * (size + pad) for i in range(n)]
    return np.stack([grid[pad : pad + size, x : x + size] for x in left])


def cli(*args):
    command = [sys.executable, "-m", "picodiff", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, env=ENV, timeout=300)


def test_every_path_draws_the_same_bytes(run, tmp_path):
    model = run / "models" / "m"
    checkpoint = open_checkpoint(model)
    expected = to_uint8(sample_images(checkpoint, range(N), SETTINGS, seed=SEED))
    assert len({image.tobytes() for image in expected}) == N  # four different images

    drawn = {"the trainer's grid": grid_tiles(run / "run" / "samples" / "step-0000004.png")}
    batches = sample_batches(checkpoint, range(N), SETTINGS, seed=SEED, batch_size=1)
    drawn["sample_batches"] = np.concatenate([pixels for _, pixels in batches])
    cascade = Cascade([Stage(checkpoint, SETTINGS)])
    drawn["a one-stage cascade"] = to_uint8(cascade.sample(N, seed=SEED)[-1])

    options = ["--sampler", "ddpm", "--steps", 6, "--seed", SEED, "--n", N, "--quiet"]
    done = cli("sample", model, *options, "--out", tmp_path / "cli")
    assert done.returncode == 0, done.stderr
    drawn["picodiff sample"] = pngs(tmp_path / "cli")
    done = cli("sample", "--cascade", model, *options, "--out", tmp_path / "cascade")
    assert done.returncode == 0, done.stderr
    drawn["picodiff sample --cascade"] = pngs(tmp_path / "cascade")

    dump = tmp_path / "fid-images.npy"
    fid = ["fid", "--samples", model, "--ref", run / "store", "--features", "fid_features:dump"]
    env = {**ENV, "FID_FEATURES_DUMP": str(dump), "PYTHONPATH": os.path.dirname(__file__)}
    command = [sys.executable, "-m", "picodiff", *map(str, fid), *map(str, options)]
    command += ["--report", str(tmp_path / "fid.json")]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    drawn["picodiff fid --samples MODEL"] = np.load(dump)[-N:]  # after the reference images

    server = Server(run / "models", tmp_path / "server.log")
    try:
        body = {"model": "m", "n": N, "sampler": "ddpm", "steps": 6, "seed": SEED}
        reply = requests.post(f"{server.base}/api/generate?wait=true", json=body, timeout=120)
    finally:
        server.stop()
    assert reply.status_code == 200, reply.text
    images = [base64.b64decode(png) for png in reply.json()["images_base64"]]
    drawn["the HTTP API"] = np.stack([np.asarray(Image.open(io.BytesIO(b))) for b in images])

    for path, images in drawn.items():
        np.testing.assert_array_equal(images, expected, err_msg=path)


# --- defaults: one policy, clamped to T ------------------------------------------------------
# min(the sampler's default, T = 40)
EXPECTED_STEPS = {"ddpm": 40, "ddim": 40, "dpmpp2m": 20, "dpmpp3m": 20, "unipc2": 20}
EXPECTED_STEPS |= {"unipc3": 20, "ipndm": 20, "dpmpp2m-sde": 20, "euler": 20, "heun": 18}


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_every_command_has_sensible_defaults_on_a_small_T(run, tmp_path, sampler, capsys):
    model, store, steps = run / "models" / "m", run / "store", EXPECTED_STEPS[sampler]
    common = ["--sampler", sampler, "--n", 2, "--quiet"]
    assert main(["sample", *map(str, [model, *common, "--out", tmp_path / "s"])]) == 0
    assert json.loads((tmp_path / "s" / "samples.json").read_text())["steps"] == steps
    cascade = ["sample", "--cascade", model, *common, "--out", tmp_path / "c"]
    assert main(list(map(str, cascade))) == 0
    stages = json.loads((tmp_path / "c" / "samples.json").read_text())["cascade"]
    assert stages[0]["steps"] == steps
    features = ["--ref", store, "--features", "fid_features:colour_stats"]
    fid = ["fid", "--samples", model, *features, *common, "--report", tmp_path / "f.json"]
    assert main(list(map(str, fid))) == 0
    assert json.loads((tmp_path / "f.json").read_text())["samples"]["steps"] == steps
    report = ["report", model, *features, *common, "--grid-n", 2, "--out", tmp_path / "r"]
    assert main(list(map(str, report))) == 0
    assert f"{sampler}, default steps" in (tmp_path / "r" / "report.md").read_text()
    sets = [s for item in TRAIN for s in ("--set", item)] + ["--set", f"sample_method={sampler}"]
    train = ["train", "--data", store, "--out", tmp_path / "t", "--max-steps", 1, *sets]
    assert main(list(map(str, train))) == 0
    assert (tmp_path / "t" / "samples" / "step-0000001.png").exists()
    assert "Traceback" not in capsys.readouterr().err


def test_the_api_resolves_defaults_by_the_same_policy(run, tmp_path):
    server = Server(run / "models", tmp_path / "server.log")
    try:
        listed = requests.get(f"{server.base}/api/models", timeout=30).json()
        assert {m["name"]: m["default_steps"] for m in listed}["m"] == EXPECTED_STEPS
        for sampler, steps in EXPECTED_STEPS.items():
            body = {"model": "m", "sampler": sampler}
            reply = requests.post(f"{server.base}/api/generate?wait=true", json=body, timeout=60)
            assert reply.status_code == 200 and reply.json()["steps"] == steps, reply.text
        for body, field in (
            ({"model": "m", "sampler": "dpmpp2m", "eta": 0.5}, "eta"),
            ({"model": "m", "steps": 41}, "steps"),
        ):
            reply = requests.post(f"{server.base}/api/generate", json=body, timeout=60)
            assert reply.status_code == 422 and reply.json()["error"]["field"] == field
    finally:
        server.stop()

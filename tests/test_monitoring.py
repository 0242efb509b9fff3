"""Model health in the server: scheduled quality checks (idle-only, judged by canaries) and
output drift against the statistics recorded in training."""

import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from fid_features import colour_stats
from stores import make_disc_store
from test_serving_units import make_model
from tiny_models import class_checkpoint, cpu_threads, with_metadata

from picodiff.checkpoint import load_checkpoint, save_checkpoint
from picodiff.diffusion import SamplerSettings
from picodiff.evaluation import fid_kid
from picodiff.pixels import to_uint8
from picodiff.sampling import sample_images
from picodiff.sampling.monitor import BatchStats, NoiseProbe, summarize
from picodiff.serving import create_app
from picodiff.serving.quality import parse_duration

FEATURES = "fid_features:colour_stats"


one_torch_thread = pytest.fixture(scope="module", autouse=True)(cpu_threads)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    return make_disc_store(tmp_path_factory.mktemp("store") / "discs", train=8, val=24)


def checked_model(root: Path, name: str, store: Path, **meta) -> Path:
    return make_model(root, name, T=20, reference=str(store), features=FEATURES, **meta)


def serve(models: Path, **config):
    app = create_app({"models": models, "bundled_models": (), "reload_interval": 0, **config})
    return app, app.test_client()


def health_of(client, name: str) -> dict:
    return next(m for m in client.get("/api/models").json if m["name"] == name)["health"]


def checked(client, name: str) -> dict:
    """The first quality check's result (a failed check fails the test with its reason)."""

    def finished():
        quality = health_of(client, name)["quality"]
        return quality if quality["latest"] or quality["last_failure"] else None

    quality = wait_for(finished)
    assert quality["last_failure"] is None, quality["last_failure"]
    return quality["latest"]


def wait_for(condition, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_durations():
    assert parse_duration("90") == 90 and parse_duration("30m") == 1800
    assert parse_duration("1h30m") == 5400 and parse_duration("1d") == 86400
    with pytest.raises(Exception, match="not a duration"):
        parse_duration("soon")


def test_a_quality_check_measures_the_fid_of_fresh_samples(tmp_path, store):
    checked_model(tmp_path, "m", store)
    app, client = serve(tmp_path, quality_check_every=3600, quality_n=12)
    try:
        latest = checked(client, "m")
    finally:
        app.extensions["picodiff"].close()
    assert latest["n"] == 12 and latest["reference_n"] == 24 and latest["features"] == FEATURES
    # the same images and features computed apart: the server's default sampler, its seed
    checkpoint = load_checkpoint(tmp_path / "m")
    settings = SamplerSettings().resolve(checkpoint.schedule.T)
    assert (latest["sampler"], latest["steps"]) == (settings.sampler, settings.steps)
    assert latest["fid"] == pytest.approx(fid_of(checkpoint, store, latest["seed"]), rel=1e-6)
    metrics = client.get("/metrics").data.decode()
    line = next(x for x in metrics.splitlines() if x.startswith("picodiff_quality_fid{"))
    assert float(line.split()[-1]) == pytest.approx(latest["fid"])


def test_a_class_model_is_checked_on_its_classes_in_turn_at_its_guidance(tmp_path, store):
    """As its recorded FID is measured: image i of class i mod 3, at its default guidance."""
    with_metadata(
        class_checkpoint(tmp_path / "pets", ("cat", "dog", "bird"), T=20),
        reference=str(store),
        features=FEATURES,
        guidance={"default": 4.5},
    )
    app, client = serve(tmp_path, quality_check_every=3600, quality_n=12)
    try:
        latest = checked(client, "pets")
    finally:
        app.extensions["picodiff"].close()
    checkpoint, seed = load_checkpoint(tmp_path / "pets"), latest["seed"]
    drawn = {"labels": [i % 3 for i in range(12)], "guidance": 4.5}
    assert latest["fid"] == pytest.approx(fid_of(checkpoint, store, seed, **drawn), rel=1e-6)
    unconditional = fid_of(checkpoint, store, seed)
    assert latest["fid"] != pytest.approx(unconditional, rel=1e-3)


def fid_of(checkpoint, store: Path, seed: int, **condition) -> float:
    """The FID of images 0..11 of `seed` (the server's default sampler) against the store's
    val split, computed apart from the server."""
    settings = SamplerSettings().resolve(checkpoint.schedule.T)
    images = sample_images(checkpoint, range(12), settings, seed=seed, **condition)
    fake = colour_stats(torch.from_numpy(to_uint8(images)).permute(0, 3, 1, 2))
    real_images = torch.from_numpy(np.load(store / "val.npy"))
    real = colour_stats(real_images.permute(0, 3, 1, 2))
    return fid_kid(real.double(), fake.double())["fid"]


def test_a_model_without_a_reference_is_not_checked(tmp_path):
    make_model(tmp_path, "plain", T=20)
    app, client = serve(tmp_path, quality_check_every=1, quality_n=4)
    try:
        time.sleep(1.5)
        quality = health_of(client, "plain")["quality"]
    finally:
        app.extensions["picodiff"].close()
    assert quality == {"reference": False, "latest": None, "last_failure": None, "history": []}


def test_a_check_runs_in_idle_time_only(tmp_path, store):
    checked_model(tmp_path, "m", store)
    app, client = serve(tmp_path, quality_check_every=3600, quality_n=4000)
    checks = app.extensions["picodiff"].queue.background
    try:
        wait_for(lambda: checks.units_done > 20)  # sampling
        answer = client.post("/api/generate?wait=true", json={"model": "m", "n": 2, "steps": 8})
        assert answer.status_code == 200
        job = client.get(f"/api/jobs/{answer.json['id']}").json
        during = [end for end in checks.unit_ends if job["created"] < end < job["started"]]
        assert len(during) <= 1, f"{len(during)} check units ran before the job started"
        done = checks.units_done
        wait_for(lambda: checks.units_done > done + 5)  # and the check goes on afterwards
    finally:
        app.extensions["picodiff"].close()


def test_a_canary_is_judged_on_its_live_fid(tmp_path, store):
    make_model(tmp_path / "models", "stable", T=20, fid=1.0)
    checked_model(tmp_path / "models", "candidate", store, fid=1.0, seed=1)  # recorded: within
    rollout = tmp_path / "rollout.yaml"
    spec = {"stable": "stable", "candidate": "candidate", "mode": "canary", "fid_threshold": 5}
    rollout.write_text(yaml.safe_dump({"rollouts": {"faces": spec}}))
    for every, expected in ((0, "active"), (3600, "rolled_back")):
        app, client = serve(
            tmp_path / "models", rollout=rollout, quality_check_every=every, quality_n=12
        )
        try:
            if every:
                checked(client, "candidate")
            described = client.get("/api/rollouts").json[0]
        finally:
            app.extensions["picodiff"].close()
        assert described["status"] == expected, described
    assert "FID" in described["reason"]
    assert described["versions"]["candidate"]["fid"] > 5
    (tmp_path / "rollout.yaml.state.json").unlink()


def recorded_stats(checkpoint, n=16) -> dict:
    """What `picodiff train` records: its samples' statistics (seed 0)."""
    probe = NoiseProbe()
    images = sample_images(checkpoint, range(n), SamplerSettings(), seed=0, observe=probe)
    return summarize([BatchStats.of(images, probe)])


@pytest.mark.parametrize("broken", ["scaled", "constant"])
def test_drifting_outputs_are_flagged_and_healthy_ones_not(tmp_path, broken):
    make_model(tmp_path / "make", "m", T=20)
    checkpoint = load_checkpoint(tmp_path / "make" / "m")
    stats = recorded_stats(checkpoint)
    save_checkpoint(
        tmp_path / "models" / "healthy",
        checkpoint.model,
        checkpoint.schedule,
        metadata={"output_stats": stats},
    )
    with torch.no_grad():
        if broken == "scaled":
            for parameter in checkpoint.model.parameters():
                parameter.mul_(2.0)
        else:
            checkpoint.model.out_conv.weight.zero_()
            checkpoint.model.out_conv.bias.zero_()
    save_checkpoint(
        tmp_path / "models" / "broken",
        checkpoint.model,
        checkpoint.schedule,
        metadata={"output_stats": stats},
    )
    app, client = serve(tmp_path / "models")
    try:
        for name in ("healthy", "broken"):
            for seed in (1, 2):
                body = {"model": name, "n": 8, "seed": seed}
                assert client.post("/api/generate?wait=true", json=body).status_code == 200
        healthy, drifting = health_of(client, "healthy"), health_of(client, "broken")
        metrics = client.get("/metrics").data.decode()
    finally:
        app.extensions["picodiff"].close()
    assert healthy["outputs"]["status"] == "ok" and healthy["outputs"]["drift"] < 1
    assert healthy["outputs"]["outputs"]["images"] == 16
    assert drifting["outputs"]["status"] == "drifting" and drifting["outputs"]["drift"] >= 1
    assert "recorded" in drifting["outputs"]["worst"]
    drift = {
        line.split('model="')[1].split('"')[0]: float(line.split()[-1])
        for line in metrics.splitlines()
        if line.startswith("picodiff_output_drift{")
    }
    assert drift["broken"] >= 1 > drift["healthy"]


def test_nan_outputs_are_reported(tmp_path):
    from test_serving_units import make_nan_model

    make_nan_model(tmp_path)
    app, client = serve(tmp_path)
    try:
        answer = client.post("/api/generate?wait=true", json={"model": "nan-out", "steps": 3})
        outputs = health_of(client, "nan-out")["outputs"]
    finally:
        app.extensions["picodiff"].close()
    assert answer.status_code == 500
    assert outputs["status"] == "nan" and outputs["nan_batches"] == 1


def test_training_records_what_the_server_checks_and_the_images_say_who_drew_them(tmp_path):
    from test_train import config

    from picodiff.provenance import read_provenance
    from picodiff.training import Trainer

    data = make_disc_store(tmp_path / "store", train=32, val=8)
    Trainer(config(data, "sample_n=4", "sample_steps=20", max_steps=4), tmp_path / "run").fit()
    metadata = load_checkpoint(tmp_path / "run" / "last").metadata
    stats = metadata["output_stats"]
    assert metadata["reference"] == str(data.resolve())
    assert stats["images"] == 4 and len(stats["mean"]) == len(stats["std"]) == 3
    assert set(stats["eps_rms"]) == {"0.9", "0.5", "0.1"} and 0 <= stats["clipped"] <= 1
    assert (stats["sampler"], stats["steps"]) == ("dpmpp2m", 20)
    grid = sorted((tmp_path / "run" / "samples").glob("*.png"))[-1]
    made = read_provenance(grid)
    assert made["generator"] == "picodiff" and made["count"] == 4 and made["steps"] == 20

    # the server: every image names its model, version and how it was drawn
    app, client = serve(tmp_path / "run" / "checkpoints")
    try:
        name = client.get("/api/models").json[0]["name"]
        body = {"model": name, "n": 2, "seed": 7, "steps": 3, "sampler": "ddim"}
        job = client.post("/api/generate?wait=true", json=body).json
        png = client.get(job["images"][1]).data
    finally:
        app.extensions["picodiff"].close()
    made = read_provenance(png)
    assert (made["model"], made["model_version"]) == (name, job["version"])
    assert (made["sampler"], made["steps"], made["seed"], made["index"]) == ("ddim", 3, 7, 1)


def probed_timesteps(tmp_path, settings: SamplerSettings) -> tuple[list[int], dict]:
    """The timesteps a T = 1000 model is called at and the eps RMS its probe records."""
    checkpoint = load_checkpoint(make_model(tmp_path, settings.sampler, T=1000))
    probe, calls = NoiseProbe(), []

    def observe(schedule, prediction, x, t, out):
        calls.append(int(t.max()))
        probe(schedule, prediction, x, t, out)

    images = sample_images(checkpoint, range(2), settings, observe=observe)
    return calls, summarize([BatchStats.of(images, probe)])["eps_rms"]


def test_the_noise_probe_skips_a_timestep_stepped_past(tmp_path):
    """DDIM's 8 linear steps call t = 143 then 0: nothing near 0.1 T, so no eps RMS there
    (the noise predicted at t = 0 is not the one at 0.1 T); 20 log-SNR steps call one."""
    ddim, probed = probed_timesteps(tmp_path, SamplerSettings("ddim", 8))
    assert ddim[-2:] == [143, 0] and sorted(probed) == ["0.5", "0.9"]
    calls, probed = probed_timesteps(tmp_path, SamplerSettings("dpmpp2m", 20))
    assert any(50 <= t <= 99 for t in calls) and sorted(probed) == ["0.1", "0.5", "0.9"]

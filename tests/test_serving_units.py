"""Serving internals in-process: model validation, batching, rollouts, request checks.

The helpers that build test models live here too (tests/test_serving.py imports them).
"""

import base64
import json
import os
import pickle
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_models import cpu_threads

from picodiff.checkpoint import save_checkpoint
from picodiff.diffusion import NoiseSchedule, SamplerSettings
from picodiff.models import UNet, UNetConfig
from picodiff.pixels import to_uint8
from picodiff.serving import create_app
from picodiff.serving.catalog import inspect
from picodiff.serving.clients import Client
from picodiff.serving.config import ServeConfig
from picodiff.serving.generator import NonFiniteOutput, load_model
from picodiff.serving.jobs import Job
from picodiff.serving.manager import ModelManager, ModelUnavailable
from picodiff.serving.metrics import Metrics
from picodiff.serving.rollout import RolloutError, Rollouts, parse_rollouts
from picodiff.serving.validation import ApiError, parse_generate

one_torch_thread = pytest.fixture(scope="module", autouse=True)(cpu_threads)


# --- test models (random weights: serving does not care what they draw) ---------------------
def make_model(
    root: Path, name: str, *, T=100, fid=None, seed=0, size=16, channels=3, widths=(16, 32), **meta
):
    torch.manual_seed(seed)
    config = UNetConfig.preset("tiny", image_channels=channels, image_size=size, channels=widths)
    model = UNet(config)
    metadata = {**({"fid": fid} if fid is not None else {}), **meta}
    return save_checkpoint(root / name, model, NoiseSchedule.cosine(T), metadata=metadata)


def make_nan_model(root: Path, name: str = "nan-out") -> Path:
    """Finite weights (it passes validation) whose output overflows to inf."""
    model = UNet(UNetConfig.preset("tiny"))
    with torch.no_grad():
        model.out_conv.bias.fill_(3e38)
        model.out_conv.weight.fill_(3e38)
    return save_checkpoint(root / name, model, NoiseSchedule.cosine(50))


class Exploit:
    """Unpickling this runs code: it would create `marker`."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def make_evil_pickle(root: Path, marker: Path) -> Path:
    path = root / "evil.pth"
    torch.save({"conv_in.weight": Exploit(marker)}, path)
    (root / "evil-raw.pt").write_bytes(pickle.dumps({"x": Exploit(marker)}))
    return path


def make_broken_models(root: Path) -> None:
    """One model per validation failure."""
    (root / "no-config").mkdir(parents=True)
    wrong = make_model(root, "wrong-shape")
    config = json.loads((wrong / "config.json").read_text())
    config["model"]["channels"] = [8, 32]
    (wrong / "config.json").write_text(json.dumps(config))
    nan = UNet(UNetConfig.preset("tiny"))
    with torch.no_grad():
        nan.conv_in.weight[0, 0, 0, 0] = float("nan")
    save_checkpoint(root / "nan-weights", nan, NoiseSchedule.cosine(50))
    superres = UNet(UNetConfig.preset("tiny", low_res_size=8))
    save_checkpoint(root / "superres", superres, NoiseSchedule.cosine(50))
    truncated = make_model(root, "truncated")
    weights = truncated / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:500])


# --- catalog: validation ----------------------------------------------------------------------
def test_validation_explains_every_broken_model(tmp_path):
    make_broken_models(tmp_path)
    reasons = {p.name: inspect(p.name, p).reason for p in tmp_path.iterdir()}
    assert reasons["no-config"] == "missing config.json"
    assert reasons["wrong-shape"].startswith(
        "model.safetensors: weights do not match the model config: "
        "conv_in.bias has shape (16,), the config needs (8,); "
        "conv_in.weight has shape (16, 3, 3, 3), the config needs (8, 3, 3, 3); "
    )
    assert reasons["nan-weights"] == (
        "model.safetensors: non-finite values (NaN or inf) in conv_in.weight"
    )
    assert "corrupt or truncated" in reasons["truncated"]
    assert reasons["superres"].startswith("a super-resolution model (8 -> 16 px)")
    assert str(tmp_path) not in "".join(reasons.values())  # no server paths in reasons


def test_a_malicious_pickle_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    models = tmp_path / "models"
    models.mkdir()
    make_evil_pickle(models, marker)
    manager = ModelManager((models,), 2**30, Metrics())
    entries = {e.name: e for e in manager.entries()}
    assert not entries["evil"].valid and "weights_only" in entries["evil"].reason
    assert not entries["evil-raw"].valid
    with pytest.raises(ModelUnavailable, match="cannot be served"):
        manager.get("evil")
    assert not marker.exists()


def test_legacy_pb2025_file_with_sidecar(tmp_path):
    from pb2025_reference import Unet as PB2025Unet

    torch.manual_seed(0)
    torch.save(PB2025Unet(1).state_dict(), tmp_path / "pb2025.pth")
    (tmp_path / "pb2025.json").write_text(json.dumps({"image_size": 8, "T": 40}))
    entry = inspect("seed", tmp_path / "pb2025.pth")
    assert entry.valid, entry.reason
    assert (entry.kind, entry.image_size, entry.channels, entry.T) == ("legacy", 8, 1, 40)
    images = load_model(entry).sample([(0, 0), (0, 1)], SamplerSettings("ddim", 1))
    assert images.shape == (2, 1, 8, 8)


# --- the model abstraction --------------------------------------------------------------------
def test_an_image_is_the_same_alone_or_in_a_batch(tmp_path):
    model = load_model(inspect("m", make_model(tmp_path, "m")))
    for sampler, eta in (("ddpm", 0.0), ("ddim", 0.5), ("dpmpp2m", 0.0)):
        settings = SamplerSettings(sampler, 5, eta)
        alone = to_uint8(model.sample([(7, 3)], settings))
        rows = [(1, 0), (1, 1), (7, 3), (2, 0)]
        batch = to_uint8(model.sample(rows, settings))
        np.testing.assert_array_equal(alone[0], batch[2])


def test_nan_output_raises_and_is_never_an_image(tmp_path):
    model = load_model(inspect("nan-out", make_nan_model(tmp_path)))
    with pytest.raises(NonFiniteOutput, match="non-finite values"):
        model.sample([(0, 0)], SamplerSettings("ddim", 5))


# --- the manager: LRU under a memory budget ---------------------------------------------------
def test_cache_is_bounded_by_the_memory_budget(tmp_path):
    for name in ("a", "b", "c"):
        make_model(tmp_path, name)
    one = inspect("a", tmp_path / "a").nbytes
    manager = ModelManager((tmp_path,), int(2.5 * one), Metrics())
    for name in ("a", "b", "a", "c"):
        manager.get(name)
    assert manager.loaded() == ["a@cpu", "c@cpu"]  # b was least recently used
    small = ModelManager((tmp_path,), one // 2, Metrics())
    with pytest.raises(ModelUnavailable, match="memory budget"):
        small.get("a")
    assert not small.entry("a").valid


def test_a_model_broken_after_validation_fails_to_load_with_the_reason(tmp_path):
    path = make_model(tmp_path, "m")
    metrics = Metrics()
    manager = ModelManager((tmp_path,), 2**30, metrics)
    (path / "model.safetensors").write_bytes(b"garbage")  # after the scan, before the load
    with pytest.raises(ModelUnavailable, match=r"'m' failed to load: model.safetensors: corrupt"):
        manager.get("m")
    assert "failed to load" in manager.entry("m").reason and not manager.entry("m").valid
    assert metrics.load_failures.labels("m")._value.get() == 1
    manager.scan()  # the files changed since: validated again, still broken
    assert "corrupt" in manager.entry("m").reason


# --- request validation -----------------------------------------------------------------------
def test_integral_numbers_are_integers_as_in_json():
    request = parse_generate({"model": "m", "n": 2.0, "seed": 867.0}, ServeConfig())
    assert (request.n, request.seed) == (2, 867) and isinstance(request.n, int)


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ({}, "model", "model is required"),
        ({"model": "m", "n": 0}, "n", "at least 1"),
        ({"model": "m", "n": 99}, "n", "at most 16"),
        ({"model": "m", "n": True}, "n", "must be an integer"),
        ({"model": "m", "n": 1.5}, "n", "must be an integer"),
        ({"model": "m", "sampler": "lms"}, "sampler", "must be one of"),
        ({"model": "m", "spacing": "cosine"}, "spacing", "must be one of"),
        ({"model": "m", "eta": -1}, "eta", "at least 0"),
        ({"model": "m", "seed": -1}, "seed", "at least 0"),
        ({"model": "m", "colour": 1}, "colour", "unknown field"),
        ({"model": ""}, "model", "at least 1 characters"),
    ],
)
def test_invalid_fields_name_the_field_and_reason(body, field, reason):
    with pytest.raises(ApiError, match=reason) as err:
        parse_generate(body, ServeConfig())
    assert (err.value.status, err.value.field) == (422, field)


# --- rollouts ---------------------------------------------------------------------------------
@pytest.fixture
def rollout_models(tmp_path):
    make_model(tmp_path, "v1", fid=20.0)
    make_model(tmp_path, "v2", fid=18.0, seed=1)
    make_model(tmp_path, "v3", fid=45.0, seed=2)
    return ModelManager((tmp_path,), 2**30, Metrics())


def _rollouts(tmp_path, manager, **spec):
    (tmp_path / "rollout.yaml").write_text(json.dumps({"rollouts": {"faces": spec}}))
    return Rollouts.load(tmp_path / "rollout.yaml", manager, Metrics())


def _finish(rollouts, model, status="done", address="10.0.0.1"):
    body = parse_generate({"model": model}, ServeConfig())
    job = Job(body, "v", alias="faces", client=Client(address))
    job.finish(status)
    rollouts.record(job)


def test_ab_split_is_sticky_per_client(tmp_path, rollout_models):
    rollouts = _rollouts(
        tmp_path, rollout_models, stable="v1", candidate="v2", mode="ab", percent=30
    )
    first = {c: rollouts.route("faces", f"client-{c}")[0] for c in range(400)}
    again = {c: rollouts.route("faces", f"client-{c}")[0] for c in range(400)}
    assert first == again
    share = sum(model == "v2" for model in first.values()) / len(first)
    assert 0.22 < share < 0.38


def test_canary_ramps_while_healthy_and_rolls_back_on_errors(tmp_path, rollout_models):
    spec = dict(
        stable="v1",
        candidate="v2",
        mode="canary",
        ramp=[10, 50, 100],
        fid_threshold=25,
        min_requests=2,
        min_clients=2,
        min_stage_seconds=0,
    )
    rollouts = _rollouts(tmp_path, rollout_models, **spec)
    rollout = rollouts.rollouts["faces"]
    assert rollout.candidate_percent == 10
    for _ in range(5):  # one client address, however many jobs, does not advance a stage
        _finish(rollouts, "v2")
    assert rollout.candidate_percent == 10
    _finish(rollouts, "v2", address="10.0.0.2")
    assert rollout.candidate_percent == 50
    _finish(rollouts, "v1")
    _finish(rollouts, "v2")
    _finish(rollouts, "v2", "failed")
    assert rollout.status == "rolled_back" and rollout.candidate_percent == 0
    assert "error rate 0.125 > stable's 0.000" in rollout.reason  # 1 of 8 candidate jobs
    assert {rollouts.route("faces", f"c{i}")[0] for i in range(50)} == {"v1"}


def test_canary_promotes_and_refuses_a_candidate_with_a_worse_fid(tmp_path, rollout_models):
    spec = dict(stable="v1", mode="canary", ramp=[50, 100], fid_threshold=25, min_requests=1)
    spec.update(min_clients=1, min_stage_seconds=0)
    good = _rollouts(tmp_path, rollout_models, candidate="v2", **spec)
    for _ in range(2):
        _finish(good, "v2")
    assert good.rollouts["faces"].status == "promoted"
    assert good.route("faces", "anyone")[0] == "v2"
    bad = _rollouts(tmp_path, rollout_models, candidate="v3", **spec)
    assert bad.rollouts["faces"].status == "rolled_back"
    assert "FID 45 (threshold 25)" in bad.rollouts["faces"].reason


def test_shadow_answers_with_stable_and_runs_the_candidate(tmp_path, rollout_models):
    rollouts = _rollouts(tmp_path, rollout_models, stable="v1", candidate="v2", mode="shadow")
    assert rollouts.route("faces", "x") == ("v1", "v2")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"stable": "v1", "candidate": "nope", "mode": "ab"}, "candidate 'nope' is not a model"),
        ({"stable": "v1", "candidate": "v2", "mode": "blue"}, "mode must be one of"),
        ({"stable": "v1", "candidate": "v2", "mode": "canary"}, "needs fid_threshold"),
        ({"stable": "v1", "candidate": "v2", "mode": "ab", "percent": 120}, r"\[0, 100\]"),
        ({"stable": "v1", "candidate": "v2", "mode": "ab", "speed": 1}, "unknown key"),
        ({"stable": "v1", "candidate": "v1", "mode": "ab"}, "the same model"),
    ],
)
def test_rollout_file_mistakes_are_explained(tmp_path, spec, message):
    (tmp_path / "r.yaml").write_text(json.dumps({"rollouts": {"faces": spec}}))
    with pytest.raises(RolloutError, match=message):
        parse_rollouts(tmp_path / "r.yaml", {"v1", "v2"})


# --- the app in-process -----------------------------------------------------------------------
def test_no_models_is_not_an_error_but_not_ready(tmp_path):
    config = {
        "models": tmp_path / "missing",
        "bundled_models": (),
        "log_json": False,
        "static_dir": tmp_path / "no-page",
    }
    app = create_app(config)
    client = app.test_client()
    assert client.get("/api/models").json == []
    assert client.get("/api/ready").status_code == 503
    assert b"/api/openapi.json" in client.get("/").data  # the placeholder page
    app.extensions["picodiff"].close()


def test_built_web_page_is_served_and_bundled_roots_are_searched(tmp_path):
    static = tmp_path / "static"
    (static / "assets").mkdir(parents=True)
    (static / "index.html").write_text("<html>page</html>")
    (static / "assets" / "app.js").write_text("console.log(1)")
    for name in ("demo", "digits-demo", "emoji-32", "fashion-32"):
        make_model(tmp_path / "bundled", name)
    app = create_app(
        {
            "models": tmp_path / "user",
            "bundled_models": (tmp_path / "bundled",),
            "static_dir": static,
            "log_json": False,
        }
    )
    client = app.test_client()
    assert client.get("/").data == b"<html>page</html>"
    assert client.get("/assets/app.js").data == b"console.log(1)"
    assert client.get("/../secret").status_code == 404
    # the featured models first, in their order (the page offers the first), then by name
    names = [m["name"] for m in client.get("/api/models").json]
    assert names == ["fashion-32", "emoji-32", "digits-demo", "demo"]
    job = client.post("/api/generate?wait=true", json={"model": "demo", "steps": 2}).json
    assert job["status"] == "done" and len(job["images_base64"]) == 1
    assert (job["sampler"], job["spacing"]) == ("dpmpp2m", "logsnr")  # the policy's defaults
    body = {"model": "demo", "steps": 3, "sampler": "unipc3", "spacing": "karras"}
    job = client.post("/api/generate?wait=true", json=body).json
    assert job["status"] == "done" and (job["sampler"], job["spacing"]) == ("unipc3", "karras")
    app.extensions["picodiff"].close()


def test_models_root_defaults_to_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("PICODIFF_MODELS", str(tmp_path))
    assert ServeConfig().models == tmp_path
    monkeypatch.delenv("PICODIFF_MODELS")
    assert ServeConfig().models == Path("models")


@pytest.mark.parametrize(("batching", "joins"), [("step", True), ("job", False), ("none", False)])
def test_batching_policy_decides_whether_a_job_joins_a_running_one(tmp_path, batching, joins):
    """step: a second job starts while the first samples; job and none: only after it ends."""
    make_model(tmp_path, "m", T=1000)
    config = {"models": tmp_path, "bundled_models": (), "log_json": False, "batching": batching}
    app = create_app({**config, "static_dir": tmp_path / "no-page", "reload_interval": 0})
    client = app.test_client()
    try:
        body = {"model": "m", "sampler": "ddpm", "steps": 300}
        first = client.post("/api/generate", json=body).json
        while client.get(f"/api/jobs/{first['id']}").json["progress"]["step"] < 2:
            time.sleep(0.01)
        second = client.post("/api/generate?wait=true", json={"model": "m", "steps": 3}).json
        at_second = client.get(f"/api/jobs/{first['id']}").json
        assert second["status"] == "done"
        assert (at_second["status"] == "running") is joins
        if not joins:  # it waited for the first job's 300 steps
            assert second["started"] >= at_second["finished"]
    finally:
        app.extensions["picodiff"].close()


def test_a_model_replaced_mid_job_never_mixes_versions_within_the_job(tmp_path):
    """Rows that start after the model changed still draw with the weights the job began with."""
    make_model(tmp_path, "m", T=1000)
    app = create_app(
        {
            "models": tmp_path,
            "bundled_models": (),
            "log_json": False,
            "static_dir": tmp_path / "no-page",
            "reload_interval": 0,
            "max_batch": 2,  # 4 images: two cohorts, one after the other
        }
    )
    client = app.test_client()
    body = {"model": "m", "n": 4, "sampler": "ddpm", "steps": 200, "seed": 9}
    try:
        old = client.post("/api/generate?wait=true", json=body).json
        job = client.post("/api/generate", json=body).json
        while client.get(f"/api/jobs/{job['id']}").json["progress"]["step"] < 2:
            time.sleep(0.01)
        make_model(tmp_path, "m", T=1000, seed=1)  # new weights under the same name
        assert client.post("/api/models/reload").json["changed"] == ["m"]
        assert client.get(f"/api/jobs/{job['id']}").json["progress"]["images_done"] < 3
        done = client.post("/api/generate?wait=true", json=body).json  # queued behind the job
        mixed = client.get(f"/api/jobs/{job['id']}").json
        assert mixed["status"] == "done" and mixed["version"] == old["version"]
        pngs = [client.get(url).data for url in mixed["images"]]
        assert pngs == [base64.b64decode(b) for b in old["images_base64"]]
        assert done["version"] != old["version"]
        assert done["images_base64"] != old["images_base64"]  # the reload took effect
    finally:
        app.extensions["picodiff"].close()


@pytest.mark.parametrize(
    ("listen", "allowed", "host", "origin", "answered"),
    [
        ("127.0.0.1", (), "localhost:8000", None, True),
        ("127.0.0.1", (), "[::1]:8000", "http://127.0.0.1:8000", True),
        ("127.0.0.1", (), "pico.lan:8000", None, False),
        ("127.0.0.1", ("pico.lan",), "PICO.lan:8000", "https://pico.lan", True),
        ("127.0.0.1", ("pico.lan",), "pico.lan", "http://other.lan", False),
        ("0.0.0.0", (), "192.168.1.7:8000", "http://192.168.1.7:8000", True),
        ("0.0.0.0", (), "rebound.example:8000", None, False),
        ("127.0.0.1", (), None, None, False),
        ("127.0.0.1", (), "localhost", "chrome-extension://abc", False),
    ],
)
def test_host_policy(listen, allowed, host, origin, answered):
    from picodiff.serving.origin import HostPolicy

    assert (HostPolicy(listen, allowed).refusal(host, origin) is None) is answered


def test_allow_host_lets_a_named_host_in(tmp_path):
    config = {"models": tmp_path, "bundled_models": (), "log_json": False, "reload_interval": 0}
    app = create_app({**config, "allowed_hosts": ("pico.lan",), "static_dir": tmp_path / "x"})
    client = app.test_client()
    try:
        assert client.get("/api/health", headers={"Host": "pico.lan:8000"}).status_code == 200
        refused = client.get("/api/health", headers={"Host": "other.lan"})
        assert refused.status_code == 403 and refused.json["error"]["status"] == 403
    finally:
        app.extensions["picodiff"].close()


def test_a_reload_while_a_scan_runs_answers_at_once(tmp_path):
    make_model(tmp_path, "m")
    config = {"models": tmp_path, "bundled_models": (), "log_json": False, "reload_interval": 0}
    app = create_app({**config, "static_dir": tmp_path / "no-page"})
    manager = app.extensions["picodiff"].manager
    try:
        with manager._scan_lock:  # a scan in progress (the watcher's, or a slow disk's)
            answer = app.test_client().post("/api/models/reload").json
        assert answer["in_progress"] is True and [m["name"] for m in answer["models"]] == ["m"]
        answer = app.test_client().post("/api/models/reload").json
        assert answer["in_progress"] is False
    finally:
        app.extensions["picodiff"].close()

"""Sampling presets: the rule that picks them from a measured curve, the record in a model's
metadata, and the defaults they set in `picodiff sample`, `picodiff fid` and the server."""

import io
import json
import subprocess
import sys

import numpy as np
import pytest
from live_server import serving_models
from PIL import Image
from tiny_models import PRESETS_RECORD, cpu_threads, tiny_checkpoint, with_presets

from picodiff.checkpoint import load_checkpoint
from picodiff.diffusion import SamplerSettings
from picodiff.errors import OptionError
from picodiff.pixels import to_uint8
from picodiff.sampling import sample_images
from picodiff.sampling.presets import Presets, choose_settings, pick_presets

one_torch_thread = pytest.fixture(scope="module", autouse=True)(cpu_threads)


def point(sampler, steps, nfe, fid, spacing="logsnr"):
    return {"sampler": sampler, "spacing": spacing, "steps": steps, "nfe": nfe, "fid": fid}


# the curve of a model where a multistep solver wins late and DDIM early
CURVE = [
    point("ddim", 5, 5, 140.0, "linear"),
    point("ddim", 10, 10, 90.0, "linear"),
    point("ddim", 20, 20, 85.0, "linear"),
    point("dpmpp2m", 5, 5, 150.0),
    point("dpmpp2m", 10, 10, 88.0),
    point("dpmpp2m", 20, 20, 79.0),
    point("heun", 8, 15, 86.0),
]
RECORD = PRESETS_RECORD


def test_the_rule_picks_fast_balanced_and_best_from_a_curve():
    presets = pick_presets(CURVE, "the command")
    picked = {name: (p.sampler, p.steps, p.nfe) for name, p in presets.named.items()}
    # best: the lowest FID (79 at 20 NFE); fast: the lowest FID at 5 NFE (ddim, 140);
    # balanced: the fewest NFE within 10% of 79 (86.9): dpmpp2m at 10 NFE (88 > 86.9 is out),
    # so heun at 15 NFE (86.0)
    assert picked == {
        "fast": ("ddim", 5, 5),
        "balanced": ("heun", 8, 15),
        "best": ("dpmpp2m", 20, 20),
    }
    assert presets.default == "balanced" and presets.measured == "the command"
    assert Presets.from_metadata({"sampling": presets.to_metadata()}) == presets


@pytest.mark.parametrize(
    "record, words",
    [
        ({"presets": []}, "must be an object"),
        ({"presets": {"quick": RECORD["presets"]["fast"]}}, "a preset is one of"),
        ({**RECORD, "default": "best-ever"}, "default 'best-ever'"),
        (
            {"presets": {"fast": {**RECORD["presets"]["fast"], "sampler": "plms"}}},
            "needs a sampler",
        ),
        ({"presets": {"best": {**RECORD["presets"]["best"], "fid": "low"}}}, "finite fid"),
    ],
)
def test_a_malformed_record_says_what_is_wrong(record, words):
    with pytest.raises(ValueError, match=words):
        Presets.from_metadata({"sampling": record})


def test_settings_a_user_asks_for_with_and_without_presets():
    presets = Presets.from_metadata({"sampling": RECORD})
    assert choose_settings(presets) == SamplerSettings("ddim", 6, spacing="trailing")
    assert choose_settings(presets, "best") == SamplerSettings("dpmpp2m", 12, spacing="logsnr")
    # without a sampler, the default preset's sampler with the steps or spacing given
    assert choose_settings(presets, steps=9) == SamplerSettings("ddim", 9, spacing="trailing")
    # a sampler named: its own defaults, not the preset's steps
    assert choose_settings(presets, sampler="euler") == SamplerSettings("euler")
    assert choose_settings(None) == SamplerSettings("dpmpp2m")
    for kwargs, field in [
        ({"steps": 0}, "steps"),  # checked as given, not taken for "not given"
        ({"preset": "fast", "steps": 0}, "steps"),
        ({"preset": "fast", "steps": 4}, "steps"),
        ({"preset": "fast", "eta": 0.5}, "eta"),
        ({"eta": 0.5}, "eta"),  # eta only with ddim named, whatever the preset's sampler
    ]:
        with pytest.raises(OptionError) as caught:
            choose_settings(presets, **kwargs)
        assert caught.value.field == field
    with pytest.raises(OptionError, match="no sampling presets") as caught:
        choose_settings(None, "fast")
    assert caught.value.field == "preset"


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """`curved`, a tiny model with recorded presets, and `plain`, one without."""
    root = tmp_path_factory.mktemp("models")
    tiny_checkpoint(root / "plain", T=40)
    with_presets(tiny_checkpoint(root / "curved", T=40, seed=1))
    return root


def drawn_alone(path, settings, seed, n):
    return to_uint8(sample_images(load_checkpoint(path), list(range(n)), settings, seed=seed))


def run_sample(*args):
    command = [sys.executable, "-m", "picodiff", "sample", *args, "--quiet"]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def test_picodiff_sample_draws_with_the_models_default_preset(models, tmp_path):
    done = run_sample(str(models / "curved"), "--out", str(tmp_path / "a"), "--n", "2")
    assert done.returncode == 0, done.stderr
    record = json.loads((tmp_path / "a" / "samples.json").read_text())
    assert (record["sampler"], record["steps"], record["spacing"]) == ("ddim", 6, "trailing")
    expected = drawn_alone(models / "curved", SamplerSettings("ddim", 6, spacing="trailing"), 0, 2)
    got = np.asarray(Image.open(tmp_path / "a" / "000001.png"))
    assert np.array_equal(got, expected[1])

    done = run_sample(str(models / "curved"), "--out", str(tmp_path / "b"), "--preset", "best")
    assert done.returncode == 0, done.stderr
    record = json.loads((tmp_path / "b" / "samples.json").read_text())
    assert (record["sampler"], record["steps"], record["spacing"]) == ("dpmpp2m", 12, "logsnr")
    done = run_sample(str(models / "plain"), "--out", str(tmp_path / "c"), "--n", "1")
    assert done.returncode == 0, done.stderr
    record = json.loads((tmp_path / "c" / "samples.json").read_text())
    assert (record["sampler"], record["steps"]) == ("dpmpp2m", 20)


@pytest.mark.parametrize(
    "model, flags, words",
    [
        ("curved", ["--preset", "fast", "--steps", "4"], "--steps: a preset sets the sampler"),
        ("plain", ["--preset", "fast"], "--preset: this model has no sampling presets"),
        ("curved", ["--preset", "fastest"], "invalid choice: 'fastest'"),
    ],
)
def test_picodiff_sample_refuses_a_preset_it_cannot_use(models, tmp_path, model, flags, words):
    done = run_sample(str(models / model), "--out", str(tmp_path / "x"), *flags)
    assert done.returncode == 2 and words in done.stderr and "Traceback" not in done.stderr


@pytest.fixture(scope="module")
def server(models, tmp_path_factory):
    yield from serving_models(models, tmp_path_factory)


def test_the_api_lists_presets_and_draws_with_them(server, models):
    listed = {m["name"]: m for m in server.get("/api/models").json()}
    assert listed["curved"]["sampling"] == RECORD and listed["plain"]["sampling"] is None

    job = server.generate(model="curved", n=2, seed=7).json()
    assert (job["sampler"], job["steps"], job["spacing"]) == ("ddim", 6, "trailing")
    expected = drawn_alone(models / "curved", SamplerSettings("ddim", 6, spacing="trailing"), 7, 2)
    png = server.get(job["images"][1]).content
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(png))), expected[1])

    job = server.generate(model="curved", seed=7, preset="fast").json()
    assert (job["sampler"], job["steps"], job["spacing"]) == ("ddim", 3, "linear")
    job = server.generate(model="plain", seed=7).json()
    assert (job["sampler"], job["steps"]) == ("dpmpp2m", 20)


@pytest.mark.parametrize(
    "body, field, words",
    [
        ({"model": "curved", "preset": "best", "sampler": "ddim"}, "sampler", "drop sampler"),
        ({"model": "plain", "preset": "best"}, "preset", "no sampling presets"),
        ({"model": "curved", "preset": "quick"}, "preset", "must be one of"),
        ({"model": "curved", "eta": 0.5}, "eta", "give sampler ddim"),
    ],
)
def test_the_api_refuses_a_preset_it_cannot_use(server, body, field, words):
    answer = server.generate(**body)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["field"] == field and words in error["message"]


def test_a_malformed_record_makes_the_model_invalid_with_the_reason(tmp_path):
    from picodiff.serving.catalog import inspect

    path = with_presets(tiny_checkpoint(tmp_path / "odd", T=40), {"presets": {"fast": {}}})
    entry = inspect("odd", path)
    assert not entry.valid and "preset 'fast' needs a sampler" in entry.reason

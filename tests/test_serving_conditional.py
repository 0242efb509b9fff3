"""Conditional models through the API: labels by name or index, prompts, guidance, the 422s,
and images equal to those the engine draws alone."""

import io

import numpy as np
import pytest
from PIL import Image
from test_serving_units import make_model
from tiny_models import class_checkpoint, cpu_threads, text_checkpoint

from picodiff.checkpoint import load_checkpoint
from picodiff.diffusion import SamplerSettings
from picodiff.pixels import to_uint8
from picodiff.provenance import read_provenance
from picodiff.sampling import sample_images
from picodiff.serving import create_app

one_torch_thread = pytest.fixture(scope="module", autouse=True)(cpu_threads)
LABELS = ("cat", "dog", "bird")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    class_checkpoint(root / "pets", LABELS)
    text_checkpoint(root / "words")
    make_model(root, "plain", T=20)
    app = create_app({"models": root, "bundled_models": (), "reload_interval": 0})
    yield app.test_client(), root
    app.extensions["picodiff"].close()


def generate(client, **body):
    return client.post("/api/generate?wait=true", json=body)


def test_models_list_their_labels(served):
    client, _ = served
    models = {m["name"]: m for m in client.get("/api/models").json}
    assert models["pets"]["conditioning"] == {
        "kind": "class",
        "field": "class",
        "labels": list(LABELS),
    }
    assert models["plain"]["conditioning"] is None


@pytest.mark.parametrize("label", ["dog", 1, "1", 1.0])
def test_a_label_draws_what_the_engine_draws_alone(served, label):
    client, root = served
    answer = generate(
        client, model="pets", n=2, seed=4, steps=4, sampler="ddim", label=label, guidance=2.5
    )
    assert answer.status_code == 200, answer.json
    job = answer.json
    assert (job["label"], job["guidance"]) == ("dog", 2.5)
    checkpoint = load_checkpoint(root / "pets")
    expected = to_uint8(
        sample_images(
            checkpoint, [0, 1], SamplerSettings("ddim", 4), seed=4, labels=[1, 1], guidance=2.5
        )
    )
    for index in (0, 1):
        png = client.get(job["images"][index]).data
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(png))), expected[index])
    made = read_provenance(png)
    assert (made["label"], made["guidance"]) == ("dog", 2.5)


def test_the_default_guidance_and_an_unconditional_draw(served):
    client, _ = served
    guided = generate(client, model="pets", seed=1, steps=3, label="cat").json
    plain = generate(client, model="pets", seed=1, steps=3).json
    assert guided["guidance"] == 3.0 and plain["label"] is None and plain["guidance"] is None
    assert client.get(guided["images"][0]).data != client.get(plain["images"][0]).data


@pytest.mark.parametrize(
    "body, field, words",
    [
        ({"model": "pets", "label": "fish"}, "label", "unknown label 'fish'"),
        ({"model": "pets", "label": 3}, "label", "unknown label 3"),
        ({"model": "pets", "label": -1}, "label", "at least 0"),
        ({"model": "pets", "label": True}, "label", "a string or an integer"),
        ({"model": "pets", "label": 1.5}, "label", "a string or an integer"),
        ({"model": "pets", "label": "x" * 201}, "label", "at most 200 characters"),
        ({"model": "pets", "label": ""}, "label", "at least 1 characters"),
        ({"model": "plain", "label": "cat"}, "label", "not class-conditional"),
        ({"model": "pets", "guidance": 2}, "guidance", "needs a label"),
        ({"model": "pets", "label": "cat", "guidance": -1}, "guidance", "at least 0"),
        ({"model": "pets", "label": "cat", "guidance": 21}, "guidance", "at most 20"),
        ({"model": "words", "prompt": ""}, "prompt", "at least 1 characters"),
        ({"model": "words", "prompt": "   "}, "prompt", "prompt is empty"),
        ({"model": "words", "prompt": "x" * 201}, "prompt", "at most 200 characters"),
        ({"model": "words", "prompt": 7}, "prompt", "must be a string"),
        ({"model": "words", "label": "cat"}, "label", "not class-conditional; give a prompt"),
        ({"model": "pets", "prompt": "a cat"}, "prompt", "not text-conditional; give a label"),
        ({"model": "plain", "prompt": "a cat"}, "prompt", "not text-conditional"),
        ({"model": "words", "guidance": 2}, "guidance", "needs a label or a prompt"),
        ({"model": "pets", "label": "cat", "prompt": "a cat"}, "prompt", "not both"),
    ],
)
def test_conditional_fields_are_validated(served, body, field, words):
    client, _ = served
    answer = generate(client, **body)
    assert answer.status_code == 422, answer.json
    error = answer.json["error"]
    assert error["field"] == field and words in error["message"], error


def test_a_prompt_draws_what_the_engine_draws_alone(served):
    client, root = served
    models = {m["name"]: m for m in client.get("/api/models").json}
    conditioning = models["words"]["conditioning"]
    assert conditioning["kind"] == "text" and conditioning["tokens"] == 16
    assert conditioning["encoder"] == "sentence-transformers/all-MiniLM-L6-v2"
    body = {"model": "words", "n": 2, "seed": 4, "steps": 4, "sampler": "ddim", "guidance": 2.5}
    answer = generate(client, **body, prompt="  a red apple ")
    assert answer.status_code == 200, answer.json
    job = answer.json
    assert (job["prompt"], job["guidance"], job["label"]) == ("a red apple", 2.5, None)
    checkpoint = load_checkpoint(root / "words")
    settings = SamplerSettings("ddim", 4)
    prompts = ["a red apple"] * 2
    expected = to_uint8(
        sample_images(checkpoint, [0, 1], settings, seed=4, prompts=prompts, guidance=2.5)
    )
    for index in (0, 1):
        png = client.get(job["images"][index]).data
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(png))), expected[index])
    made = read_provenance(png)
    assert (made["prompt"], made["guidance"]) == ("a red apple", 2.5)
    other = generate(client, **body, prompt="a green tree").json
    assert client.get(other["images"][0]).data != client.get(job["images"][0]).data

"""Text-conditional training and guided sampling end to end, with the real sentence encoder
(all-MiniLM-L6-v2 from its wheel), on squares and discs described in words."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from test_conditional import SIZE, is_square, shape, trained_alike
from test_train import config
from tiny_models import cpu_threads

from picodiff.checkpoint import load_checkpoint
from picodiff.cli import main
from picodiff.data import ImageStore, StoreWriter
from picodiff.data.texts import cached_embeddings, row_texts
from picodiff.diffusion import SamplerSettings
from picodiff.errors import UserError
from picodiff.sampling import sample_images
from picodiff.text_encoder import TextEncoder
from picodiff.training import Trainer

single_thread = pytest.fixture(scope="module", autouse=True)(cpu_threads)
TEXTS = {
    "square": ["a square", "a white box"],
    "disc": ["a disc", "a round dot"],
}


def make_described_shapes(path, count=128, seed=0, texts=TEXTS):
    rng = np.random.default_rng(seed)
    with StoreWriter(path, size=SIZE, channels=1) as writer:
        for split, n in (("train", count), ("val", 16)):
            for i in range(n):
                kind = ("square", "disc")[i % 2]
                row = {"source": f"{split}-{i}", "name": texts[kind][0], "also": texts[kind][1:]}
                writer.add(split, shape(kind, rng), row)
        writer.commit({"source": "generated shapes, described"})
    return path


@pytest.fixture(scope="module")
def encoder():
    return TextEncoder()


def test_texts_are_encoded_once_and_cached_with_the_store(tmp_path, encoder):
    store = ImageStore(make_described_shapes(tmp_path / "shapes", count=8))
    texts = row_texts(store, ("name", "also"))
    assert texts.texts == ("a square", "a white box", "a disc", "a round dot")
    assert texts.rows[:2] == ((0, 1), (2, 3))  # each row's texts, by index
    assert texts.first[:3] == ("a square", "a disc", "a square")  # each row's name
    first = cached_embeddings(store, texts.texts, encoder)
    assert encoder.encoded == 4 and first.tokens.shape == (4, 16, 384)
    again = TextEncoder()  # a new process's encoder: everything comes from the cache
    second = cached_embeddings(store, texts.texts[::-1], again)
    assert again.encoded == 0
    assert torch.equal(second.tokens, first.tokens.flip(0))
    # one text alone: the cached embedding, the sentence embedding of unit length
    alone = again.encode("a disc")
    assert torch.equal(alone.tokens, first.tokens[2]) and torch.equal(alone.mask, first.mask[2])
    assert abs(float(alone.pooled.norm()) - 1) < 1e-5
    assert int(alone.mask.sum()) == 4  # [CLS] a disc [SEP]
    assert (alone.tokens[~alone.mask] == 0).all()
    with pytest.raises(UserError, match="no text in"):
        row_texts(store, ("source-that-is-not-there",))


def test_the_encoder_loads_with_the_network_blocked(tmp_path):
    """No hub access: a dead proxy for every request and no offline flag set beforehand."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    env |= {"HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"}
    env |= {"HF_HOME": str(tmp_path / "hf-home")}  # nothing cached from any earlier download
    code = (
        "from picodiff.text_encoder import TextEncoder as E; print(E().encode('hi').pooled.shape)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "torch.Size([384])" in done.stdout


def test_a_text_model_draws_what_the_prompt_says(tmp_path):
    store = make_described_shapes(tmp_path / "shapes")
    run = tmp_path / "run"
    cfg = config(
        store,
        "lr=3e-3",
        "batch_size=16",
        "ema_decay=0.99",
        condition="text",
        text_field="name,also",
        max_steps=400,
    )
    Trainer(cfg, run).fit()
    checkpoint = load_checkpoint(run / "last")
    conditioning = checkpoint.conditioning
    assert conditioning.kind == "text" and conditioning.fields == ("name", "also")
    assert checkpoint.config.text_dim == 384
    saved = json.loads((run / "last" / "config.json").read_text())["conditioning"]
    assert saved["encoder"] == "sentence-transformers/all-MiniLM-L6-v2"
    settings, n = SamplerSettings("ddim", 20), 24
    hits = {}
    for kind, prompt in (("square", "a white box"), ("disc", "a round dot")):
        images = sample_images(checkpoint, range(n), settings, prompts=[prompt] * n, guidance=3)
        pixels = ((images + 1) * 127.5).round().clamp(0, 255).numpy()[:, 0]
        squares = sum(is_square(p) for p in pixels)
        hits[kind] = squares if kind == "square" else n - squares
    assert hits["square"] >= 0.8 * n and hits["disc"] >= 0.8 * n, hits
    # batch invariance: an image depends on its seed, index, prompt and guidance only
    mixed = sample_images(
        checkpoint, [5, 6, 7], settings, prompts=["a disc", "a square", None], guidance=3
    )
    alone = sample_images(checkpoint, [6], settings, prompts=["a square"], guidance=3)
    assert torch.equal(mixed[1], alone[0])
    # a class model's option is refused on a text model, and the reverse
    with pytest.raises(UserError, match="not class-conditional"):
        sample_images(checkpoint, [0], settings, labels=[0])

    out = tmp_path / "drawn"
    code = main(["sample", str(run), "--n", "4", "--prompt", "a square", "--guidance", "3",
                 "--sampler", "ddim", "--steps", "20", "--out", str(out), "--quiet"])  # fmt: skip
    assert code == 0
    assert len(list(out.glob("*.png"))) >= 4


def test_with_cond_drop_1_the_texts_never_reach_the_network(tmp_path):
    """Two stores of the same images with the texts swapped train to the same weights when
    every text is dropped (all rows get the empty text), and to different ones when none is."""
    swapped = {"square": TEXTS["disc"], "disc": TEXTS["square"]}
    stores = [
        make_described_shapes(tmp_path / "a", count=16),
        make_described_shapes(tmp_path / "b", count=16, texts=swapped),
    ]
    for drop, same in ((1.0, True), (0.0, False)):
        assert trained_alike(tmp_path, stores, drop, "text") == same, f"cond_drop={drop}"


def test_a_server_without_the_encoder_lists_a_text_model_as_invalid(tmp_path):
    """Where sentence-transformers is not installed (the core install), a text model is
    listed invalid with what to install, and an unconditional one beside it stays valid."""
    from test_serving_units import make_model
    from tiny_models import text_checkpoint

    text_checkpoint(tmp_path / "words")
    make_model(tmp_path, "plain", T=20)
    code = (
        "import sys; sys.modules['sentence_transformers'] = None  # as if not installed\n"
        "from pathlib import Path\n"
        "from picodiff.serving.catalog import discover, inspect\n"
        f"for name, path in discover((Path({str(tmp_path)!r}),)).items():\n"
        "    entry = inspect(name, path); print(name, entry.valid, entry.reason)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    listed = dict(line.split(" ", 1) for line in done.stdout.splitlines())
    assert listed["plain"].startswith("True")
    assert listed["words"].startswith("False") and "pip install 'picodiff[text]'" in listed["words"]


def test_the_bundled_emoji_model_draws_a_named_emoji_and_credits_its_images(tmp_path):
    """`emoji-32` ships in the package: a red apple comes out red, a cat face yellow (mean
    colour of the non-white pixels), and its metadata carries Twemoji's CC-BY attribution."""
    from picodiff.bundled import bundled_model

    colours = {}
    for prompt in ("red apple", "cat face"):
        out = tmp_path / prompt.replace(" ", "-")
        assert main(["sample", "emoji-32", "--n", "2", "--prompt", prompt, "--out", str(out),
                     "--quiet"]) == 0  # fmt: skip
        pixels = np.concatenate(
            [np.asarray(Image.open(p)).reshape(-1, 3) for p in sorted(out.glob("*.png"))]
        ).astype(float)
        colours[prompt] = pixels[pixels.min(1) < 200].mean(0)  # the drawing, not the white
    red, green, blue = colours["red apple"]
    assert red > green + 60 and red > blue + 40, colours
    red, green, blue = colours["cat face"]
    assert min(red, green) > blue + 60, colours
    metadata = json.loads((bundled_model("emoji-32") / "config.json").read_text())["metadata"]
    assert any("Twemoji graphics by Twitter" in line for line in metadata["attribution"])
    assert {x["license"] for x in metadata["licences"]} == {"CC-BY-4.0", "Apache-2.0", "MIT"}

"""Class-conditional training and guided sampling end to end, on two shapes a rule can tell
apart: squares and discs."""

import json

import numpy as np
import pytest
import torch
from test_train import config
from tiny_models import cpu_threads

from picodiff.checkpoint import load_checkpoint
from picodiff.cli import main
from picodiff.data import StoreWriter
from picodiff.diffusion import SamplerSettings
from picodiff.sampling import sample_images
from picodiff.training import Trainer

single_thread = pytest.fixture(scope="module", autouse=True)(cpu_threads)
SIZE = 16


def shape(kind: str, rng) -> np.ndarray:
    """A bright square or disc (side / diameter 10 px, pixels 3..12) on a dark image, its
    brightness varied a little."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] - 7.5
    inside = (abs(yy) < 5) & (abs(xx) < 5) if kind == "square" else yy**2 + xx**2 < 25
    return np.where(inside, rng.integers(200, 250), 20).astype(np.uint8)[..., None]


def is_square(image: np.ndarray) -> bool:
    """Squares fill the corners of their 10 px box, discs leave them dark."""
    corners = image[[3, 3, 12, 12], [3, 12, 3, 12]]
    return float(corners.mean()) > 125


def make_shapes(path, labels=("square", "disc"), count=128, seed=0):
    rng = np.random.default_rng(seed)
    with StoreWriter(path, size=SIZE, channels=1) as writer:
        for split, n in (("train", count), ("val", 16)):
            for i in range(n):
                kind = ("square", "disc")[i % 2]
                writer.add(
                    split, shape(kind, rng), {"source": f"{split}-{i}", "class": labels[i % 2]}
                )
        writer.commit({"source": "generated shapes"})
    return path


def test_the_rule_tells_the_shapes_apart():
    rng = np.random.default_rng(1)
    assert all(is_square(shape("square", rng)) for _ in range(20))
    assert not any(is_square(shape("disc", rng)) for _ in range(20))


def test_a_class_model_draws_the_requested_class(tmp_path):
    store = make_shapes(tmp_path / "shapes")
    run = tmp_path / "run"
    cfg = config(
        store, "lr=3e-3", "batch_size=16", "ema_decay=0.99", condition="class", max_steps=400
    )
    Trainer(cfg, run).fit()
    checkpoint = load_checkpoint(run / "last")
    assert checkpoint.conditioning.labels == ("disc", "square")  # sorted names
    assert checkpoint.conditioning.field == "class" and checkpoint.config.num_classes == 2
    settings, n = SamplerSettings("ddim", 20), 24
    hits = {}
    for label, name in enumerate(("disc", "square")):
        images = sample_images(checkpoint, range(n), settings, labels=[label] * n, guidance=3)
        pixels = ((images + 1) * 127.5).round().clamp(0, 255).numpy()[:, 0]
        squares = sum(is_square(p) for p in pixels)
        hits[name] = squares if name == "square" else n - squares
    # chance is half of each; the model draws the class asked for far more often
    assert hits["square"] >= 0.8 * n and hits["disc"] >= 0.8 * n, hits

    # the CLI: a label by name, the guidance, the provenance of each image
    out = tmp_path / "drawn"
    code = main(["sample", str(run), "--n", "4", "--label", "square", "--guidance", "3",
                 "--sampler", "ddim", "--steps", "20", "--out", str(out), "--quiet"])  # fmt: skip
    assert code == 0
    from PIL import Image

    from picodiff.provenance import read_provenance

    drawn = sorted(out.glob("*.png"))
    assert sum(is_square(np.asarray(Image.open(p))) for p in drawn) >= 3
    made = read_provenance(drawn[0])
    assert made["label"] == "square" and made["guidance"] == 3


def test_with_cond_drop_1_the_labels_never_reach_the_network(tmp_path):
    """Two stores of the same images with the labels swapped train to the same weights when
    every label is dropped, and to different ones when none is."""
    stores = [
        make_shapes(tmp_path / "a", labels=("square", "disc")),
        make_shapes(tmp_path / "b", labels=("disc", "square")),
    ]
    for drop, same in ((1.0, True), (0.0, False)):
        equal = trained_alike(tmp_path, stores, drop, "class", skip="class_embed")
        assert equal == same, f"cond_drop={drop}"


def trained_alike(tmp_path, stores, drop: float, condition: str, skip: str = "-") -> bool:
    """Whether short runs on each store with `cond_drop` = drop end with equal weights (those
    whose names start with `skip` aside)."""
    weights = []
    for k, store in enumerate(stores):
        cfg = config(store, f"cond_drop={drop}", condition=condition, max_steps=6)
        Trainer(cfg, tmp_path / f"run-{drop}-{k}").fit()
        weights.append(load_checkpoint(tmp_path / f"run-{drop}-{k}" / "last").model)
    net_a, net_b = (w.state_dict() for w in weights)
    return all(torch.equal(net_a[k], net_b[k]) for k in net_a if not k.startswith(skip))


def test_labels_and_guidance_are_refused_where_they_do_not_apply(tmp_path, capsys):
    store = make_shapes(tmp_path / "shapes", count=16)
    Trainer(config(store, condition="class", max_steps=2), tmp_path / "run").fit()
    assert main(["sample", str(tmp_path / "run"), "--n", "1", "--label", "triangle",
                 "--out", str(tmp_path / "x"), "--quiet"]) == 2  # fmt: skip
    assert "unknown label 'triangle'" in capsys.readouterr().err
    config_file = tmp_path / "run" / "last" / "config.json"
    saved = json.loads(config_file.read_text())
    assert saved["conditioning"] == {
        "kind": "class",
        "field": "class",
        "labels": ["disc", "square"],
    }

"""FID of one class: a class-conditional model's images of that class against the reference
split's images of the same class (`picodiff fid --label`, `picodiff report --label`)."""

import json

import numpy as np
import pytest
import torch
from fid_features import colour_stats
from PIL import Image
from test_conditional import make_shapes
from tiny_models import class_checkpoint, cpu_threads

from picodiff.cli import main
from picodiff.data import ImageStore
from picodiff.diffusion import SamplerSettings
from picodiff.evaluation import fid_kid
from picodiff.pixels import to_uint8
from picodiff.provenance import read_provenance
from picodiff.sampling import open_checkpoint, sample_images

single_thread = pytest.fixture(scope="module", autouse=True)(cpu_threads)
FEATURES = ["--features", "fid_features:colour_stats"]


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    root = tmp_path_factory.mktemp("fid")
    store = make_shapes(root / "shapes", count=16)
    class_checkpoint(root / "model", ("disc", "square"), channels=1)
    return root, store


def test_the_fid_of_one_class_is_against_that_class(shapes, tmp_path):
    root, store = shapes
    report = tmp_path / "fid.json"
    args = ["fid", "--samples", str(root / "model"), "--ref", str(store), "--n", "6"]
    args += ["--label", "square", "--guidance", "2", "--sampler", "ddim", "--steps", "4"]
    assert main([*args, *FEATURES, "--report", str(report), "--quiet"]) == 0
    written = json.loads(report.read_text())
    val = ImageStore(store, "val")
    squares = [i for i, line in enumerate((store / "val.index.jsonl").read_text().splitlines())
               if json.loads(line)["class"] == "square"]  # fmt: skip
    assert (
        written["reference"]["n"] == len(squares) == 8 and written["reference"]["label"] == "square"
    )
    assert (written["samples"]["label"], written["samples"]["guidance"]) == ("square", 2.0)
    # the same figure computed apart
    real = colour_stats(torch.from_numpy(val.array[squares]).permute(0, 3, 1, 2))
    model = open_checkpoint(str(root / "model"))
    drawn = sample_images(model, range(6), SamplerSettings("ddim", 4), labels=[1] * 6, guidance=2)
    fake = colour_stats(torch.from_numpy(to_uint8(drawn)).permute(0, 3, 1, 2))
    assert written["fid"] == pytest.approx(fid_kid(real.double(), fake.double())["fid"], rel=1e-6)


def test_a_class_is_read_from_the_whole_split_s_cached_features(shapes, tmp_path):
    root, store = shapes
    args = ["fid", "--samples", str(root / "model"), "--ref", str(store), "--n", "4", *FEATURES]
    figures = []
    for extra in (["--label", "disc"], [], ["--label", "disc"]):  # the second caches val
        report = tmp_path / f"fid{len(figures)}.json"
        assert main([*args, *extra, "--steps", "3", "--report", str(report), "--quiet"]) == 0
        figures.append(json.loads(report.read_text()))
    first, whole, again = figures
    assert not whole["reference"]["cached"] and again["reference"]["cached"]
    assert again["reference"]["n"] == first["reference"]["n"] == 8
    assert again["fid"] == pytest.approx(first["fid"], rel=1e-9)


def test_report_takes_a_label(shapes, tmp_path):
    root, store = shapes
    out = tmp_path / "report"
    args = ["report", str(root / "model"), "--ref", str(store), "--n", "4", "--steps", "3"]
    assert main([*args, "--label", "disc", *FEATURES, "--out", str(out), "--quiet"]) == 0
    assert "class: disc, guidance 3" in (out / "report.md").read_text()


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--label", "triangle"], "unknown label 'triangle'"),
        (["--label", "2"], "unknown label '2'"),
        (["--guidance", "-1"], "--guidance must be a finite number >= 0"),
    ],
)
def test_wrong_labels_are_refused(shapes, tmp_path, capsys, extra, words):
    root, store = shapes
    args = ["fid", "--samples", str(root / "model"), "--ref", str(store), "--n", "2", *extra]
    assert main([*args, *FEATURES, "--report", str(tmp_path / "f.json"), "--quiet"]) == 2
    assert words in capsys.readouterr().err


def test_a_label_needs_a_class_model_drawn_on_the_fly(shapes, tmp_path, capsys):
    store = shapes[1]
    folder = tmp_path / "folder"
    folder.mkdir()
    args = ["fid", "--samples", str(folder), "--ref", str(store), "--label", "disc", *FEATURES]
    assert main(args) == 2
    assert "not a samples folder" in capsys.readouterr().err


def test_every_class_draws_image_i_of_class_i_mod_the_classes(shapes):
    """The FID of a class model as a whole (its recorded `fid`): classes in turn, guided."""
    from picodiff.evaluation import checkpoint_features
    from picodiff.sampling import sample_batches

    root, _ = shapes
    model, settings = open_checkpoint(str(root / "model")), SamplerSettings("ddim", 4)
    batches = sample_batches(
        model, range(5), settings, batch_size=4, micro_batch=2, every_class=True, guidance=2
    )
    drawn = torch.from_numpy(np.concatenate([b for _, b in batches]))
    expected = sample_images(model, range(5), settings, labels=[0, 1, 0, 1, 0], guidance=2)
    assert torch.equal(drawn, torch.from_numpy(to_uint8(expected)))
    unconditional = to_uint8(sample_images(model, range(5), settings))
    assert not torch.equal(drawn, torch.from_numpy(unconditional))
    features = checkpoint_features(
        colour_stats, model, 5, settings, seed=0, batch_size=4, micro_batch=2,
        progress=False, every_class=True, guidance=2,
    )  # fmt: skip
    pixels = torch.from_numpy(to_uint8(expected)).permute(0, 3, 1, 2)
    assert torch.allclose(features.features, colour_stats(pixels).double())


def test_without_a_label_a_class_model_draws_its_classes_in_turn(shapes, tmp_path):
    """`picodiff sample`, `fid` and `report` draw a class model as its FID is recorded: image
    i of class i mod the classes at its default guidance (3 here); --guidance 0 draws its
    unconditional branch."""
    root, store = shapes
    model, settings = open_checkpoint(str(root / "model")), SamplerSettings("ddim", 3)
    drawn = {}
    for extra in ([], ["--guidance", "0"]):
        out = tmp_path / f"samples{len(drawn)}"
        args = ["sample", str(root / "model"), "--n", "3", "--sampler", "ddim", "--steps", "3"]
        assert main([*args, *extra, "--out", str(out), "--quiet"]) == 0
        pngs = [np.asarray(Image.open(out / f"{i:06d}.png"))[..., None] for i in range(3)]
        drawn[len(drawn)] = np.stack(pngs)
    in_turn = to_uint8(sample_images(model, range(3), settings, labels=[0, 1, 0], guidance=3))
    assert np.array_equal(drawn[0], in_turn)
    assert np.array_equal(drawn[1], to_uint8(sample_images(model, range(3), settings)))
    made = read_provenance(tmp_path / "samples0" / "000000.png")
    assert (made["label"], made["guidance"]) == ("image i: class i mod 2", 3.0)
    report = tmp_path / "fid.json"
    args = ["fid", "--samples", str(root / "model"), "--ref", str(store), "--n", "3"]
    args += ["--sampler", "ddim", "--steps", "3", *FEATURES, "--report", str(report), "--quiet"]
    assert main(args) == 0
    real = colour_stats(
        torch.from_numpy(np.array(ImageStore(store, "val").array)).permute(0, 3, 1, 2)
    )
    fake = colour_stats(torch.from_numpy(in_turn).permute(0, 3, 1, 2))
    expected = fid_kid(real.double(), fake.double())["fid"]
    assert json.loads(report.read_text())["fid"] == pytest.approx(expected, rel=1e-6)
    out = tmp_path / "report"
    args = ["report", str(root / "model"), "--ref", str(store), "--n", "3", "--steps", "3"]
    assert main([*args, *FEATURES, "--out", str(out), "--quiet"]) == 0
    assert "classes: each in turn, guidance 3" in (out / "report.md").read_text()

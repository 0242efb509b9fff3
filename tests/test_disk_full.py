"""A full disk is a one-line error, never a retry, a skip or a leftover (a real small tmpfs);
a killed run's leftovers go on the next run; SIGTERM cleans up as Ctrl-C does."""

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from small_disk import small_disk
from stores import make_disc_store
from test_prepare_picobanana import FakeCDN, ok

FASHION = Path("/usr/share/datasets/fashion-mnist")


def cli(*args, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "picodiff", *args], capture_output=True, text=True, **kwargs
    )


def noise_pngs(folder: Path, count: int, size: int = 96) -> Path:
    """PNGs of noise (incompressible: each store row costs its full size)."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        pixels = rng.integers(0, 256, (size, size, 3), np.uint8)
        Image.fromarray(pixels).save(folder / f"{i:03d}.png")
    return folder


def assert_one_line_disk_error(run):
    assert run.returncode == 2, run.stdout + run.stderr
    errors = [line for line in run.stderr.splitlines() if "error" in line.lower()]
    assert "Traceback" not in run.stderr and len(errors) == 1, run.stderr
    assert "no space left on the disk" in errors[0]


def test_prepare_onto_a_full_disk_says_so_in_one_line_and_leaves_nothing(tmp_path):
    images = noise_pngs(tmp_path / "images", 40)  # 40 x 64 x 64 x 3 = 480 KiB of rows
    with small_disk(tmp_path / "disk", "256k") as disk:
        run = cli("prepare", str(images), "--out", str(disk / "store"), "--size", "64")
        assert_one_line_disk_error(run)
        assert list(disk.iterdir()) == []  # no partial store keeps the disk full


def test_a_full_download_cache_stops_the_run_instead_of_skipping_images(tmp_path):
    rng = np.random.default_rng(1)
    bodies = {}
    for i in range(6):
        buffer = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (160, 160, 3), np.uint8)).save(buffer, "PNG")
        bodies[f"/img/{i}.png"] = ok(buffer.getvalue())  # 77 KiB each
    server = FakeCDN(bodies)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    rows = tmp_path / "sft.jsonl"
    rows.write_text(
        "".join(json.dumps({"open_image_input_url": server.url + p}) + "\n" for p in bodies)
    )
    try:
        with small_disk(tmp_path / "cache", "160k") as cache:
            out = tmp_path / "store"
            run = cli(
                "prepare",
                str(rows),
                "--out",
                str(out),
                "--size",
                "16",
                "--cache-dir",
                str(cache),
                "--download-threads",
                "1",
                "--retries",
                "1",
            )
            assert_one_line_disk_error(run)
            assert not out.exists()
            assert not [p for p in cache.rglob("*") if p.name.endswith(".part")]
    finally:
        server.shutdown()
        server.server_close()


def test_train_onto_a_full_disk_says_so_in_one_line(tmp_path):
    store = make_disc_store(tmp_path / "data", train=32, val=8)
    with small_disk(tmp_path / "disk", "64k") as disk:
        sets = [a for s in ("model=tiny", "batch_size=8", "sample_n=1") for a in ("--set", s)]
        run = cli(
            "train", "--data", str(store), "--out", str(disk / "run"), "--max-steps", "2", *sets
        )
        assert_one_line_disk_error(run)


def test_a_killed_runs_partial_store_is_removed_by_the_next_run(tmp_path):
    images = noise_pngs(tmp_path / "images", 4, size=32)
    out = tmp_path / "store"
    dead = tmp_path / ".store.partial-999999999-x1"  # no such process
    dead.mkdir()
    (dead / "train.npy").write_bytes(b"\0" * 1000)
    alive = tmp_path / f".store.partial-{os.getpid()}-x2"  # a live writer's: kept
    alive.mkdir()
    assert cli("prepare", str(images), "--out", str(out), "--size", "16").returncode == 0
    assert not dead.exists() and alive.exists() and out.is_dir()


@pytest.mark.skipif(not FASHION.is_dir(), reason="apt-get install dataset-fashion-mnist")
def test_sigterm_stops_prepare_like_ctrl_c_and_removes_the_partial_store(tmp_path):
    out = tmp_path / "store"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "picodiff",
            "prepare",
            "fashion-mnist",
            "--out",
            str(out),
            "--size",
            "32",
            "--workers",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 60
    while not list(tmp_path.glob(".store.partial-*")) and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # writing rows by now
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in err, err
    assert list(tmp_path.iterdir()) == []

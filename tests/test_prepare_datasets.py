"""CIFAR-10 (python format), CelebA layouts, scikit-learn digits, `picodiff info`, CLI errors."""

import json
import os
import pickle
import sys

import numpy as np
import pytest
from image_files import jpeg_bytes, photo

from picodiff.cli import main
from picodiff.data import ImageStore, read_meta
from picodiff.data.prepare import PrepareOptions, prepare
from picodiff.data.sources.cifar10 import TEST_FILE, TRAIN_FILES


def index_of(store, split="train"):
    return [json.loads(x) for x in (store / f"{split}.index.jsonl").read_text().splitlines()]


def write_cifar(root, per_file=3):
    """A CIFAR-10 python directory: batch i row r is one flat colour (10*i + r, 0, 200)."""
    root.mkdir()
    for i, name in enumerate((*TRAIN_FILES, TEST_FILE)):
        colours = np.array([[10 * i + r, 0, 200] for r in range(per_file)], np.uint8)
        planes = np.repeat(colours[:, :, None], 1024, axis=2).reshape(per_file, 3072)
        batch = {
            b"batch_label": name.encode(),
            b"labels": [(i + r) % 10 for r in range(per_file)],
            b"data": planes,
            b"filenames": [b"x.png"] * per_file,
        }
        data = pickle.dumps(batch, protocol=2)  # module path as in the official (numpy 1) files
        (root / name).write_bytes(data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))
    return root


def test_cifar10_official_split_labels_and_pixels(tmp_path):
    root = write_cifar(tmp_path / "cifar-10-batches-py")
    report = prepare(tmp_path, tmp_path / "store", PrepareOptions(size=8, progress=False))
    assert report.source_format == "cifar10" and report.counts == {"train": 15, "val": 3}
    train, val = ImageStore(report.path), np.load(report.path / "val.npy")
    assert np.array_equal(train.array[4, 3, 3], [11, 0, 200])  # data_batch_2, row 1
    assert np.array_equal(val[2, 0, 0], [52, 0, 200])  # test_batch, row 2
    assert [row["label"] for row in index_of(report.path)][:4] == [0, 1, 2, 1]
    assert index_of(report.path)[4] == {
        "source": "data_batch_2",
        "row": 1,
        "label": 2,
        "class": "bird",
    }
    pooled = prepare(
        root,
        tmp_path / "pooled",
        PrepareOptions(size=8, official_split=False, val_fraction=0, progress=False),
    )
    assert pooled.counts == {"train": 18, "val": 0}


def test_cifar10_refuses_a_pickle_that_would_run_code(tmp_path):
    root = write_cifar(tmp_path / "cifar")
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    (root / "data_batch_3").write_bytes(pickle.dumps({b"data": Exploit(), b"labels": []}))
    assert main(["prepare", str(root), "--out", str(tmp_path / "s"), "--size", "8"]) == 2
    assert not marker.exists() and not (tmp_path / "s").exists()


def test_celeba_partitions(tmp_path):
    images = tmp_path / "celeba" / "img_align_celeba"
    images.mkdir(parents=True)
    for n in range(1, 7):
        (images / f"{n:06d}.jpg").write_bytes(jpeg_bytes(photo("astronaut")[::8, ::8]))
    partitions = "".join(f"{n:06d}.jpg {p}\n" for n, p in zip(range(1, 7), (0, 0, 2, 1, 0, 0)))
    (tmp_path / "celeba" / "list_eval_partition.txt").write_text(partitions)
    report = prepare(
        tmp_path / "celeba",
        tmp_path / "store",
        PrepareOptions(size=16, resize="squash", progress=False),
    )
    assert report.source_format == "celeba" and report.counts == {"train": 4, "val": 2}
    assert [row["source"] for row in index_of(report.path, "val")] == ["000003.jpg", "000004.jpg"]


def test_digits_are_grayscale_and_labelled(tmp_path):
    from sklearn.datasets import load_digits

    report = prepare("digits", tmp_path / "digits", PrepareOptions(size=16, progress=False))
    assert report.kept == 1797 and 40 < report.counts["val"] < 140
    store = ImageStore(report.path)
    assert store.channels == 1 and store.array.shape[1:] == (16, 16, 1)
    assert store.array.max() > 200 and store.array.min() == 0
    labels = [row["label"] for row in index_of(report.path)]
    indices = [row["index"] for row in index_of(report.path)]
    assert labels == load_digits().target[indices].tolist()


def test_digits_without_scikit_learn_names_the_extra(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # as if not installed
    assert main(["prepare", "digits", "--out", str(tmp_path / "d"), "--size", "8"]) == 2
    assert "pip install 'picodiff[digits]'" in capsys.readouterr().err


def test_info_prints_the_summary_and_rejects_non_stores(tmp_path, capsys):
    prepare("digits", tmp_path / "digits", PrepareOptions(size=8, limit=50, progress=False))
    assert main(["info", str(tmp_path / "digits")]) == 0
    out = capsys.readouterr().out
    assert "8x8x1" in out and "digits" in out and "train" in out
    assert read_meta(tmp_path / "digits")["limit"] == 50
    for not_a_store in (tmp_path, tmp_path / "nowhere"):
        assert main(["info", str(not_a_store)]) == 2
        err = capsys.readouterr().err
        assert "error" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["nowhere/", "--size", "8"], "no such file"),
        (["digits", "--size", "8", "--edit-type", "x"], "Pico-Banana options"),
        (["digits", "--size", "0"], "--size must be >= 1"),
        (["digits", "--size", "8", "--background", "nocolour"], "--background"),
        (["x.txt", "--size", "8"], "--images edited"),
    ],
)
def test_user_mistakes_are_one_line_errors(tmp_path, capsys, argv, message):
    assert main(["prepare", *argv, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("\n") == 1


def test_never_replaces_the_source_or_a_non_store(tmp_path, capsys):
    photos, other = tmp_path / "photos", tmp_path / "other"
    photos.mkdir()
    other.mkdir()
    (photos / "a.jpg").write_bytes(jpeg_bytes(photo("coffee")))
    (other / "notes.txt").write_text("keep me")
    cases = {
        photos: "would replace the source",
        tmp_path: "would replace the source",
        other: "is not a dataset store",
    }
    for out, message in cases.items():
        assert main(["prepare", str(photos), "--out", str(out), "--size", "8", "--quiet"]) == 2
        assert message in capsys.readouterr().err
    assert (photos / "a.jpg").is_file() and (other / "notes.txt").is_file()
    store = tmp_path / "store"
    for _ in range(2):  # an existing store is replaced
        assert main(["prepare", str(photos), "--out", str(store), "--size", "8", "--quiet"]) == 0

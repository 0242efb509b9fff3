"""MNIST-format IDX directories (files the tests write, and Debian's real Fashion-MNIST) and emoji
npm packages (a small package the tests write, as a folder and as the .tgz npm pack makes)."""

import gzip
import io
import json
import shutil
import tarfile

import numpy as np
import pytest
from PIL import Image
from test_train import config
from web_helpers import missing

from picodiff.cli import main
from picodiff.data import ImageStore, read_meta
from picodiff.data.prepare import PrepareOptions, prepare
from picodiff.data.sources import SourceOptions
from picodiff.data.sources.idx import DEBIAN_FASHION_MNIST, FASHION_CLASSES, IdxSource
from picodiff.errors import UserError
from picodiff.serving import create_app
from picodiff.training import Trainer


def index_of(store, split="train"):
    return [json.loads(x) for x in (store / f"{split}.index.jsonl").read_text().splitlines()]


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file of unsigned bytes: magic 00 00 08 ndim, big-endian sizes, the values."""
    header = bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx(root, train=6, test=2, gz=True, side=6):
    """train- and t10k- files; image r of a split is filled with the value 10 * r."""
    root.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", train), ("t10k", test)):
        images = np.stack([np.full((side, side), 10 * r) for r in range(n)])
        for kind, array in (("images-idx3", images), ("labels-idx1", np.arange(n) % 3)):
            data = idx_bytes(array)
            name = f"{split}-{kind}-ubyte"
            if gz:
                (root / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (root / name).write_bytes(data)
    return root


@pytest.mark.parametrize("gz", [True, False])
def test_idx_rows_labels_classes_and_official_split(tmp_path, gz):
    root = write_idx(tmp_path / "mnist", gz=gz)
    options = PrepareOptions(size=8, progress=False, sources=SourceOptions(classes=("a", "b", "c")))
    report = prepare(str(root), tmp_path / "store", options)
    assert report.source_format == "idx" and report.counts == {"train": 6, "val": 2}
    train = ImageStore(report.path)
    assert train.channels == 1 and train.size == 8
    assert int(train.array[3].mean()) == 30  # train row 3 is all 30s, resized
    rows = index_of(report.path)
    assert rows[4] == {"source": "train:4", "row": 4, "label": 1, "class": "b"}
    assert index_of(report.path, "val")[1]["source"] == "t10k:1"
    unnamed = prepare(str(root), tmp_path / "unnamed", PrepareOptions(size=8, progress=False))
    assert index_of(unnamed.path)[2]["class"] == "2"  # no names: the label itself


def test_broken_idx_files_are_explained(tmp_path):
    def refused(root, message, **options):
        with pytest.raises(UserError, match=message):
            list(IdxSource(str(root), **options).candidates())

    root = write_idx(tmp_path / "a", gz=False)
    labels = root / "train-labels-idx1-ubyte"
    labels.write_bytes(b"\x00\x00\x08\x03" + labels.read_bytes()[4:])
    refused(root, r"not an IDX file of unsigned bytes with 1 dimension\(s\) \(magic 00000803")
    root = write_idx(tmp_path / "b", gz=False)
    images = root / "t10k-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:-5])
    refused(root, "truncated or padded")
    root = write_idx(tmp_path / "c", gz=False)
    (root / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(5)))
    refused(root, "train has 6 images but 5 labels")
    refused(write_idx(tmp_path / "d"), "label 2 but only 2 class names", classes=("x", "y"))
    with pytest.raises(UserError, match="no train-images-idx3-ubyte"):
        IdxSource(str(tmp_path / "empty"))
    (tmp_path / "e").mkdir()
    (tmp_path / "e" / "train-images-idx3-ubyte.gz").write_bytes(b"not gzip at all")
    for name in ("train-labels-idx1", "t10k-images-idx3", "t10k-labels-idx1"):
        (tmp_path / "e" / f"{name}-ubyte").write_bytes(idx_bytes(np.zeros(1)))
    refused(tmp_path / "e", "unreadable")


def test_debians_fashion_mnist_is_the_real_data():
    if not DEBIAN_FASHION_MNIST.is_dir():
        missing("Debian's dataset-fashion-mnist is not installed (.ci/run installs it)")
    source = IdxSource("fashion-mnist")
    train, train_labels = source.load("train")
    test, test_labels = source.load("t10k")
    assert train.shape == (60000, 28, 28) and test.shape == (10000, 28, 28)
    assert np.bincount(train_labels).tolist() == [6000] * 10
    assert np.bincount(test_labels).tolist() == [1000] * 10
    assert source.classes == FASHION_CLASSES and source.licences()[0]["license"] == "MIT"
    assert 0.25 < train.mean() / 255 < 0.32  # product photos on black, not noise or zeros


# --- emoji packages -------------------------------------------------------------------------
def png(mode: str, colour) -> bytes:
    buffer = io.BytesIO()
    image = Image.new("RGBA" if mode == "P" else mode, (64, 64), colour)
    (image.convert("P") if mode == "P" else image).save(buffer, "PNG")
    return buffer.getvalue()


EMOJI = [  # (image, name, short names, category, skin tones)
    ("1f600.png", "GRINNING FACE", ["grinning"], "Smileys & Emotion", []),
    ("1f385.png", "FATHER CHRISTMAS", ["santa"], "People & Body", ["1f385-1f3fb.png"]),
    ("1f1eb-1f1f7.png", "FLAG FRANCE", ["fr"], "Flags", []),
    ("2764-fe0f.png", "RED HEART", ["heart"], "Symbols", []),
    ("1f4a5.png", "COLLISION", ["boom"], "Smileys & Emotion", []),  # listed, file missing
    ("1f47b.png", "GHOST", ["ghost"], "Imaginary", []),  # a category the packages invent
]


def write_datasource(root, name="emoji-datasource-twitter", license="MIT"):
    """An emoji-datasource package: emoji.json and img/twitter/64/*.png in RGBA, LA, P and a
    corrupt file; one listed file is missing."""
    folder = root / "img" / "twitter" / "64"
    folder.mkdir(parents=True)
    (root / "package.json").write_text(json.dumps({"name": name, "license": license}))
    rows = []
    for image, title, shorts, category, tones in EMOJI:
        variations = {t.split("-")[1][:5].upper(): {"image": t} for t in tones}
        rows.append(
            {
                "name": title,
                "image": image,
                "short_names": shorts,
                "category": category,
                "skin_variations": variations or None,
            }
        )
    (root / "emoji.json").write_text(json.dumps(rows))
    files = {
        "1f600.png": png("RGBA", (255, 200, 0, 255)),
        "1f385.png": png("LA", (90, 128)),
        "1f385-1f3fb.png": png("RGBA", (250, 220, 190, 255)),
        "1f1eb-1f1f7.png": png("P", (0, 0, 255, 255)),
        "2764-fe0f.png": png("RGBA", (255, 0, 0, 0)),  # fully transparent: the background
        "1f47b.png": b"\x89PNG\r\n\x1a\n" + b"broken" * 10,
    }
    for file, data in files.items():
        (folder / file).write_bytes(data)
    return root


def packed(root, out):
    """The .tgz `npm pack` writes: every file under package/."""
    with tarfile.open(out, "w:gz") as tar:
        tar.add(root, arcname="package")
    return out


def write_fluent(root):
    """A Fluent Emoji 3D package: assets/*.webp named by code points, no emoji.json."""
    (root / "assets").mkdir(parents=True)
    (root / "package.json").write_text(
        json.dumps({"name": "@lobehub/fluent-emoji-3d", "license": "MIT"})
    )
    for points in ("1f600", "1f1e9-1f1ea", "1f9ff"):
        buffer = io.BytesIO()
        Image.new("RGBA", (256, 256), (10, 200, 30, 255)).save(buffer, "WEBP")
        (root / "assets" / f"{points}.webp").write_bytes(buffer.getvalue())
    return root


def test_an_emoji_package_names_every_row_and_explains_every_skip(tmp_path):
    package = packed(write_datasource(tmp_path / "twitter"), tmp_path / "twitter.tgz")
    options = PrepareOptions(size=16, progress=False, val_fraction=0, background=(0, 0, 0))
    report = prepare(str(package), tmp_path / "store", options)
    assert report.source_format == "emoji"
    assert report.counts["train"] == 5  # 6 listed + 1 skin tone, minus missing and corrupt
    assert dict(report.skipped) == {"missing-file": 1, "truncated": 1}
    rows = {r["points"]: r for r in index_of(report.path)}
    assert rows["1f385-1f3fb"] == {
        "source": "emoji-datasource-twitter",
        "file": "img/twitter/64/1f385-1f3fb.png",
        "points": "1f385-1f3fb",
        "name": "FATHER CHRISTMAS",
        "short_names": ["santa"],
        "category": "People & Body",
        "skin_tone": True,
    }
    images = ImageStore(report.path).array
    order = [r["points"] for r in index_of(report.path)]
    assert images[order.index("2764-fe0f")].max() == 0  # transparent on the black background
    assert tuple(images[order.index("1f600")][8, 8]) == (255, 200, 0)
    meta = read_meta(report.path)
    assert meta["licences"][0]["license"] == "CC-BY-4.0"  # the images', not the code's MIT
    assert "Twemoji" in meta["licences"][0]["attribution"]
    skipped = [json.loads(x) for x in (report.path / "skipped.jsonl").read_text().splitlines()]
    assert {s["name"]: s["reason"] for s in skipped} == {
        "COLLISION": "missing-file",
        "GHOST": "truncated",
    }


def test_several_packages_into_one_store_with_filters(tmp_path, capsys):
    twitter = write_datasource(tmp_path / "twitter")
    fluent = packed(write_fluent(tmp_path / "fluent"), tmp_path / "fluent.tgz")
    out = tmp_path / "store"
    argv = ["prepare", str(twitter), str(fluent), "--out", str(out), "--size", "16", "--quiet"]
    argv += ["--skin-tones", "drop", "--drop-category", "Flags", "--val-fraction", "0"]
    assert main(argv) == 0
    rows = index_of(out)
    assert [r["points"] for r in rows if r["source"] == "@lobehub/fluent-emoji-3d"] == [
        "1f600",
        "1f9ff",
    ]  # its flag dropped (regional indicators); 1f600 named by the other package
    fluent_smile = [r for r in rows if r["file"] == "assets/1f600.webp"]
    assert fluent_smile[0]["name"] == "GRINNING FACE"
    assert not any(r["skin_tone"] or r["category"] == "Flags" for r in rows)
    assert main(["info", str(out)]) == 0
    info = capsys.readouterr().out
    assert "CC-BY-4.0. Attribution: Twemoji" in info and "MIT. Attribution: Fluent Emoji" in info
    one = ["prepare", str(twitter), "--out", str(tmp_path / "x"), "--size", "16"]
    bad = main([*one, "--drop-category", "Nope"])
    assert bad == 2 and "no such category in these packages" in capsys.readouterr().err


def test_a_model_trained_on_emoji_carries_their_licences_to_the_api(tmp_path):
    twitter = write_datasource(tmp_path / "twitter")
    fluent = packed(write_fluent(tmp_path / "fluent"), tmp_path / "fluent.tgz")
    store = tmp_path / "store"
    argv = ["prepare", str(twitter), str(fluent), "--out", str(store), "--size", "16", "--quiet"]
    assert main([*argv, "--val-fraction", "0.3", "--seed", "1"]) == 0
    models = tmp_path / "models"
    Trainer(config(store, "batch_size=2", "val_size=2", max_steps=2), tmp_path / "run").fit()
    shutil.copytree(tmp_path / "run" / "last", models / "emoji")
    app = create_app({"models": models, "bundled_models": (), "reload_interval": 0})
    try:
        listed = app.test_client().get("/api/models").json
    finally:
        app.extensions["picodiff"].close()
    licences = next(m for m in listed if m["name"] == "emoji")["licences"]
    assert [(x["name"], x["license"]) for x in licences] == [
        ("emoji-datasource-twitter", "CC-BY-4.0"),
        ("@lobehub/fluent-emoji-3d", "MIT"),
    ]
    assert "Twemoji graphics by Twitter" in licences[0]["attribution"]
    assert "Fluent Emoji by Microsoft" in licences[1]["attribution"]

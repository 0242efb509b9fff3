import json

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from picodiff.data import ImageStore, StoreError, StoreWriter


def make_store(path, n_train=10, n_val=3, size=8, channels=3, seed=0):
    rng = np.random.default_rng(seed)
    rows = {"train": [], "val": []}
    with StoreWriter(path, size=size, channels=channels) as writer:
        for split, n in (("train", n_train), ("val", n_val)):
            for i in range(n):
                image = rng.integers(0, 256, (size, size, channels), dtype=np.uint8)
                rows[split].append(image)
                writer.add(split, image, {"source": f"{split}-{i}.png"})
        writer.commit({"source": "test"})
    return rows


def test_round_trip_values_and_metadata(tmp_path):
    rows = make_store(tmp_path / "store")
    store = ImageStore(tmp_path / "store")
    assert len(store) == 10 and store.size == 8 and store.channels == 3
    expected = torch.from_numpy(rows["train"][4]).permute(2, 0, 1).float() / 127.5 - 1
    assert torch.allclose(store[4], expected)
    assert store[4].min() >= -1 and store[4].max() <= 1
    assert np.load(tmp_path / "store" / "val.npy").shape == (3, 8, 8, 3)  # plain .npy
    meta = json.loads((tmp_path / "store" / "dataset.json").read_text())
    pixels = np.stack(rows["train"] + rows["val"]).reshape(-1, 3) / 255
    assert np.allclose(meta["mean"], pixels.mean(0), atol=1e-5)
    assert np.allclose(meta["std"], pixels.std(0), atol=1e-5)
    index = (tmp_path / "store" / "train.index.jsonl").read_text().splitlines()
    assert json.loads(index[4]) == {"source": "train-4.png"}


def test_works_with_dataloader_workers(tmp_path):
    make_store(tmp_path / "store")
    store = ImageStore(tmp_path / "store", split="val")
    batches = list(DataLoader(store, batch_size=2, num_workers=2))
    assert torch.equal(torch.cat(batches), store.batch([0, 1, 2]))


def test_interrupted_write_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError), StoreWriter(tmp_path / "store", 8, 3) as writer:
        writer.add("train", np.zeros((8, 8, 3), np.uint8), {})
        raise RuntimeError("crash")
    assert list(tmp_path.iterdir()) == []


def test_invalid_stores_are_explained(tmp_path):
    with pytest.raises(StoreError, match="no such dataset store"):
        ImageStore(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(StoreError, match="not a dataset store"):
        ImageStore(tmp_path / "empty")
    make_store(tmp_path / "store")
    with pytest.raises(StoreError, match="no split 'test'"):
        ImageStore(tmp_path / "store", split="test")
    meta = json.loads((tmp_path / "store" / "dataset.json").read_text())
    meta["size"] = 16
    (tmp_path / "store" / "dataset.json").write_text(json.dumps(meta))
    with pytest.raises(StoreError, match=r"dataset\.json says uint8"):
        ImageStore(tmp_path / "store")

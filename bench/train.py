"""Training throughput and peak memory of the real trainer (`picodiff train`), per precision and
activation checkpointing, for the pb2025 preset at 84 px batch 4 and the default preset at 64 px.

    python bench/train.py                 # all cases, 4 timed steps each
    python bench/train.py --steps 8 --cases pb2025-84

Each case runs in a fresh process on a generated dataset store, so the peak memory (resident
set size on CPU, torch.cuda.max_memory_allocated on GPU) is that case's alone. Images/s is the
median over the logged steps after the first.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

CASES = {
    "pb2025-84": dict(preset="pb2025-b", size=84, batch=4),
    "default64": dict(preset="recommended", size=64, batch=16),
}
MODES = [("fp32", False), ("fp32", True), ("bf16", False), ("bf16", True)]


def make_store(path: Path, size: int, count: int) -> None:
    from picodiff.data import StoreWriter

    rng = np.random.default_rng(0)
    with StoreWriter(path, size=size, channels=3) as writer:
        for i in range(count):
            writer.add("train", rng.integers(0, 256, (size, size, 3), dtype=np.uint8), {"i": i})
        writer.commit({"source": "bench noise"})


def run_case(case: str, precision: str, checkpointing: bool, steps: int, work: Path) -> dict:
    spec = CASES[case]
    store = work / f"store-{spec['size']}"
    if not store.exists():
        make_store(store, spec["size"], spec["batch"] * (steps + 2))
    out = work / f"run-{case}-{precision}-{checkpointing}"
    sets = {
        "batch_size": spec["batch"],
        "precision": precision,
        "gradient_checkpointing": str(checkpointing).lower(),
        "log_every": 1,
        "val_every": 10**6,
        "checkpoint_every": 10**6,
        "sample_every": 10**6,
        "warmup_steps": 0,
        "patience": "null",
    }
    command = [
        sys.executable,
        "-m",
        "picodiff",
        "train",
        "--data",
        str(store),
        "--out",
        str(out),
        "--preset",
        spec["preset"],
        "--max-steps",
        str(steps + 1),
    ]
    for key, value in sets.items():
        command += ["--set", f"{key}={value}"]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    rates = [r["images_per_s"] for r in records if "images_per_s" in r][1:]
    return {"images_per_s": statistics.median(rates), "peak_mb": records[-1]["memory_mb"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4, help="timed steps per case")
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    args = parser.parse_args()
    import torch

    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
    print(f"torch {torch.__version__}, {device}, {torch.get_num_threads()} threads")
    print(
        f"{'case':<10} {'batch':>5} {'precision':>9} {'checkpointing':>13} {'images/s':>9} "
        f"{'peak MB':>8}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for case in args.cases:
            for precision, ckpt in MODES:
                r = run_case(case, precision, ckpt, args.steps, Path(tmp))
                print(
                    f"{case:<10} {CASES[case]['batch']:>5} {precision:>9} {ckpt!s:>13} "
                    f"{r['images_per_s']:>9.2f} {r['peak_mb']:>8.0f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()

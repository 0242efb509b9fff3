"""Serving throughput: concurrent one-image requests, with and without request batching.

    python bench/serve.py                                  # tiny preset, 16 px, dpmpp2m 20 steps
    python bench/serve.py --preset small --size 32 --torch-threads 1

Starts two `picodiff serve` processes on 127.0.0.1 over the same random-weight model, one with
--max-batch 1 (no request batching) and one with --max-batch N, then alternates rounds between
them: each round sends `--requests` concurrent POST /api/generate?wait=true (n=1, distinct seeds).
Reports images/s and p50 / p95 request latency (medians over rounds) and the throughput ratio,
all measured side by side in one run. Goal: >= 3x throughput from batching.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import requests
import torch

from picodiff.checkpoint import save_checkpoint
from picodiff.diffusion import NoiseSchedule
from picodiff.models import UNet, UNetConfig


def start_server(models: Path, max_batch: int, args: argparse.Namespace) -> tuple:
    command = [
        sys.executable,
        "-m",
        "picodiff",
        "serve",
        "--models",
        str(models),
        "--port",
        "0",
        "--max-batch",
        str(max_batch),
        "--queue-size",
        str(2 * args.requests),
        "--threads",
        str(args.requests + 4),
        "--reload-interval",
        "0",
        "--torch-threads",
        str(args.torch_threads),
    ]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    match = re.search(r"http://[\d.]+:\d+", proc.stdout.readline())
    if match is None:
        proc.kill()
        raise SystemExit(f"the server with --max-batch {max_batch} did not start")
    return proc, match.group(0)


def one_round(url: str, args: argparse.Namespace, round_index: int) -> tuple[float, list[float]]:
    """(seconds for all requests, per-request latencies) of one burst of concurrent requests."""
    body = {"model": "bench", "n": 1, "sampler": args.sampler, "steps": args.steps}
    latencies: list[float] = []
    start = threading.Barrier(args.requests + 1)

    def client(seed: int) -> None:
        start.wait()
        begin = time.perf_counter()
        reply = requests.post(f"{url}/api/generate?wait=true", json={**body, "seed": seed})
        if reply.status_code != 200:
            raise SystemExit(f"request failed: {reply.status_code} {reply.text[:200]}")
        latencies.append(time.perf_counter() - begin)

    seeds = range(round_index * args.requests, (round_index + 1) * args.requests)
    threads = [threading.Thread(target=client, args=(seed,)) for seed in seeds]
    for thread in threads:
        thread.start()
    start.wait()
    begin = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - begin, latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tiny", help="UNet preset of the served model")
    parser.add_argument("--size", type=int, default=16, help="image side in pixels")
    parser.add_argument("--sampler", default="dpmpp2m", help="sampling method")
    parser.add_argument("--steps", type=int, default=20, help="denoising steps")
    parser.add_argument("--requests", type=int, default=32, help="concurrent requests a round")
    parser.add_argument("--max-batch", type=int, default=32, help="--max-batch when batching")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per server (median)")
    parser.add_argument("--torch-threads", type=int, default=0, help="0 = PyTorch's default")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        model = UNet(UNetConfig.preset(args.preset, image_size=args.size))
        save_checkpoint(Path(tmp) / "bench", model, NoiseSchedule.cosine(1000))
        servers = {}
        for label, batch in (("no batching", 1), (f"batching ({args.max_batch})", args.max_batch)):
            proc, url = start_server(Path(tmp), batch, args)
            stack.callback(proc.terminate)
            one_round(url, argparse.Namespace(**{**vars(args), "requests": 2}), 0)  # warm up
            servers[label] = url
        results = {label: [] for label in servers}
        for index in range(args.rounds):  # alternate, so both see the same machine load
            for label, url in servers.items():
                results[label].append(one_round(url, args, index))
        report(results, args)


def report(results: dict, args: argparse.Namespace) -> None:
    print(
        f"{args.preset} preset, {args.size} px, {args.sampler} {args.steps} steps, "
        f"{args.requests} concurrent one-image requests, torch threads "
        f"{args.torch_threads or torch.get_num_threads()}, median of {args.rounds} rounds"
    )
    print(f"{'mode':<16} {'images/s':>9} {'p50 s':>7} {'p95 s':>7}")
    throughput = {}
    for label, rounds in results.items():
        throughput[label] = statistics.median(args.requests / wall for wall, _ in rounds)
        p50 = statistics.median(statistics.median(lat) for _, lat in rounds)
        p95 = statistics.median(statistics.quantiles(lat, n=20)[18] for _, lat in rounds)
        print(f"{label:<16} {throughput[label]:>9.1f} {p50:>7.3f} {p95:>7.3f}")
    base, batched = throughput.values()
    print(f"throughput from batching: {batched / base:.1f}x (goal >= 3x)")


if __name__ == "__main__":
    main()

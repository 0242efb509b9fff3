"""Serving latency and throughput: step-level batching against job-level batching and none.

    python bench/serve.py                                  # the bundled fashion-32, dpmpp2m 20
    python bench/serve.py --clients 1 4 16 32 --rounds 3 --model fashion-32 --steps 20

Starts three `picodiff serve` processes on 127.0.0.1 serving the same model, one per
--batching policy: "step" (rows join the running batch at the next network call), "job" (a
batch of jobs runs to its end before the next one starts) and "none" (one job at a time), all
with the same --max-batch. For each number of concurrent clients, the policies take turns
(round after round, so each sees the same machine load): every client sends --requests
one-image POST /api/generate?wait=true requests one after the other, the clients starting
--stagger seconds apart and pausing a random think time (exponential, mean --think seconds,
the same draws for every policy) between requests. Printed per policy and client count:
images/s (all images over the round's wall time) and the p50 / p95 request latency, medians
over rounds, then the ratios the goals name: at 16 clients, step's p95 over job's (<= 0.5) and
step's throughput over job's (>= 1); at 1 client, step's latency over none's (<= 1.05).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import subprocess
import sys
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import requests

POLICIES = ("step", "job", "none")


def start_server(policy: str, args: argparse.Namespace) -> tuple[subprocess.Popen, str]:
    clients = max(args.clients)
    command = [sys.executable, "-m", "picodiff", "serve", "--port", "0", "--batching", policy]
    command += ["--max-batch", str(args.max_batch), "--queue-size", str(2 * clients)]
    # every simulated client (X-Client-Id) holds one wait; all of them share 127.0.0.1
    command += ["--threads", str(2 * clients + 8), "--max-streams", str(2 * clients)]
    command += ["--client-streams", "1", "--client-jobs", "1", "--reload-interval", "0"]
    command += ["--torch-threads", str(args.torch_threads)] if args.torch_threads else []
    command += ["--models", args.models] if args.models else []
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    match = re.search(r"http://[\d.]+:\d+", proc.stdout.readline())  # type: ignore[union-attr]
    if match is None:
        proc.kill()
        raise SystemExit(f"the server with --batching {policy} did not start")
    return proc, match.group(0)


def one_round(url: str, clients: int, args: argparse.Namespace, round_index: int) -> dict:
    """Every client's requests against one server: wall seconds and per-request latencies."""
    body = {"model": args.model, "n": 1, "sampler": args.sampler, "steps": args.steps}
    latencies: list[float] = []
    beyond: list[float] = []  # latency less the job's own sampling time (started -> finished)
    failures: list[str] = []
    began = time.perf_counter()

    def client(k: int) -> None:
        draws = random.Random(f"{round_index}-{clients}-{k}")  # the same for every policy
        time.sleep(k * args.stagger)
        for r in range(args.requests):
            seed = ((round_index + 1) * 1000 + k) * 1000 + r  # the warm-up round is -1
            start = time.perf_counter()
            reply = requests.post(
                f"{url}/api/generate?wait=true",
                json={**body, "seed": seed},
                headers={"X-Client-Id": f"client-{k}"},
            )
            if reply.status_code != 200:
                failures.append(f"{reply.status_code} {reply.text[:200]}")
                return
            latency, job = time.perf_counter() - start, reply.json()
            latencies.append(latency)
            beyond.append(latency - (job["finished"] - job["started"]))
            time.sleep(draws.expovariate(1 / args.think) if args.think else 0)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise SystemExit(f"a request failed: {failures[0]}")
    return {"wall": time.perf_counter() - began, "latencies": latencies, "beyond": beyond}


def summary(rounds: list[dict]) -> dict:
    """images/s, p50 and p95 latency: medians over rounds."""
    p95 = [
        statistics.quantiles(r["latencies"], n=20)[18]
        if len(r["latencies"]) > 1
        else r["latencies"][0]
        for r in rounds
    ]
    return {
        "images_per_s": statistics.median(len(r["latencies"]) / r["wall"] for r in rounds),
        "p50": statistics.median(statistics.median(r["latencies"]) for r in rounds),
        "p95": statistics.median(p95),
        "beyond_p50": statistics.median(statistics.median(r["beyond"]) for r in rounds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", default="fashion-32", help="served model (bundled or in --models)"
    )
    parser.add_argument("--models", default=None, help="folder of models to serve")
    parser.add_argument("--sampler", default="dpmpp2m", help="sampler of every request")
    parser.add_argument("--steps", type=int, default=20, help="denoising steps of every request")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16, 32])
    parser.add_argument("--requests", type=int, default=4, help="requests per client and round")
    parser.add_argument("--stagger", type=float, default=0.1, help="seconds between client starts")
    parser.add_argument("--think", type=float, default=0.5, help="mean pause between requests, s")
    parser.add_argument("--max-batch", type=int, default=16, help="--max-batch of every server")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per setting (median)")
    parser.add_argument("--torch-threads", type=int, default=0, help="0 = PyTorch's default")
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    args = parser.parse_args()
    with ExitStack() as stack:
        urls = {}
        for policy in POLICIES:
            proc, urls[policy] = start_server(policy, args)
            stack.callback(proc.terminate)
            one_round(urls[policy], 2, argparse.Namespace(**{**vars(args), "requests": 1}), -1)
        results: dict[int, dict[str, dict]] = {}
        for clients in args.clients:
            rounds: dict[str, list] = {policy: [] for policy in POLICIES}
            for index in range(args.rounds):  # the policies take turns
                for policy in POLICIES:
                    rounds[policy].append(one_round(urls[policy], clients, args, index))
            results[clients] = {policy: summary(r) for policy, r in rounds.items()}
            report_level(clients, results[clients])
    report(results, args)


def report_level(clients: int, figures: dict[str, dict]) -> None:
    for policy, f in figures.items():
        print(
            f"{clients:>7} {policy:<6} {f['images_per_s']:>9.2f} {f['p50']:>7.2f} {f['p95']:>7.2f}",
            flush=True,
        )


def report(results: dict[int, dict[str, dict]], args: argparse.Namespace) -> None:
    print(
        f"\n{args.model}, {args.sampler} {args.steps} steps, one-image requests, --max-batch "
        f"{args.max_batch}, {args.requests} requests per client, think {args.think} s, "
        f"stagger {args.stagger} s, median of {args.rounds} rounds"
    )
    print("| clients | batching | images/s | p50 s | p95 s |\n|---:|---|---:|---:|---:|")
    for clients, figures in results.items():
        for policy, f in figures.items():
            print(
                f"| {clients} | {policy} | {f['images_per_s']:.2f} | {f['p50']:.2f} | "
                f"{f['p95']:.2f} |"
            )
    if 16 in results:
        step, job = results[16]["step"], results[16]["job"]
        print(
            f"16 clients: step p95 / job p95 = {step['p95'] / job['p95']:.2f} (goal <= 0.5); "
            f"throughput step / job = {step['images_per_s'] / job['images_per_s']:.2f} "
            "(goal >= 1)"
        )
    if 1 in results:
        step, none = results[1]["step"], results[1]["none"]
        print(f"1 client: step p50 / none p50 = {step['p50'] / none['p50']:.3f} (goal <= 1.05)")
    if args.out:
        args.out.write_text(json.dumps({str(k): v for k, v in results.items()}, indent=2))


if __name__ == "__main__":
    main()

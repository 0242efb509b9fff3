"""Out of the box: how long `picodiff serve` (no arguments) takes to draw 16 demo images.

    python bench/demo_serve.py                # 5 rounds, median and range
    python bench/demo_serve.py --n 1 --rounds 9

Starts `picodiff serve --port 0` with no models directory in a temporary folder, so it serves
only the bundled digits-demo model, and times POST /api/generate?wait=true with the server's
default sampler (dpmpp2m, 20 steps). The first request, which loads the model, is reported
apart from the timed rounds.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time

import requests


def timed_request(url: str, n: int, seed: int) -> float:
    begin = time.perf_counter()
    reply = requests.post(
        f"{url}/api/generate?wait=true", json={"model": "digits-demo", "n": n, "seed": seed}
    )
    if reply.status_code != 200:
        raise SystemExit(f"request failed: {reply.status_code} {reply.text[:200]}")
    return time.perf_counter() - begin


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=16, help="images per request")
    parser.add_argument("--rounds", type=int, default=5, help="timed requests")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as cwd:
        server = subprocess.Popen(
            [sys.executable, "-m", "picodiff", "serve", "--port", "0"],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            match = re.search(r"http://[\d.]+:\d+", server.stdout.readline())
            if match is None:
                raise SystemExit("picodiff serve did not start")
            url = match.group(0)
            first = timed_request(url, args.n, seed=0)
            times = [timed_request(url, args.n, seed) for seed in range(1, args.rounds + 1)]
        finally:
            server.terminate()
            server.wait(timeout=10)
    print(f"digits-demo, {args.n} images per request, default sampler (dpmpp2m, 20 steps)")
    print(f"first request (loads the model): {first:.2f} s")
    print(
        f"median of {args.rounds}: {statistics.median(times):.2f} s "
        f"(range {min(times):.2f}-{max(times):.2f} s)"
    )


if __name__ == "__main__":
    main()

"""How long `picodiff --help` (and friends) take to start, and what they import.

    python bench/startup.py                 # median of 10 runs per command line
    python bench/startup.py --repeats 20

Each command runs in a fresh interpreter (`python -m picodiff ...`). The table gives the median
and range of the wall time and whether torch, Flask, prometheus_client or torchmetrics were
imported (`python -X importtime`), with the slowest imports of `picodiff --help`.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time

COMMANDS = (["--help"], ["prepare", "--help"], ["sample", "--help"], ["serve", "--help"])
HEAVY = ("torch", "flask", "prometheus_client", "torchmetrics")
GOAL_SECONDS = 0.3


def wall_times(argv: list[str], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "picodiff", *argv], capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return times


def imports(argv: list[str]) -> list[tuple[int, str, int]]:
    """(cumulative microseconds, module, nesting depth) of every import, from -X importtime."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "picodiff", *argv],
        capture_output=True,
        text=True,
        check=True,
    )
    found = []
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \| ( *)(\S+)", line)
        if match:
            found.append((int(match.group(1)), match.group(3), len(match.group(2)) // 2))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=10, help="runs per command line")
    args = parser.parse_args()
    print("| command | median s | range s | heavy packages imported |")
    print("|---|---|---|---|")
    medians = {}
    for argv in COMMANDS:
        times = wall_times(argv, args.repeats)
        heavy = sorted({m.split(".")[0] for _, m, _ in imports(argv)} & set(HEAVY))
        medians[" ".join(argv)] = median = statistics.median(times)
        print(
            f"| picodiff {' '.join(argv)} | {median:.3f} | {min(times):.3f}-{max(times):.3f} | "
            f"{', '.join(heavy) or 'none'} |"
        )
    verdict = "met" if medians["--help"] < GOAL_SECONDS else "missed"
    print(f"\npicodiff --help: {medians['--help']:.3f} s (goal < {GOAL_SECONDS} s: {verdict})")
    top = sorted((us, m) for us, m, depth in imports(["--help"]) if depth == 0)[::-1][:5]
    print("slowest imports: " + ", ".join(f"{m} {us / 1e3:.1f} ms" for us, m in top))


if __name__ == "__main__":
    main()

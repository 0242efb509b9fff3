"""Health and a well-behaved client's latency while another client abuses the server.

    python bench/abuse.py                          # the bundled fashion-32, dpmpp2m 20 steps
    python bench/abuse.py --model tiny --models DIR --jobs 8

Starts one `picodiff serve` on 127.0.0.1 with its default limits. A polite client (its own
loopback address, 127.0.0.2) sends --jobs POST /api/generate?wait=true requests of --n images
one after the other, first on the idle server, then while an abusive client (127.0.0.3) holds
--streams event streams, --waiters ?wait=true requests and --idle half-sent connections (one
more header byte every few seconds, slowloris style, so idle timeouts alone do not close them)
and keeps the queue full of its largest jobs (n = max-n, ddpm, 1000 steps). A prober
(127.0.0.4) asks GET /api/health every 50 ms throughout. Printed: health p50 / p99 and the
polite client's median job latency, idle and under abuse, with the goals: health p99 < 1 s and
the polite latency under abuse within 2x of idle.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import re
import socket
import statistics
import subprocess
import sys
import threading
import time

from picodiff.serving import ServeConfig

POLITE, ABUSER, PROBER = "127.0.0.2", "127.0.0.3", "127.0.0.4"


class Target:
    """The server under test: a `picodiff serve` subprocess."""

    def __init__(self, args: argparse.Namespace):
        command = [sys.executable, "-m", "picodiff", "serve", "--port", "0"]
        command += ["--reload-interval", "0", *(["--models", args.models] if args.models else [])]
        self.proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        match = re.search(r":(\d+)/", self.proc.stdout.readline())  # type: ignore[union-attr]
        if match is None:
            self.proc.kill()
            raise SystemExit("the server did not start")
        self.port = int(match.group(1))

    def call(self, source: str, method: str, path: str, body=None, timeout=600.0):
        """(status, JSON or None, seconds) of one request sent from `source`."""
        conn = http.client.HTTPConnection(
            "127.0.0.1", self.port, timeout=timeout, source_address=(source, 0)
        )
        started = time.perf_counter()
        try:
            headers = {"Content-Type": "application/json"}
            conn.request(method, path, json.dumps(body) if body else None, headers)
            answer = conn.getresponse()
            data = answer.read()
            kind = answer.getheader("Content-Type", "")
            parsed = json.loads(data) if kind.startswith("application/json") else None
            return answer.status, parsed, time.perf_counter() - started
        except (OSError, http.client.HTTPException):
            return 0, None, time.perf_counter() - started
        finally:
            conn.close()

    def raw(self, request: bytes) -> socket.socket:
        """A connection from the abuser that sends `request` and never reads."""
        sock = socket.socket()
        sock.bind((ABUSER, 0))
        sock.connect(("127.0.0.1", self.port))
        sock.sendall(request)
        return sock

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def post(path: str, body: dict) -> bytes:
    data = json.dumps(body).encode()
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    return (head + f"Content-Length: {len(data)}\r\n\r\n").encode() + data


class Abuser:
    """Streams, waiters, idle connections and a queue kept full, until `stop`."""

    def __init__(self, target: Target, args: argparse.Namespace, largest: dict):
        self.target, self.args, self.largest = target, args, largest
        self.sockets: list[socket.socket] = []
        self.refused = {"streams": 0, "waiters": 0, "jobs": 0}
        self.done = threading.Event()
        self.flooder = threading.Thread(target=self._flood, daemon=True)

    def start(self) -> None:
        self.flooder.start()
        time.sleep(1)
        job = self._submit()
        for _ in range(self.args.idle):
            self.sockets.append(self.target.raw(b"GET /api/health HTTP/1.1\r\nHost: 1"))
        for _ in range(self.args.waiters):
            self.sockets.append(self.target.raw(post("/api/generate?wait=true", self.largest)))
        for _ in range(self.args.streams):
            path = f"GET /api/jobs/{job}/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
            self.sockets.append(self.target.raw(path.encode()))
        threading.Thread(target=self._dribble, daemon=True).start()
        time.sleep(2)  # let the server take it all in

    def _submit(self) -> str | None:
        status, body, _ = self.target.call(ABUSER, "POST", "/api/generate", self.largest)
        if status != 202:
            self.refused["jobs"] += 1
            return None
        return body["id"]

    def _flood(self) -> None:
        while not self.done.is_set():
            if self._submit() is None:
                time.sleep(0.5)

    def _dribble(self) -> None:
        """One more header byte on each idle connection every few seconds."""
        while not self.done.wait(3):
            for sock in self.sockets[: self.args.idle]:
                with contextlib.suppress(OSError):
                    sock.send(b"2")

    def stop(self) -> None:
        self.done.set()
        for sock in self.sockets:
            sock.close()


class Prober(threading.Thread):
    """GET /api/health every 50 ms; latencies (a failure counts as its full time)."""

    def __init__(self, target: Target):
        super().__init__(daemon=True)
        self.target, self.latencies, self.failures = target, [], 0
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(0.05):
            status, _, seconds = self.target.call(PROBER, "GET", "/api/health", timeout=10)
            self.latencies.append(seconds)
            self.failures += status != 200

    def take(self) -> list[float]:
        taken, self.latencies = self.latencies, []
        return taken


def polite_jobs(target: Target, args: argparse.Namespace) -> list[float]:
    body = {"model": args.model, "n": args.n, "sampler": args.sampler, "steps": args.steps}
    latencies = []
    for seed in range(args.jobs):
        status, reply, seconds = target.call(
            POLITE, "POST", "/api/generate?wait=true", {**body, "seed": seed}
        )
        if status != 200:
            raise SystemExit(f"the polite client's job failed: {status} {reply}")
        latencies.append(seconds)
    return latencies


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="fashion-32", help="served model")
    parser.add_argument("--models", default=None, help="folder of models to serve")
    parser.add_argument("--sampler", default="dpmpp2m")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--n", type=int, default=4, help="images per polite job")
    parser.add_argument("--jobs", type=int, default=5, help="polite jobs per phase")
    parser.add_argument("--streams", type=int, default=64)
    parser.add_argument("--waiters", type=int, default=64)
    parser.add_argument("--idle", type=int, default=128)
    args = parser.parse_args()
    target = Target(args)
    prober = Prober(target)
    try:
        _, models, _ = target.call(POLITE, "GET", "/api/models")
        largest = {"model": args.model, "n": ServeConfig().max_n, "sampler": "ddpm", "steps": 1000}
        if not any(m["name"] == args.model and m["valid"] for m in models or []):
            raise SystemExit(f"no valid model {args.model!r} on the server")
        polite_jobs(target, argparse.Namespace(**{**vars(args), "jobs": 1}))  # warm-up
        prober.start()
        idle = polite_jobs(target, args)
        idle_health = prober.take()
        abuser = Abuser(target, args, largest)
        abuser.start()
        try:
            abused = polite_jobs(target, args)
            abused_health = prober.take()
        finally:
            abuser.stop()
        prober.halt.set()
    finally:
        target.stop()
    ratio = statistics.median(abused) / statistics.median(idle)
    print(
        f"{args.model}, polite jobs of {args.n} image(s), {args.sampler} {args.steps} steps; "
        f"abuser: {args.streams} streams, {args.waiters} waiters, {args.idle} idle connections, "
        f"queue flooded (refused: {abuser.refused['jobs']} jobs)"
    )
    print("| phase | health p50 ms | health p99 ms | polite job median s |\n|---|---:|---:|---:|")
    for name, health, jobs in (("idle", idle_health, idle), ("abused", abused_health, abused)):
        print(
            f"| {name} | {statistics.median(health) * 1000:.1f} | {p99(health) * 1000:.1f} | "
            f"{statistics.median(jobs):.2f} |"
        )
    print(
        f"health p99 under abuse {p99(abused_health):.3f} s (goal < 1 s), "
        f"{prober.failures} failed probes; polite latency abused / idle = {ratio:.2f} (goal <= 2)"
    )


if __name__ == "__main__":
    main()

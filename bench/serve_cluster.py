"""Scaling out: a Redis cluster's throughput with 1 and 2 workers, its overhead against the
in-process server, and the jobs lost when a worker and an API replica are killed under load.

    python bench/serve_cluster.py                       # bundled fashion-32, dpmpp2m 20 steps
    python bench/serve_cluster.py --clients 32 --rounds 3 --requests 4

Starts, on 127.0.0.1: redis-server (AOF on, in a temporary folder), two API replicas
(`picodiff serve --broker`) behind nginx (deploy/nginx/picodiff.conf), `picodiff worker`
processes with one torch thread each, and an in-process `picodiff serve --torch-threads 1`.
Each round runs, in turn, the same --clients concurrent clients (bench/serve.py's load: one-image
POST /api/generate?wait=true requests, staggered starts, random think times, the same draws for
every setting) against: the in-process server; the cluster (through nginx) with one worker;
the cluster with two. Printed: images/s and p50 / p95 latency per setting (medians over rounds)
and the goals' ratios: two workers over one (>= 1.7), the one-worker cluster's throughput over
the in-process server's (>= 0.9), and, for one client alone, the latency each request spends
beyond its own sampling (its latency less the job's started -> finished), cluster minus
in-process (<= 20 ms: sampling time itself varies by more than that from run to run here).

Then the fault run: --fault-jobs jobs submitted through nginx (without waiting) and followed by
their event streams (reconnecting with Last-Event-ID, as the page does), while one of the two
workers and one API replica are killed with SIGKILL; printed: jobs submitted, done (with all
their images, read back), lost (goal: 0) and the streams that saw exactly one done event.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import requests
from serve import one_round, summary  # bench/serve.py: the client load and its figures

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from cluster import Nginx, RedisServer, follow, free_port, wait_until  # noqa: E402


def start(command: list[str], log: Path) -> subprocess.Popen:
    with open(log, "w") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)


def serve(args, log: Path, *extra: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = [sys.executable, "-m", "picodiff", "serve", "--port", str(port)]
    command += ["--threads", str(2 * args.clients + 8), "--max-streams", str(2 * args.clients)]
    command += ["--queue-size", str(4 * args.clients), "--client-streams", "2"]
    command += ["--client-jobs", "4", "--max-batch", str(args.max_batch), *extra]
    proc = start(command, log)
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: _up(url), 60, what=f"the server of {log.name}")
    return proc, url


def _up(url: str) -> bool:
    try:
        return requests.get(url + "/api/health", timeout=1).status_code == 200
    except requests.ConnectionError:
        return False


class Workers:
    """`picodiff worker` processes of the cluster, started and stopped by name."""

    def __init__(self, args, broker: str, folder: Path):
        self.args, self.broker, self.folder = args, broker, folder
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, name: str) -> None:
        command = [sys.executable, "-m", "picodiff", "worker", "--broker", self.broker]
        command += ["--name", name, "--device", "cpu", "--torch-threads", "1"]
        command += ["--max-batch", str(self.args.max_batch), "--heartbeat", "1"]
        command += ["--visibility-timeout", "5", "--reload-interval", "0"]
        command += ["--models", self.args.models] if self.args.models else []
        log = self.folder / f"worker-{name}.log"
        self.procs[name] = start(command, log)
        wait_until(lambda: f"picodiff worker {name}" in log.read_text(), 60, what=name)

    def stop(self, name: str, sig: int = signal.SIGTERM) -> None:
        proc = self.procs.pop(name)
        proc.send_signal(sig)
        proc.wait(timeout=30)

    def close(self) -> None:
        for name in list(self.procs):
            self.stop(name)


def ready(url: str, model: str, workers: int) -> bool:
    body = requests.get(f"{url}/api/ready?model={model}", timeout=5).json()
    return body.get("ready") and body.get("live_workers") == workers


def fault_run(args, nginx: str, replicas: list, workers: Workers) -> dict:
    """Jobs followed through nginx while a worker and a replica are killed; each job's outcome
    is then read back from the cluster."""
    body = {"model": args.model, "n": 1, "sampler": args.sampler, "steps": args.steps}
    submitted, seen, refused, lock = [], {}, [], threading.Lock()

    def one(k: int) -> None:
        for r in range(args.fault_jobs // 16):
            for _ in range(10):  # a submit cut by the replica's death is sent again (502)
                reply = requests.post(
                    f"{nginx}/api/generate",
                    json={**body, "seed": 10**6 + 100 * k + r},
                    headers={"X-Client-Id": f"fault-{k}"},
                    timeout=30,
                )
                if reply.status_code != 502:
                    break
                time.sleep(0.2)
            if reply.status_code != 202:
                with lock:
                    refused.append(f"{reply.status_code} {reply.text[:200]}")
                continue
            job = reply.json()["id"]
            with lock:
                submitted.append(job)
            events = follow(f"{nginx}/api/jobs/{job}/events", tries=200, client=f"fault-{k}")
            with lock:
                seen[job] = [name for _, name, _ in events].count("done")

    threads = [threading.Thread(target=one, args=(k,)) for k in range(16)]
    for thread in threads:
        thread.start()
    time.sleep(args.fault_after)
    workers.stop("w1", signal.SIGKILL)
    replicas[0][0].send_signal(signal.SIGKILL)
    for thread in threads:
        thread.join()
    statuses = [requests.get(f"{nginx}/api/jobs/{job}", timeout=10).json() for job in submitted]
    done = [s for s in statuses if s["status"] == "done" and len(s["images"]) == s["n"]]
    return {
        "submitted": len(submitted),
        "refused": refused,
        "done": len(done),
        "lost": len(submitted) - len(done),
        "streams_with_one_done": sum(count == 1 for count in seen.values()),
        "reclaimed": "job_reclaimed" in (workers.folder / "worker-w2.log").read_text(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", default="fashion-32", help="served model (bundled or in --models)"
    )
    parser.add_argument("--models", default=None, help="folder of models to serve")
    parser.add_argument("--sampler", default="dpmpp2m")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=4, help="requests per client and round")
    parser.add_argument("--stagger", type=float, default=0.02, help="seconds between client starts")
    parser.add_argument("--think", type=float, default=0.2, help="mean pause between requests, s")
    parser.add_argument("--max-batch", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--fault-jobs", type=int, default=64, help="jobs of the fault run")
    parser.add_argument("--fault-after", type=float, default=3.0, help="seconds before the kills")
    args = parser.parse_args()
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        broker = RedisServer(folder / "redis")
        stack.callback(broker.stop)
        replicas = [
            serve(
                args,
                folder / f"replica-{i}.log",
                "--broker",
                broker.url,
                "--trusted-proxy",
                "127.0.0.1",
            )
            for i in range(2)
        ]
        for proc, _ in replicas:
            stack.callback(proc.terminate)
        backends = [url.removeprefix("http://") for _, url in replicas]
        nginx = Nginx(folder, ROOT / "deploy" / "nginx" / "picodiff.conf", backends)
        stack.callback(nginx.stop)
        models = ["--models", args.models] if args.models else []
        embedded, inproc = serve(args, folder / "inproc.log", "--torch-threads", "1", *models)
        stack.callback(embedded.terminate)
        workers = Workers(args, broker.url, folder)
        stack.callback(workers.close)
        workers.start("w1")
        wait_until(lambda: ready(nginx.base, args.model, 1), 30, what="the cluster")
        warm = argparse.Namespace(**{**vars(args), "requests": 1})
        for url in (inproc, nginx.base):
            one_round(url, 2, warm, -1)
        settings = ("in-process", "cluster, 1 worker", "cluster, 2 workers")
        rounds: dict[str, list] = {s: [] for s in settings}
        for index in range(args.rounds):
            rounds[settings[0]].append(one_round(inproc, args.clients, args, index))
            rounds[settings[1]].append(one_round(nginx.base, args.clients, args, index))
            workers.start("w2")
            wait_until(lambda: ready(nginx.base, args.model, 2), 30, what="two workers")
            one_round(nginx.base, 2, warm, -1)  # w2 loads its model
            rounds[settings[2]].append(one_round(nginx.base, args.clients, args, index))
            workers.stop("w2")
            wait_until(lambda: ready(nginx.base, args.model, 1), 30, what="one worker")
            print(f"round {index + 1} of {args.rounds} done", flush=True)
        figures = {s: summary(r) for s, r in rounds.items()}
        alone = argparse.Namespace(**{**vars(args), "requests": 8, "think": 0.0})
        single = {s: [] for s in settings[:2]}
        for index in range(args.rounds):  # one client: the per-request cost of the broker
            single[settings[0]].append(one_round(inproc, 1, alone, index))
            single[settings[1]].append(one_round(nginx.base, 1, alone, index))
        lone = {s: summary(r) for s, r in single.items()}
        workers.start("w2")
        wait_until(lambda: ready(nginx.base, args.model, 2), 30, what="two workers")
        faults = fault_run(args, nginx.base, replicas, workers)
    report(args, figures, lone, faults)


def report(args, figures: dict[str, dict], lone: dict[str, dict], faults: dict) -> None:
    print(
        f"\n{args.model}, {args.sampler} {args.steps} steps, {args.clients} clients, one-image "
        f"requests, --max-batch {args.max_batch}, 1 torch thread per worker, 2 API replicas "
        f"behind nginx, median of {args.rounds} rounds"
    )
    print("| setting | images/s | p50 s | p95 s |\n|---|---:|---:|---:|")
    for name, f in figures.items():
        print(f"| {name} | {f['images_per_s']:.2f} | {f['p50']:.3f} | {f['p95']:.3f} |")
    inproc, one, two = figures.values()
    print(
        f"2 workers / 1 worker throughput: {two['images_per_s'] / one['images_per_s']:.2f} "
        "(goal >= 1.7)"
    )
    ratio, extra = one["images_per_s"] / inproc["images_per_s"], one["p50"] - inproc["p50"]
    base, cluster = lone.values()
    added = cluster["beyond_p50"] - base["beyond_p50"]
    print(
        f"broker overhead at 1 worker: throughput {ratio:.2f}x the in-process server's "
        f"(goal >= 0.9); p50 at {args.clients} clients {1000 * extra:+.0f} ms; one client "
        f"alone: p50 {1000 * base['p50']:.0f} ms in-process, {1000 * cluster['p50']:.0f} ms "
        f"through nginx and Redis; of which not sampling (latency less the job's own "
        f"started -> finished): {1000 * base['beyond_p50']:.1f} ms in-process, "
        f"{1000 * cluster['beyond_p50']:.1f} ms in the cluster: {1000 * added:+.1f} ms "
        "(goal <= +20 ms)"
    )
    print(
        f"fault run (SIGKILL of a worker and an API replica after {args.fault_after:g} s): "
        f"{faults['submitted']} jobs submitted ({len(faults['refused'])} submits refused"
        f"{': ' + faults['refused'][0] if faults['refused'] else ''}), {faults['done']} done, "
        f"{faults['lost']} lost "
        f"(goal 0); streams that saw exactly one done event: {faults['streams_with_one_done']}; "
        f"taken over by the other worker: {faults['reclaimed']}"
    )


if __name__ == "__main__":
    main()

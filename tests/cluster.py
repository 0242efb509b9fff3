"""Real cluster parts for tests: Debian's redis-server (AOF on, in a temporary folder), `picodiff
worker` processes, API replicas (`picodiff serve --broker`), nginx in front of them, and an SSE
client that reconnects with Last-Event-ID."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
import requests
from live_server import Server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, timeout: float = 30.0, every: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class RedisServer:
    """redis-server on a free 127.0.0.1 port with append-only persistence in `folder`."""

    def __init__(self, folder: Path):
        if shutil.which("redis-server") is None:
            pytest.fail("redis-server is missing: apt-get install redis-server (.ci/run does)")
        self.folder, self.port = folder, free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        folder.mkdir(parents=True, exist_ok=True)
        self.start()

    def start(self) -> None:
        command = [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.folder),
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--save",
            "",
        ]
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        client = redis.Redis(port=self.port, socket_timeout=1)
        wait_until(lambda: _pings(client), 10, what="redis-server to answer")

    def stop(self) -> None:
        """SIGTERM: redis writes its append-only file and exits."""
        self.proc.terminate()
        self.proc.wait(timeout=10)

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=2)


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


class Worker:
    """`picodiff worker` in a subprocess, on the CPU with one torch thread."""

    def __init__(self, tmp: Path, broker: str, models: Path, name: str, *args: str):
        self.name, self.log = name, tmp / f"worker-{name}.log"
        command = [
            sys.executable,
            "-m",
            "picodiff",
            "worker",
            "--broker",
            broker,
            "--models",
            str(models),
            "--device",
            "cpu",
            "--name",
            name,
            "--torch-threads",
            "1",
            "--heartbeat",
            "0.5",
            "--visibility-timeout",
            "3",
            *args,
        ]
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        wait_until(
            lambda: f"picodiff worker {name}" in self.log.read_text() or self._died(),
            60,
            what=f"worker {name} to start",
        )
        assert self.proc.poll() is None, self.log.read_text()[-3000:]

    def _died(self) -> bool:
        return self.proc.poll() is not None

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=15)


def replica(tmp: Path, broker: str, *args: str) -> Server:
    """An API replica: `picodiff serve --broker URL` on a free port."""
    folder = tmp / f"replica-{free_port()}"
    folder.mkdir()
    return Server(folder, "--broker", broker, "--broker-timeout", "1", *args)


class Nginx:
    """Debian's nginx with deploy/nginx/picodiff.conf, its upstreams pointed at `backends`."""

    def __init__(self, tmp: Path, conf: Path, backends: list[str]):
        if shutil.which("nginx") is None:
            pytest.fail("nginx is missing: apt-get install nginx (.ci/run does)")
        self.port, self.prefix = free_port(), tmp / "nginx"
        (self.prefix / "logs").mkdir(parents=True)
        text = conf.read_text()
        servers = "".join(f"    server {b} max_fails=1 fail_timeout=5s;\n" for b in backends)
        text = _between(text, "upstream picodiff_api {\n", "}", servers)
        text = text.replace("listen 127.0.0.1:8080;", f"listen 127.0.0.1:{self.port};")
        self.conf = self.prefix / "nginx.conf"
        self.conf.write_text(
            "daemon off;\npid nginx.pid;\nerror_log logs/error.log;\nevents {}\nhttp {\n"
            "access_log logs/access.log;\nclient_body_temp_path tmp;\nproxy_temp_path tmp;\n"
            "fastcgi_temp_path tmp;\nuwsgi_temp_path tmp;\nscgi_temp_path tmp;\n"
            f"{text}\n}}\n"
        )
        (self.prefix / "tmp").mkdir()
        check = subprocess.run(
            ["nginx", "-t", "-p", str(self.prefix), "-c", str(self.conf)],
            capture_output=True,
            text=True,
        )
        assert check.returncode == 0, check.stderr
        self.proc = subprocess.Popen(["nginx", "-p", str(self.prefix), "-c", str(self.conf)])
        self.base = f"http://127.0.0.1:{self.port}"
        wait_until(lambda: _answers(self.base + "/api/health"), 10, what="nginx")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def _between(text: str, start: str, end: str, inner: str) -> str:
    head, _, rest = text.partition(start)
    assert rest, f"{start!r} not in the nginx configuration"
    _, _, tail = rest.partition(end)
    return head + start + inner + end + tail


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.ConnectionError:
        return False


def read_events(
    url: str,
    last_event_id: str | None = None,
    stop_after: int | None = None,
    timeout: float = 60,
    client: str | None = None,
):
    """The SSE events of one connection: [(id, name, data)]; stops after `stop_after` events,
    at an outcome, or when the connection breaks (then the last item is ("broken", ...)).
    `client`: the X-Client-Id sent."""
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    headers |= {"X-Client-Id": client} if client else {}
    events, current = [], {}
    try:
        with requests.get(url, headers=headers, stream=True, timeout=timeout) as response:
            if response.status_code in (502, 503):  # no replica reachable, or busy: retry
                return [("broken", "broken", {"status": response.status_code})]
            assert response.status_code == 200, response.text
            for line in response.iter_lines(decode_unicode=True):
                if line.startswith(":"):
                    continue
                if line:
                    name, _, value = line.partition(": ")
                    current[name] = value
                    continue
                if not current:
                    continue
                events.append((current.get("id"), current["event"], json.loads(current["data"])))
                current = {}
                if events[-1][1] in ("done", "failed", "cancelled"):
                    return events
                if stop_after is not None and len(events) >= stop_after:
                    return events
    except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as err:
        events.append(("broken", "broken", {"error": str(err)}))
    return events


def follow(
    url: str, last_event_id: str | None = None, tries: int = 20, client: str | None = None
) -> list:
    """The events of a job's stream after `last_event_id`, reconnecting with Last-Event-ID
    after a broken connection (as EventSource does), until its outcome."""
    events: list = []
    for _ in range(tries):
        got = read_events(url, last_event_id, client=client)
        events += [e for e in got if e[0] != "broken"]
        if events and events[-1][1] in ("done", "failed", "cancelled"):
            return events
        last_event_id = events[-1][0] if events else last_event_id
        time.sleep(0.2)
    raise AssertionError(f"the stream never ended: {[e[1] for e in events]}")

"""A real `picodiff serve` (waitress) on 127.0.0.1 in a subprocess, for end-to-end tests."""

import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests


class Server:
    """`picodiff serve` on a free port; `url(path)`, the log lines, `stop()`."""

    def __init__(self, tmp: Path, *args: str, env: dict | None = None):
        self.log = tmp / "server.log"
        command = [
            sys.executable,
            "-m",
            "picodiff",
            "serve",
            "--port",
            "0",
            "--torch-threads",
            "1",
            *args,
        ]
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(
                command,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                env={**os.environ, **(env or {})},
            )
        first = self.proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", first)
        assert match, f"no URL in {first!r}; log: {self.log.read_text()[-2000:]}"
        self.base = f"http://127.0.0.1:{match.group(1)}"
        self.startup = first + self._read_startup()

    def _read_startup(self) -> str:
        lines = []
        threading.Thread(target=lambda: lines.extend(self.proc.stdout), daemon=True).start()
        for _ in range(100):
            try:
                requests.get(self.url("/api/health"), timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        time.sleep(0.2)
        return "".join(lines)

    def url(self, path: str) -> str:
        return self.base + path

    def get(self, path: str, **kw):
        return requests.get(self.url(path), timeout=30, **kw)

    def post(self, path: str, **kw):
        return requests.post(self.url(path), timeout=60, **kw)

    def generate(self, wait=True, **body):
        return self.post(f"/api/generate{'?wait=true' if wait else ''}", json=body)

    def cancel(self, job_id: str, client: str | None = None):
        headers = {"X-Client-Id": client} if client else {}
        return requests.delete(self.url(f"/api/jobs/{job_id}"), headers=headers, timeout=10)

    def log_events(self) -> list[dict]:
        return [json.loads(line) for line in self.log.read_text().splitlines() if line[:1] == "{"]

    def metric(self, name: str, **labels) -> float:
        text = self.get("/metrics").text
        total = 0.0
        for line in text.splitlines():
            series = line.startswith((name + "{", name + " "))
            if series and all(f'{k}="{v}"' in line for k, v in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)

    def request_from(self, address: str, method: str, path: str, body=None, headers=None):
        """A request sent from another loopback address (127.0.0.2, ...): another client
        address, as the server sees it. Returns (status, headers, JSON body or None)."""
        import http.client

        port = int(self.base.rsplit(":", 1)[1])
        conn = http.client.HTTPConnection(
            "127.0.0.1", port, timeout=30, source_address=(address, 0)
        )
        payload = None if body is None else json.dumps(body)
        sent = {"Content-Type": "application/json", **(headers or {})}
        try:
            conn.request(method, path, body=payload, headers=sent)
            answer = conn.getresponse()
            data = answer.read()
            parsed = (
                json.loads(data)
                if data and answer.getheader("Content-Type", "").startswith("application/json")
                else None
            )
            return answer.status, dict(answer.getheaders()), parsed
        finally:
            conn.close()


def serving_models(models: Path, tmp_path_factory):
    """A fixture's `picodiff serve --models MODELS`, stopped when the fixture ends."""
    served = Server(tmp_path_factory.mktemp("server"), "--models", str(models))
    yield served
    served.stop()

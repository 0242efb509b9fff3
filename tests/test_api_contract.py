"""The API keeps its own contract: schemathesis, every check, against a real server."""

import subprocess
import sys

from live_server import Server
from test_serving_units import make_model


def test_schemathesis_finds_nothing_with_every_check(tmp_path):
    make_model(tmp_path / "models", "tiny", T=20)
    limits = ("--max-n", "2", "--max-steps", "4", "--reload-interval", "0")
    server = Server(tmp_path, "--models", str(tmp_path / "models"), *limits)
    try:
        command = [sys.executable, "-m", "schemathesis.cli", "run"]
        command += [server.url("/api/openapi.json"), "--checks", "all", "--workers", "1"]
        command += ["--max-examples", "60", "--seed", "1", "--no-color"]
        # run in tmp_path: schemathesis keeps its cache in the working directory
        run = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    finally:
        server.stop()
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "failures" not in run.stdout.splitlines()[-1], run.stdout[-3000:]

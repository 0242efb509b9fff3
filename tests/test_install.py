"""Out of the box: install picodiff the way the README's quick start says into a fresh virtual
environment, run `picodiff serve` with no arguments, and draw a demo image through the API."""

import base64
import io
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent


def test_fresh_install_serves_the_demo_model(tmp_path):
    project = tmp_path / "project"
    shutil.copytree(
        ROOT / "src", project / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, project / name)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, str(project), "torch==2.13.0"], check=True, timeout=900)
    env = {k: v for k, v in os.environ.items() if k not in ("PICODIFF_MODELS", "PYTHONPATH")}
    server = subprocess.Popen(
        [str(venv / "bin" / "picodiff"), "serve", "--port", "0"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        url = re.search(r"http://127\.0\.0\.1:\d+/", server.stdout.readline()).group(0)
        models = json.load(urllib.request.urlopen(url + "api/models", timeout=30))
        # the featured order (the page offers the first valid model); the text model needs the
        # text extra, which this install leaves out
        assert [m["name"] for m in models] == ["fashion-32", "emoji-32", "digits-demo"]
        emoji = models.pop(1)
        assert not emoji["valid"] and "pip install 'picodiff[text]'" in emoji["reason"]
        for model, size in zip(models, (32, 16)):
            assert model["valid"] and model["channels"] == 1 and model["fid"] is not None
            request = urllib.request.Request(
                url + "api/generate?wait=true",
                method="POST",
                data=json.dumps({"model": model["name"], "n": 2, "seed": 1}).encode(),
                headers={"Content-Type": "application/json"},
            )
            body = json.load(urllib.request.urlopen(request, timeout=120))
            image = Image.open(io.BytesIO(base64.b64decode(body["images_base64"][0])))
            assert image.size == (size, size) and image.mode == "L"
        page = urllib.request.urlopen(url, timeout=30).read()
        assert b'<div id="root">' in page  # the web page ships in the package
    finally:
        server.terminate()
        server.wait(timeout=10)

"""Helpers of the web page's tests: the bundle's source digest, models, a server, a browser."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FRONTEND = ROOT / "frontend"
STATIC = ROOT / "src" / "picodiff" / "serving" / "static"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]

# the files whose digest the build writes into static/build-info.json
# (the same rule as frontend/scripts/source-hash.mjs: keep them identical)
ROOT_FILES = ("index.html", "package.json", "package-lock.json", "tsconfig.json", "vite.config.ts")
SOURCE_DIRS = ("scripts", "src")


def in_ci() -> bool:
    return os.environ.get("CI", "") not in ("", "0", "false")


def missing(reason: str) -> None:
    """Skip a test whose tool is missing here; in CI (CI=1) that is a failure instead."""
    if in_ci():
        pytest.fail(f"{reason} (CI=1: these tests must run; .ci/run installs it)")
    pytest.skip(reason)


def source_files(root: Path = FRONTEND) -> list[str]:
    files = [name for name in ROOT_FILES if (root / name).is_file()]
    for folder in SOURCE_DIRS:
        files += [p.relative_to(root).as_posix() for p in (root / folder).rglob("*") if p.is_file()]
    return sorted(files)


def source_hash(root: Path = FRONTEND) -> str:
    """sha256 over `path \\0 content \\0` of every source file, CRLF read as LF."""
    digest = hashlib.sha256()
    for path in source_files(root):
        digest.update(path.encode() + b"\0")
        digest.update((root / path).read_bytes().replace(b"\r\n", b"\n"))
        digest.update(b"\0")
    return digest.hexdigest()


def make_tiny_model(models: Path, name: str, T: int = 1000, seed: int = 0) -> Path:
    """A random-weight `tiny` U-Net (16 px) with a cosine schedule, saved as a checkpoint."""
    import torch

    from picodiff.checkpoint import save_checkpoint
    from picodiff.diffusion import NoiseSchedule
    from picodiff.models import UNet, UNetConfig

    torch.manual_seed(seed)
    model = UNet(UNetConfig.preset("tiny"))
    return save_checkpoint(models / name, model, NoiseSchedule.cosine(T))


def make_tiny_cascade(models: Path, name: str, stages: Path) -> Path:
    """NAME.cascade.yaml: a random-weight 16 px base, then a 16 -> 32 px stage (in `stages`)."""
    import torch
    import yaml

    from picodiff.checkpoint import save_checkpoint
    from picodiff.diffusion import NoiseSchedule
    from picodiff.models import UNet, UNetConfig

    base = make_tiny_model(stages, "base", seed=3)
    torch.manual_seed(4)
    sr = UNet(UNetConfig.preset("tiny", image_size=32, low_res_size=16))
    save_checkpoint(stages / "sr", sr, NoiseSchedule.cosine(1000))
    spec = {"stages": [{"path": str(base)}, {"path": str(stages / "sr"), "steps": 2}]}
    path = models / f"{name}.cascade.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def make_invalid_model(models: Path, name: str) -> Path:
    """A checkpoint folder whose config.json is not JSON: listed as invalid, with the reason."""
    folder = models / name
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{ not json")
    return folder


class Server:
    """`picodiff serve --models DIR` on 127.0.0.1, a free port; `.base` is its URL."""

    def __init__(self, models: Path, log: Path, *args: str):
        command = [sys.executable, "-m", "picodiff", "serve", "--models", str(models)]
        command += ["--host", "127.0.0.1", "--port", "0", "--torch-threads", "1", *args]
        env = {**os.environ, "PICODIFF_MODELS": str(models)}
        self.log = log
        with open(log, "w") as err:
            self.proc = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=err, text=True, env=env
            )
        first = self.proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", first)
        if not match:
            self.stop()
            raise RuntimeError(f"no URL in {first!r}; log: {log.read_text()[-2000:]}")
        self.base = f"http://127.0.0.1:{match.group(1)}"
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()  # drain
        self._wait_healthy()

    def _wait_healthy(self, timeout: float = 30.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                with urllib.request.urlopen(self.base + "/api/health", timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"server not healthy; log: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def chromium_path() -> str | None:
    return CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")


def artifacts_dir() -> Path:
    """Screenshots go to $PICODIFF_ARTIFACTS, else tests/artifacts/ (git-ignored)."""
    path = Path(os.environ.get("PICODIFF_ARTIFACTS") or ROOT / "tests" / "artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


def chromium_browser():
    """A module's headless Chromium, driven by Playwright (use as
    `browser = pytest.fixture(scope="module")(chromium_browser)`); missing: skip, or fail
    under CI=1."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("Playwright is not installed (pip install -e '.[test]')")
    path = chromium_path()
    if not path:
        missing("Chromium is not installed (apt-get install -y chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def require_built_page() -> None:
    """Fail (never skip) when the page's bundle is missing: the tests serve what ships."""
    if not (STATIC / "index.html").is_file():
        pytest.fail("the page is not built: run `npm run build` in frontend/")

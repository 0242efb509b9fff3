"""The page's component tests (Vitest, in jsdom), run by `python -m pytest`."""

import shutil
import subprocess

from web_helpers import FRONTEND, missing


def npm_ci_if_needed(npm: str) -> None:
    """`npm ci` unless node_modules was installed after package-lock.json last changed."""
    installed = FRONTEND / "node_modules" / ".package-lock.json"  # written by npm ci/install
    lock = FRONTEND / "package-lock.json"
    if installed.is_file() and installed.stat().st_mtime >= lock.stat().st_mtime:
        return
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=FRONTEND, check=True, timeout=600)


def test_vitest_component_tests():
    npm, npx = shutil.which("npm"), shutil.which("npx")
    if not (npm and npx):
        missing("npm is not installed: the page's Vitest tests cannot run")
    npm_ci_if_needed(npm)
    result = subprocess.run(
        [npx, "vitest", "run", "--reporter=dot"],
        cwd=FRONTEND,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = f"{result.stdout[-8000:]}\n{result.stderr[-4000:]}"
    assert result.returncode == 0, f"vitest failed:\n{output}"

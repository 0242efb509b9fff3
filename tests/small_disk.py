"""A small tmpfs, to run out of disk space for real (root only; otherwise the test skips)."""

import contextlib
import os
import subprocess

import pytest


@contextlib.contextmanager
def small_disk(path, size: str = "1m"):
    """Mount a tmpfs of `size` at `path` for the block; skip when this machine cannot."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)

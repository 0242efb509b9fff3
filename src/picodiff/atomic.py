"""Crash-safe file system updates: write beside the target, then rename over it."""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def make_temp_dir(beside: Path) -> Path:
    """An empty directory next to `beside` (same file system), with the usual permissions,
    named after this process; leftovers of processes that died (SIGKILL) are removed first."""
    beside.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(beside)
    prefix = f".{beside.name}.partial-{os.getpid()}-"
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=beside.parent))
    path.chmod(0o777 & ~_umask())
    return path


def remove_stale(beside: Path) -> None:
    """Delete `.NAME.partial-PID-*` folders whose process is gone, and a `.NAME.old`."""
    shutil.rmtree(beside.with_name(f".{beside.name}.old"), ignore_errors=True)
    for leftover in beside.parent.glob(f".{glob.escape(beside.name)}.partial-*"):
        pid = leftover.name.rsplit(".partial-", 1)[1].split("-", 1)[0]
        if not (pid.isdigit() and _alive(int(pid))):
            shutil.rmtree(leftover, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def replace_dir(source: Path, target: Path) -> None:
    """Move directory `source` to `target`, replacing it; the old one is deleted only after."""
    if target.exists():
        old = target.with_name(f".{target.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
        os.replace(source, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(source, target)


def write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode())

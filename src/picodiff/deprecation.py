"""Renamed names keep working for one release, with a warning that names the new spelling."""

from __future__ import annotations

import warnings


def warn_renamed(what: str, old: str, new: str, stacklevel: int = 3) -> None:
    """Warn that `old` (a preset, a layout, a command, a function) is now `new`.

    FutureWarning, which Python shows by default: the old spellings appear in users' commands,
    config files and scripts, not only in code under development.
    """
    warnings.warn(
        f"the {what} {old!r} is now {new!r}; {old!r} will be removed in the next release",
        FutureWarning,
        stacklevel=stacklevel,
    )

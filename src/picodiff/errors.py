"""The exceptions the command line reports as a one-line message instead of a traceback."""

from __future__ import annotations

import errno


class UserError(Exception):
    """A mistake in the user's input (a path, an option, a file's contents), with its fix."""


class OptionError(UserError, ValueError):
    """An option with an illegal value; `field` names the option (a request field, a key)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class DiskFull(UserError):
    """No space (or quota) left where picodiff was writing; nothing half-written is kept."""

    @classmethod
    def check(cls, err: BaseException, where: object) -> None:
        """Raise DiskFull for a full disk or quota (ENOSPC, EDQUOT, or safetensors' "storage
        full"); return for any other error, which the caller re-raises."""
        full = isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT)
        text = str(err)
        full = full or "StorageFull" in text or "No space left on device" in text
        if full:
            raise cls(
                f"no space left on the disk while writing {where}; free some space or "
                "write somewhere else"
            ) from None

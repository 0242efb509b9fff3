"""The exceptions the command line reports as a one-line message instead of a traceback."""


class UserError(Exception):
    """A mistake in the user's input (a path, an option, a file's contents), with its fix."""


class OptionError(UserError, ValueError):
    """An option with an illegal value; `field` names the option (a request field, a key)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field

"""The exception the command line reports as a one-line message instead of a traceback."""


class UserError(Exception):
    """A mistake in the user's input (a path, an option, a file's contents), with its fix."""

"""The one exception a user sees as a single line: a bad config or a run that cannot go on."""


class RunError(Exception):
    """Raised for bad input or an unrecoverable run state; the entry point prints it and exits non-zero."""

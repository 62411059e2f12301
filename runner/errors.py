"""The exceptions a user sees as a single line: a bad config, a run that cannot go on, a run stopped by a signal."""


class RunError(Exception):
    """Raised for bad input or an unrecoverable run state; the entry point prints it and exits non-zero."""

    exit_code = 2
    label = "error"


class Interrupted(RunError):
    """A run stopped on request after saving a checkpoint; exits 128 + the signal number, as a shell expects."""

    label = "stopped"

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.exit_code = 128 + signum


class Diverged(RunError):
    """A run whose numbers stopped being finite: one line and exit 2 like bad input, but a sweep counts it with the
    runs that failed, since the input was valid."""

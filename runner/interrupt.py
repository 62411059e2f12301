"""SIGINT and SIGTERM as a request to stop at the loop's next safe point; a second signal exits at once."""

from __future__ import annotations

import io
import os
import signal
import sys
import threading
from contextlib import contextmanager


class StopRequest:
    """Set by the first SIGINT or SIGTERM, which is acknowledged at once; the trainer checkpoints at its next safe
    point (`safe_point` says which) and stops.

    A signal that the process ignores (nohup) or that a launcher handles (submitit keeps SIGTERM to requeue SLURM
    jobs) is left as it is.
    """

    def __init__(self):
        self.signum: int | None = None
        self.safe_point = "the end of this episode"  # what the trainer waits for; each trainer says its own
        self._previous: dict[int, object] = {}

    def __bool__(self) -> bool:
        return self.signum is not None

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum else ""

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # Python delivers signals to the main thread only; a run in another thread keeps the defaults
        for signum in (signal.SIGINT, signal.SIGTERM):
            current = signal.getsignal(signum)
            if current not in (signal.SIG_DFL, signal.default_int_handler):
                continue  # ignored on purpose (nohup, a shell's background job) or claimed by a launcher
            self._previous[signum] = current
            signal.signal(signum, self._handle)

    def restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _handle(self, signum: int, _frame) -> None:
        if self.signum is not None:
            print(f"stopped: second {signal.Signals(signum).name}, exiting at once; the next start resumes from the "
                  "last checkpoint", file=sys.stderr, flush=True)
            os._exit(128 + signum)
        self.signum = signum
        # said at once, terminal or not (a log, a scheduler); os.write, since the signal may land inside a print
        fresh_line = "\n" if sys.stderr.isatty() else ""  # off the progress bar's line
        line = (f"{fresh_line}{self.name}: stopping at the next safe point ({self.safe_point}) with a checkpoint; a "
                f"second Ctrl-C (or {self.name}) stops at once\n")
        try:
            os.write(sys.stderr.fileno(), line.encode())
        except (OSError, ValueError, io.UnsupportedOperation):  # a stderr without a descriptor (captured)
            print(line, end="", file=sys.stderr, flush=True)


@contextmanager
def stop_on_signals():
    """A StopRequest armed for the duration of the block."""
    request = StopRequest()
    request.install()
    try:
        yield request
    finally:
        request.restore()

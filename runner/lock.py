"""One owner per run folder: an exclusive lock held for the life of the process that trains there."""

from __future__ import annotations

import fcntl
import os
import socket
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from runner.errors import RunError

LOCK_FILE = ".lock"


@contextmanager
def run_folder_lock(run_dir: Path) -> Iterator[None]:
    """Holds flock(LOCK_EX) on `<run_dir>/.lock` while the block runs.

    The kernel drops the lock when the process dies, however it dies, so a requeued or restarted job takes the
    folder back at once; no stale lock file ever needs removing. A second process is refused at once, with the
    owner's pid and host read from the file. The descriptor is not inherited by child processes (W&B's service).
    """
    path = run_dir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        owner = os.read(fd, 200).decode(errors="replace").strip() or "another process"
        os.close(fd)
        raise RunError(f"{run_dir} is in use by {owner}; wait for that run to end or stop it") from None
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode())
        yield
    finally:
        os.close(fd)

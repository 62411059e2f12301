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
# Times a start takes the lock again when the file it locked was removed meanwhile (its owner's refused start
# cleaning up); each retry means another process finished with the folder in between.
LOCK_RETRIES = 3


@contextmanager
def run_folder_lock(run_dir: Path) -> Iterator[None]:
    """Creates `run_dir` if needed and holds flock(LOCK_EX) on `<run_dir>/.lock` while the block runs.

    The kernel drops the lock when the process dies, however it dies, so a requeued or restarted job takes the
    folder back at once; no stale lock file ever needs removing. A second process is refused at once, with the
    owner's pid and host read from the file. The descriptor is not inherited by child processes (W&B's service).

    A start refused inside the block (RunError) removes the folders it created, but only while it holds the lock:
    a start refused at the lock owns nothing and removes nothing, so SLURM array jobs starting together never
    delete a folder another of them has just taken.
    """
    created = [p for p in (run_dir, *run_dir.parents) if not p.exists()]
    fd = _locked(run_dir)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode())
        try:
            yield
        except RunError:
            if created:
                _remove_if_empty(run_dir, created)
            raise
    finally:
        os.close(fd)


def _locked(run_dir: Path) -> int:
    """A descriptor of `<run_dir>/.lock`, locked, and still the file at that path: a start that locks a file its
    previous owner has just unlinked would own nothing, so it locks the new file instead."""
    path = run_dir / LOCK_FILE
    for _ in range(LOCK_RETRIES):
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise RunError(f"cannot create the run folder {run_dir}: {err.filename}: {err.strerror or err}; run_root "
                           "must name a folder this user can write to") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.read(fd, 200).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise RunError(f"{run_dir} is in use by {owner}; wait for that run to end or stop it") from None
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)
    raise RunError(f"{run_dir} keeps changing hands; another start is creating and removing it, try again")


def _remove_if_empty(run_dir: Path, created: list[Path]) -> None:
    """The lock file, then the folders this start created, deepest first, while they hold nothing else."""
    if any(p.name != LOCK_FILE for p in run_dir.iterdir()):
        return
    (run_dir / LOCK_FILE).unlink(missing_ok=True)
    for folder in created:  # a folder someone else wrote into stays
        try:
            folder.rmdir()
        except OSError:
            break


"""A write that fails for want of space (or any other OSError) ends the run in one line that names the folder, the
space it has and the space the write needed, instead of a traceback; the checkpoint before it stays the latest."""

from __future__ import annotations

import errno
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from runner.errors import RunError


class DiskError(RunError):
    """A file of the run could not be written. Exit 2: the input was valid, but the run cannot go on until the
    user frees space (or fixes the folder), after which the same command resumes."""

    @classmethod
    def of(cls, err: OSError, folder: Path, need_bytes: int, what: str) -> "DiskError":
        free = _free_bytes(folder)
        room = f"; {folder} has {_mb(free)} free" if free is not None else ""
        need = f" and {what} needs about {_mb(need_bytes)}" if need_bytes > 0 else ""
        fix = "free space there" if err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) else "fix the folder"
        return cls(f"cannot write {what} in {folder} ({err.strerror or type(err).__name__}){room}{need}: {fix}, "
                   "then run the same command to resume from the last checkpoint")


@contextmanager
def writing(folder: Path, what: str, need_bytes: int = 0) -> Iterator[None]:
    """Turn an OSError raised by the block into a DiskError that names `folder` and `what` was being written."""
    try:
        yield
    except OSError as err:
        raise DiskError.of(err, folder, need_bytes, what) from None


def _free_bytes(folder: Path) -> int | None:
    for candidate in (folder, *folder.parents):
        try:
            return shutil.disk_usage(candidate).free
        except OSError:
            continue
    return None


def _mb(n: int) -> str:
    return f"{n / 2**20:.1f} MB"

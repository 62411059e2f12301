"""Process-wide settings of the machine a run uses: CPU threads, float32 denormals, how the C allocator treats
large tensors, where MuJoCo writes its warnings."""

from __future__ import annotations

import ctypes
import resource
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import torch

# mallopt(3) parameter numbers, from glibc's malloc.h.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3


def keep_freed_memory(threshold_bytes: int = 1 << 30) -> bool:
    """Make glibc reuse freed heap memory for large CPU tensors instead of mapping fresh pages for each.

    glibc serves an allocation above its mmap threshold (which adapts, but never beyond 32 MiB) with new pages
    and unmaps them on free, so every new large tensor page-faults on first touch and the kernel zeroes it.
    AR-DAE's [256 x 128, 256] activations are 32 MiB each, so its psi update pays that on every layer (README,
    "Threads", has the measurement). Raising the mmap and trim thresholds keeps freed blocks in the heap for the
    next tensor of that size; the process keeps its peak memory instead of returning it. Returns whether the
    allocator accepted the settings (False off glibc, where nothing changes).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, threshold_bytes)) and bool(mallopt(M_TRIM_THRESHOLD, threshold_bytes))


def prepare_host(torch_threads: int = 0) -> None:
    """Settings every run wants before it builds anything: torch's CPU threads (0 keeps torch's default),
    denormals flushed to zero, and `keep_freed_memory`.

    x86 CPUs compute float32 denormals (magnitudes below 1.2e-38) in microcode, many times slower than normal
    numbers. AR-DAE's fixed standardization scales actions by 1e4, so a share of psi's ELU pre-activations is
    large and negative and exp of them, in ELU and its derivatives, is denormal; flushing those to zero changes
    results only at that magnitude (docs/benchmarks.md has the measurement). A no-op where the CPU
    has no such mode.
    """
    if torch_threads > 0:
        torch.set_num_threads(torch_threads)
    torch.set_flush_denormal(True)
    keep_freed_memory()


def peak_rss_bytes() -> int:
    """The most resident memory this process has held so far (ru_maxrss counts KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


MUJOCO_LOG = "MUJOCO_LOG.TXT"


@contextmanager
def mujoco_log_in(folder: Path) -> Iterator[None]:
    """MuJoCo's warnings (an unstable simulation) go to `<folder>/MUJOCO_LOG.TXT` while the block runs, instead of
    to a file of that name in whatever directory the run was launched from. The first is also said on stderr."""
    import mujoco

    previous = mujoco.get_mju_user_warning()
    said = []

    def warn(message: str) -> None:
        with (folder / MUJOCO_LOG).open("a") as log:
            log.write(f"{time.strftime('%a %b %d %H:%M:%S %Y')}\nWARNING: {message}\n\n")
        if not said:
            said.append(message)
            print(f"warning: MuJoCo: {message} (this and any later ones: {folder / MUJOCO_LOG})", file=sys.stderr,
                  flush=True)

    mujoco.set_mju_user_warning(warn)
    try:
        yield
    finally:
        mujoco.set_mju_user_warning(previous)

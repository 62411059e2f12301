"""Shared helpers: run the real CLI in a subprocess, read a run folder."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# A few thousand InvertedPendulum steps: enough to exercise every part of the loop in seconds.
TINY = ["env=inverted_pendulum", "total_steps=2000", "warmup_steps=500", "eval_every=1000", "eval_episodes=2",
        "log_every=250", "checkpoint_every=500", "progress=false", "diagnostics.num_samples=32", "torch_threads=1"]


def run_cli(*args: str, run_root: Path, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_SILENT": "true", "HYDRA_FULL_ERROR": "0"}
    proc = subprocess.run([sys.executable, "-m", "runner", *args, f"run_root={run_root}"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"runner failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def read_csv(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def run_folder(run_root: Path, experiment: str, env: str = "inverted_pendulum", algo: str = "sac_gaussian",
               seed: int = 0) -> Path:
    """The one run folder of `algo` on `env` in that experiment, whatever its variant label (the tests' small
    budgets make one); the plain `<algo>/seed<n>` when there is none yet."""
    found = [p for p in (run_root / experiment / env).glob(f"*/seed{seed}")
             if re.split(r"[-+]", p.parent.name, maxsplit=1)[0] == algo]
    assert len(found) <= 1, f"several variants of {algo}: {found}"
    return found[0] if found else run_root / experiment / env / algo / f"seed{seed}"


@pytest.fixture
def run_root(tmp_path: Path) -> Path:
    return tmp_path / "runs"


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """The networks in unit tests are tiny: one thread avoids oversubscribing a 2-core machine. The allocator
    setting is the one `python -m runner` uses."""
    from runner.host import prepare_host

    prepare_host(torch_threads=1)

"""Shared helpers: run the real CLI in a subprocess, read a run folder."""

from __future__ import annotations

import csv
import os
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


def train_in_process(*overrides: str, run_root: Path) -> tuple[int, str]:
    """Compose the config as the CLI does and train in this process: (exit code, the line the CLI would print).
    For inputs whose point is not the process boundary; faster than a subprocess by the imports it saves."""
    from hydra import compose, initialize_config_dir

    from runner.__main__ import train
    from runner.errors import RunError

    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=[*overrides, f"run_root={run_root}"])
        try:
            train(cfg)
        except RunError as err:
            return err.exit_code, f"{err.label}: {err}"
    return 0, ""


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under `root` with its bytes, to show that nothing was created, changed or deleted."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()} \
        if root.exists() else {}


def read_csv(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def run_folder(run_root: Path, experiment: str, env: str = "inverted_pendulum", algo: str = "sac_gaussian",
               seed: int = 0) -> Path:
    return run_root / experiment / env / algo / f"seed{seed}"


@pytest.fixture
def run_root(tmp_path: Path) -> Path:
    return tmp_path / "runs"


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """The networks in unit tests are tiny: one thread avoids oversubscribing a 2-core machine. The allocator
    setting is the one `python -m runner` uses."""
    from runner.host import prepare_host

    prepare_host(torch_threads=1)

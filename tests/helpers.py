"""Helpers the tests share: run the real CLI in a subprocess or a run in this process, find and read run folders."""

from __future__ import annotations

import csv
import os
import re
import shutil
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

REPO = Path(__file__).resolve().parents[1]

# A few thousand InvertedPendulum steps: enough to exercise every part of the loop in seconds.
TINY = ["env=inverted_pendulum", "total_steps=2000", "warmup_steps=500", "eval_every=1000", "eval_episodes=2",
        "log_every=250", "checkpoint_every=500", "progress=false", "diagnostics.num_samples=32", "torch_threads=1"]


def child_env(**extra: str) -> dict[str, str]:
    """This process's environment for a child runner, without the W&B service that a test run in this process
    may have started (wandb exports it in WANDB_SERVICE): each child starts its own, as a user's command does."""
    return {**{k: v for k, v in os.environ.items() if k != "WANDB_SERVICE"}, "WANDB_SILENT": "true", **extra}


def run_cli(*args: str, run_root: Path, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
    env = child_env(HYDRA_FULL_ERROR="0")
    proc = subprocess.run([sys.executable, "-m", "runner", *args, f"run_root={run_root}"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"runner failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def start(run_root: Path, *args: str) -> subprocess.Popen:
    """The real CLI in a child whose SIGINT is the default, as in a terminal: a test runner's worker (or a shell's
    background job) may ignore SIGINT, and the runner rightly leaves an ignored SIGINT ignored. stderr is piped."""
    return subprocess.Popen([sys.executable, "-m", "runner", *args, f"run_root={run_root}"], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env=child_env(),
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


@contextmanager
def composed_job(*overrides: str) -> Iterator[DictConfig]:
    """The config of one run composed as the CLI composes it, with Hydra's job config set as inside a job."""
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=list(overrides), return_hydra_config=True)
        HydraConfig.instance().set_config(cfg)
        with open_dict(cfg):
            del cfg["hydra"]
        yield cfg


def train_in_process(*overrides: str, run_root: Path) -> tuple[int, str]:
    """Compose the config as the CLI does and train in this process: (exit code, the line the CLI would print).
    For inputs whose point is not the process boundary; faster than a subprocess by the imports it saves."""
    from runner.__main__ import train
    from runner.errors import RunError

    with composed_job(*overrides, f"run_root={run_root}") as cfg:
        try:
            train(cfg)
        except RunError as err:
            return err.exit_code, f"{err.label}: {err}"
    return 0, ""


def trained_root(tmp_path_factory, *overrides: str) -> Path:
    """A run root holding the finished run of `overrides`, for a module-scoped fixture that tests copy."""
    root = tmp_path_factory.mktemp("finished") / "runs"
    assert train_in_process(*overrides, run_root=root) == (0, "")
    return root


def copied(root: Path, tmp_path: Path) -> Path:
    """A copy of a run root under `tmp_path`, for a test to damage."""
    copy = tmp_path / "runs"
    shutil.copytree(root, copy)
    return copy


def folder_for(*overrides: str, run_root: Path) -> Path:
    """The run folder those overrides train in (runner/identity.py)."""
    from runner.identity import identify

    with composed_job(*overrides) as cfg:
        return identify(cfg).run_dir(run_root)


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under `root` with its bytes, to show that nothing was created, changed or deleted; the lock
    file is left out (each start writes its owner's pid there)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != ".lock"} if root.exists() else {}


def replay_rows(run_dir: Path):
    """The replay rows of the folder's latest checkpoint, [size, width] in ring order, read from its chunk files."""
    import torch

    from runner.replay_store import ReplayStore

    manifest = torch.load(run_dir / "checkpoint.pt", weights_only=True)["buffer"]
    rows = torch.zeros(manifest["capacity"], manifest["width"])
    ReplayStore(run_dir).read(manifest, rows)
    return rows[:manifest["size"]]


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

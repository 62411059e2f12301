"""A run killed or signalled half-way and started again ends exactly where an uninterrupted run ends (CPU, fixed
seed), and W&B's history, over every start, holds every row the CSV files hold."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

from runner.wandb_records import find_run_files, read_history
from tests.helpers import TINY, folder_for, read_csv, run_cli, run_folder, start

ARGS = [*TINY, "total_steps=3000", "checkpoint_every=800", "eval_every=500"]


@pytest.fixture(scope="module")
def straight_folder(tmp_path_factory) -> Path:
    """The uninterrupted run's folder."""
    root = tmp_path_factory.mktemp("straight") / "runs"
    run_cli(*ARGS, "experiment_name=straight", "logger=disabled", run_root=root)
    return run_folder(root, "straight")


@pytest.fixture(scope="module")
def straight(straight_folder) -> list[dict]:
    """eval.csv of the uninterrupted run."""
    return read_csv(straight_folder / "eval.csv")


def without_time(rows: list[dict]) -> list[dict]:
    """train.csv rows but their wall-clock columns (rates, phase seconds, peak memory)."""
    return [{k: v for k, v in row.items() if not k.startswith(("time/", "memory/"))} for row in rows]


def wait_for(proc: subprocess.Popen, path: Path, what: str) -> None:
    deadline = time.time() + 300
    while not (path.exists() and path.stat().st_size > 0 and len(read_csv(path)) > 0):
        assert proc.poll() is None, f"run ended before {what}"
        assert time.time() < deadline, f"no {what} within 300 s"
        time.sleep(0.05)


def checkpoint_step(folder: Path) -> int:
    return torch.load(folder / "checkpoint.pt", weights_only=True)["counters"]["step"]


def test_killed_run_resumes_to_the_same_result_and_wandb_has_every_row(run_root, straight, straight_folder):
    folder = folder_for(*ARGS, "experiment_name=killed", run_root=run_root)
    proc = start(run_root, *ARGS, "experiment_name=killed")
    deadline = time.time() + 300
    while not (folder / "checkpoint.pt").exists():
        assert proc.poll() is None and time.time() < deadline, "no checkpoint"
        time.sleep(0.05)
    time.sleep(1.0)  # let it run on past the checkpoint, so the rows after it must be discarded
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    step = checkpoint_step(folder)
    assert 800 <= step < 3000

    resumed_proc = run_cli(*ARGS, "experiment_name=killed", run_root=run_root)
    assert f"resumed from step {step}" in resumed_proc.stdout
    resumed = read_csv(folder / "eval.csv")
    assert [r["step"] for r in resumed] == [r["step"] for r in straight]  # no duplicated or lost rows
    assert resumed[-1] == straight[-1]
    assert without_time(read_csv(folder / "train.csv")) == without_time(read_csv(straight_folder / "train.csv"))

    run_id = (folder / "wandb_id.txt").read_text().strip()
    run_files = find_run_files(folder)
    assert len(run_files) == 2 and all(f.name == f"run-{run_id}.wandb" for f in run_files)
    assert f"wandb sync {folder / 'wandb'}/offline-run-*" in resumed_proc.stdout  # names both starts' folders
    history = [row for path in run_files for row in read_history(path)]
    for row in resumed:
        assert any(h.get("_step") == int(row["step"]) and h.get("eval/return_mean") == float(row["return_mean"])
                   for h in history), f"W&B lacks the eval row of step {row['step']}"
    for row in read_csv(folder / "train.csv"):
        assert any(h.get("_step") == int(row["step"]) and h.get("train/updates") == int(row["updates"])
                   for h in history), f"W&B lacks the train row of step {row['step']}"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_checkpoints_stops_in_one_line_and_resumes_exactly(run_root, straight, signum):
    name = f"sig{int(signum)}"
    folder = folder_for(*ARGS, f"experiment_name={name}", run_root=run_root)
    proc = start(run_root, *ARGS, f"experiment_name={name}", "logger=disabled")
    wait_for(proc, folder / "train.csv", "a train row")
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum, err
    step = checkpoint_step(folder)
    assert err.strip().splitlines() == [
        f"{signum.name}: stopping at the next safe point (the end of this episode, or after this step when that end "
        f"is more than 60 s away) with a checkpoint; a second Ctrl-C (or {signum.name}) stops at once",
        f"stopped: {signum.name} at step {step} of 3000: checkpoint saved in {folder}; the same command resumes "
        "from it"]
    if signum == signal.SIGTERM:  # SIGINT takes the same path from here
        proc = run_cli(*ARGS, f"experiment_name={name}", "logger=disabled", run_root=run_root)
        assert f"resumed from step {step}" in proc.stdout
        assert read_csv(folder / "eval.csv") == straight


def test_second_ctrl_c_exits_at_once(run_root):
    """HalfCheetah's episodes last 1000 steps: the second signal comes long before the next episode boundary."""
    args = [*TINY, "env=halfcheetah", "total_steps=3000", "warmup_steps=100", "log_every=50", "eval_every=3000",
            "checkpoint_every=100000", "experiment_name=twice", "logger=disabled"]
    folder = folder_for(*args, run_root=run_root)
    proc = start(run_root, *args)
    wait_for(proc, folder / "train.csv", "a train row")
    proc.send_signal(signal.SIGINT)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    lines = err.strip().splitlines()  # MuJoCo's own deprecation warning about this model may come first
    assert lines[-1] == "stopped: second SIGINT, exiting at once; the next start resumes from the last checkpoint"
    assert "Traceback" not in err and not any(line.startswith("stopped") for line in lines[:-1])
    assert not list(folder.glob("checkpoint*"))

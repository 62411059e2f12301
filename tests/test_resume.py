"""A run killed half-way and started again ends exactly where an uninterrupted run ends (CPU, fixed seed)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import torch

from runner.wandb_records import find_run_files, read_history
from tests.conftest import REPO, TINY, read_csv, run_cli, run_folder

ARGS = [*TINY, "total_steps=3000", "checkpoint_every=800", "eval_every=500"]


def start_and_kill_after_first_checkpoint(run_root) -> int:
    proc = subprocess.Popen([sys.executable, "-m", "runner", *ARGS, "experiment_name=killed",
                             f"run_root={run_root}"], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, "WANDB_SILENT": "true"})
    deadline = time.time() + 300
    while not (run_folder(run_root, "killed") / "checkpoint.pt").exists():
        assert proc.poll() is None, "run ended before its first checkpoint"
        assert time.time() < deadline, "no checkpoint within 300 s"
        time.sleep(0.05)
    time.sleep(1.0)  # let it run on past the checkpoint, so the rows after it must be discarded
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    folder = run_folder(run_root, "killed")
    step = torch.load(folder / "checkpoint.pt", weights_only=True)["counters"]["step"]
    assert 800 <= step < 3000
    return step


def test_killed_run_resumes_to_the_same_result(run_root):
    run_cli(*ARGS, "experiment_name=straight", run_root=run_root)
    checkpoint_step = start_and_kill_after_first_checkpoint(run_root)
    proc = run_cli(*ARGS, "experiment_name=killed", run_root=run_root)
    assert f"resumed from step {checkpoint_step}" in proc.stdout

    straight = read_csv(run_folder(run_root, "straight") / "eval.csv")
    resumed = read_csv(run_folder(run_root, "killed") / "eval.csv")
    assert [r["step"] for r in resumed] == [r["step"] for r in straight]  # no duplicated or lost rows
    assert resumed[-1] == straight[-1]

    folder = run_folder(run_root, "killed")
    run_id = (folder / "wandb_id.txt").read_text().strip()
    run_files = find_run_files(folder)
    assert len(run_files) == 2 and all(f.name == f"run-{run_id}.wandb" for f in run_files)
    final = [row for row in read_history(run_files[-1]) if row.get("_step") == 3000 and "eval/return_mean" in row]
    assert final and final[0]["eval/return_mean"] == float(straight[-1]["return_mean"])

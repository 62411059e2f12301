"""The real CLI on InvertedPendulum-v5: files in the run folder and a W&B offline run holding the eval returns."""

from __future__ import annotations

import pytest
import torch
import wandb

from runner.wandb_records import find_run_files, read_history
from tests.helpers import TINY, read_csv, run_cli, run_folder, snapshot, train_in_process


def test_cli_writes_metrics_checkpoint_and_wandb_history(run_root):
    proc = run_cli(*TINY, "experiment_name=cli", run_root=run_root)
    folder = run_folder(run_root, "cli")
    assert f"run folder: {folder}" in proc.stdout

    evals = read_csv(folder / "eval.csv")
    assert [int(r["step"]) for r in evals] == [1000, 2000]
    assert {"return_mean", "return_std", "episodes", "eval_mode", "entropy/estimate"} <= set(evals[0])
    assert evals[0]["eval_mode"] == "mean_action" and evals[0]["episodes"] == "2"

    train = read_csv(folder / "train.csv")
    assert [int(r["updates"]) for r in train] == [250, 500, 750, 1000, 1250, 1500]
    assert {"train/critic_loss", "train/actor_loss", "train/alpha", "time/updates_per_s"} <= set(train[0])
    # each row's seconds in evaluation and checkpoints since the row before: the evaluation at step 1000 falls
    # between the rows of steps 1000 and 1250 (updates 500 and 750); a checkpoint follows the first episode end
    # past each 500 steps
    eval_s = [float(r["time/eval_s"]) for r in train]
    assert eval_s[2] > 0 and eval_s[:2] + eval_s[3:] == [0.0] * 5
    assert all(float(r["time/checkpoint_s"]) >= 0 for r in train) and sum(float(r["time/checkpoint_s"]) for r in
                                                                          train) > 0
    peaks = [float(r["memory/peak_rss_mb"]) for r in train]
    assert peaks == sorted(peaks) and peaks[0] > 100  # torch alone holds more

    state = torch.load(folder / "checkpoint.pt", weights_only=True)
    assert state["counters"]["step"] == 2000 and state["counters"]["updates"] == 1500
    assert (folder / "config.yaml").exists()

    run_files = find_run_files(folder)
    assert len(run_files) == 1
    run_id = (folder / "wandb_id.txt").read_text().strip()
    assert run_files[0].name == f"run-{run_id}.wandb"
    history = [row for row in read_history(run_files[0]) if "eval/return_mean" in row]
    assert [row["_step"] for row in history] == [1000, 2000]
    assert [row["eval/return_mean"] for row in history] == pytest.approx([float(r["return_mean"]) for r in evals])


def test_finished_run_started_again_does_nothing_more(run_root, capsys):
    args = [*TINY, "total_steps=1000", "eval_every=500", "experiment_name=again", "logger=offline"]
    assert train_in_process(*args, run_root=run_root) == (0, "")
    wandb.teardown()  # W&B's service appends to the segment's debug-core.log after finish() returns
    folder = run_folder(run_root, "again")
    before = snapshot(folder)  # checkpoints, CSV files, saved configs and the W&B segment
    capsys.readouterr()
    assert train_in_process(*args, run_root=run_root) == (0, "")
    out = capsys.readouterr().out
    assert out == (f"finished: {folder} already holds all 1000 steps; nothing was changed (restart=true trains it "
                   "again and moves the old files to .previous/)\n")
    assert snapshot(folder) == before


def test_multirun_writes_one_folder_per_seed(run_root):
    run_cli("-m", *TINY, "total_steps=1000", "experiment_name=multi", "logger=disabled", "seed=0,1",
            run_root=run_root)
    for seed in (0, 1):
        assert len(read_csv(run_folder(run_root, "multi", seed=seed) / "eval.csv")) == 1

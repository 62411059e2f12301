"""scripts.time_budget: a run's wall time per block of steps and its shares in evaluation and checkpoints, against
a train.csv whose figures are worked out by hand, and on a real run's."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts import time_budget
from tests.helpers import TINY, run_folder, train_in_process
from tests.test_validation_report import write_csv

COLUMNS = ["step", "time/env_steps_per_s", "time/eval_s", "time/checkpoint_s", "memory/peak_rss_mb"]


def test_blocks_of_hand_worked_rows(tmp_path: Path, capsys) -> None:
    # Rows every 1000 steps. The first two were written before the phase columns existed (empty cells), at
    # 100 steps/s: 10 s each. Then 50 steps/s (20 s each) with 4 s of evaluation at step 3000 and 2 s of
    # checkpoint at 4000.
    write_csv(tmp_path / "train.csv", COLUMNS, [[1000, 100, None, None, None], [2000, 100, None, None, None],
                                                [3000, 50, 4, 0, 500], [4000, 50, 0, 2, 520]])
    frame = time_budget.read_train(tmp_path)
    (b1, b2, whole) = time_budget.budgets(frame, 2000)
    assert b1[:2] == (0, 2000) and b1[2]["seconds"] == pytest.approx(20.0) and b1[2]["steps_per_s"] == 100
    assert b1[2]["timed_seconds"] == 0 and b1[2]["eval"] != b1[2]["eval"]  # NaN: nothing in it was timed
    assert b2[:2] == (2000, 4000) and b2[2]["seconds"] == pytest.approx(40.0)
    assert b2[2]["eval"] == pytest.approx(4 / 40) and b2[2]["checkpoint"] == pytest.approx(2 / 40)
    assert b2[2]["peak_host_mb"] == 520
    assert whole[:2] == (0, 4000) and whole[2]["seconds"] == pytest.approx(60.0)
    assert whole[2]["steps_per_s"] == pytest.approx(4000 / 60)
    assert whole[2]["eval"] == pytest.approx(4 / 40) and whole[2]["timed_seconds"] == pytest.approx(40.0)

    assert time_budget.main([str(tmp_path), "--block", "2000"]) == 0
    out = capsys.readouterr().out
    assert "| 0k–2k | 0.3 | 100.0 | – | – | – |" in out
    assert "| 2k–4k | 0.7 | 50.0 | 10.00% | 5.00% | 520 |" in out
    assert "| whole run | 1.0 | 66.7 | 10.00% (of 1 min) | 5.00% (of 1 min) | 520 |" in out


def test_a_folder_without_train_rows_is_one_line(tmp_path: Path, capsys) -> None:
    assert time_budget.main([str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path} has no train.csv; pass a run folder (…/<algo>/seed<n>)\n"


def test_a_real_run_accounts_for_its_evaluations(run_root: Path) -> None:
    """TINY evaluates at step 1000, between the rows of steps 1000 and 1250, and checkpoints after every 500."""
    assert train_in_process(*TINY, "experiment_name=budget", "logger=disabled", run_root=run_root) == (0, "")
    (block, _, whole) = time_budget.budgets(time_budget.read_train(run_folder(run_root, "budget")), 1000)[-3:]
    assert block[2]["eval"] == 0  # steps 750-1000: no evaluation yet
    assert 0 < whole[2]["eval"] < 1 and 0 < whole[2]["checkpoint"] < 1 and whole[2]["peak_host_mb"] > 100
    assert whole[2]["timed_seconds"] == pytest.approx(whole[2]["seconds"])

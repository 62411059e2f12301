"""scripts.sweep_cost: the preset's grid with the command line's overrides, the projection's arithmetic on a
known measurement, and the real command on a tiny sweep."""

from __future__ import annotations

import subprocess
import sys

import pytest
from omegaconf import OmegaConf

from scripts.sweep_cost import composed, project, sweep_grid
from tests.helpers import REPO


def test_grid_is_the_presets_with_the_command_line_taking_its_keys():
    cells, seeds = sweep_grid(["experiment=smoke"])
    assert seeds == ["0", "1"] and len({frozenset(cell) for cell in cells}) == 8
    assert {"experiment=smoke", "algo=sac_ar_dae", "env=inverted_double_pendulum"} in map(set, cells)
    cells, seeds = sweep_grid(["experiment=smoke", "env=hopper", "algo=sac_gaussian,sac_nf", "seed=0,1,2"])
    assert seeds == ["0", "1", "2"]
    assert list(map(set, cells)) == [{"experiment=smoke", "algo=sac_gaussian", "env=hopper"},
                                     {"experiment=smoke", "algo=sac_nf", "env=hopper"}]


def test_projection_of_a_known_measurement():
    cfg = composed(["env=hopper", "total_steps=100000", "warmup_steps=1000", "eval_every=10000", "eval_episodes=10",
                    "checkpoint_every=10000", "buffer_size=1000000", "log_every=1000"])
    m = {"updates_per_s": 99.0, "eval_step_s": 0.001, "diagnostics_s": 2.0, "networks_save_s": 0.5,
         "networks_bytes": 4e6, "chunk_write_s": 0.1, "width": 27, "csv_row_bytes": {"eval.csv": 100.0,
         "train.csv": 300.0}, "peak_rss": 1e9, "peak_device": 0, "episode_steps": 1000}
    launcher = OmegaConf.create({"timeout_min": 10, "signal_delay_s": 120, "max_num_timeout": 3})
    p = project(cfg, m, 1, 1.0, launcher)
    # 99k updates at 99/s, 1k warm-up steps and 10 evaluations of 10 x 1000 steps at 1 ms, 10 diagnostics,
    # 11 checkpoints of 0.6 s
    seconds = 1000 + 1 + 10 * (10 + 2) + 11 * 0.6
    assert p["hours"] == pytest.approx(seconds / 3600)
    assert (p["requeues"], p["fits"], p["timeout_min"]) == (2, True, 10)  # 18.8 minutes, 8 usable a job: 3 jobs
    assert not project(cfg, m, 1, 1.0, OmegaConf.merge(launcher, {"max_num_timeout": 1}))["fits"]
    assert p["host_gb"] == pytest.approx((1e9 + 100000 * 27 * 4) / 1e9) and p["mem_gb"] == 2 and p["gpus"] == 0
    rows = 10 * 100 + 99 * 300
    assert p["disk_gb"] == pytest.approx(((100000 + 20000) * 27 * 4 + 8e6 + rows) / 1e9)
    group = project(cfg, {**m, "peak_device": 5e8}, 3, 1.0, launcher)
    assert group["device_gb"] == pytest.approx((5e8 + 3 * 100000 * 27 * 4) / 1e9) and group["gpus"] == 1


def test_command_measures_a_tiny_sweep_for_single_seeds_and_groups():
    proc = subprocess.run([sys.executable, "-m", "scripts.sweep_cost", "experiment=smoke", "env=inverted_pendulum",
                           "algo=sac_gaussian", "torch_threads=1", "total_steps=200000", "--updates", "20",
                           "--warmup", "100"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [line.split("|") for line in proc.stdout.splitlines() if line.startswith("| sac_gaussian/")]
    assert [cells[2].strip() for cells in rows] == ["1", "2"]  # one seed a job, then the two seeds as a group
    # 200k steps: device-hours and disk well above the table's 0.01 rounding on any machine
    assert all(float(cells[4]) > 0 and float(cells[7]) > 0 for cells in rows)
    assert "sweep, 1 seed(s) a job: 2 jobs" in proc.stdout and "sweep, 2 seed(s) a job: 1 jobs" in proc.stdout


def test_bad_override_is_one_line():
    proc = subprocess.run([sys.executable, "-m", "scripts.sweep_cost", "experiment=smoke", "env=nosuchtask"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1, proc.stderr

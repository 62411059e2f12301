"""Local multiruns through the real CLI: variants in distinct folders, a second start resumes every job, a refused
job fails alone, and one owner per run folder."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
from pathlib import Path

from runner.sweep_report import Outcome, summary
from scripts import tables
from tests.helpers import REPO, TINY, read_csv, run_cli, run_folder

# Four jobs of the flow policy: K = 1, 2 Euler steps, each with the VI bound (noise 0.1) and the exact log-det
# (noise 0). Short enough for the fast suite: every job evaluates once after its updates.
SHORT = ["total_steps=600", "warmup_steps=300", "eval_every=600", "eval_episodes=1", "progress=false",
         "diagnostics.num_samples=16", "torch_threads=1", "logger=disabled"]


def labels(run_root: Path, experiment: str, env: str = "inverted_pendulum") -> list[str]:
    return sorted(p.name for p in (run_root / experiment / env).iterdir())


def test_variant_sweep_gets_distinct_folders_and_resumes_on_a_second_start(run_root):
    sweep = ["-m", "algo=sac_flow_vi", "algo.policy.steps=1,2", "ablation=flow_vi_bound,flow_exact",
             "experiment_name=variants", *SHORT]
    first = run_cli(*sweep, run_root=run_root)
    assert "sweep: 4 jobs: 4 finished, 0 refused, 0 failed" in first.stderr
    found = labels(run_root, "variants")
    assert len(found) == 4, found
    assert [f.rsplit("-v", 1)[0] for f in found] == ["sac_flow_vi+exact-steps1-noise_std0",
                                                 "sac_flow_vi+exact-steps2-noise_std0",
                                                 "sac_flow_vi-steps1", "sac_flow_vi-steps2"]
    rows = {f: read_csv(run_root / "variants" / "inverted_pendulum" / f / "seed0" / "eval.csv") for f in found}
    assert all([int(r["step"]) for r in r_] == [600] for r_ in rows.values())

    second = run_cli(*sweep, run_root=run_root)
    assert "sweep: 4 jobs: 0 finished, 0 refused, 0 failed, 4 already finished" in second.stderr
    assert labels(run_root, "variants") == found
    for f in found:
        assert read_csv(run_root / "variants" / "inverted_pendulum" / f / "seed0" / "eval.csv") == rows[f]


def test_a_refused_job_fails_alone(run_root):
    proc = run_cli("-m", "algo=sac_flow_vi", "entropy=exact,vi_bound", "experiment_name=refused", *SHORT,
                   run_root=run_root, check=False)
    assert proc.returncode == 1
    assert "sweep: 2 jobs: 1 finished, 1 refused, 0 failed" in proc.stderr
    assert "  refused: entropy=exact: entropy=exact does not fit algo=sac_flow_vi" in proc.stderr
    assert "Traceback" not in proc.stderr
    (only,) = labels(run_root, "refused")            # the refused job left no folder behind
    assert only.startswith("sac_flow_vi-v")
    assert len(read_csv(run_root / "refused" / "inverted_pendulum" / only / "seed0" / "eval.csv")) == 1


def test_two_identical_commands_one_trains(run_root):
    command = [sys.executable, "-m", "runner", *TINY, "total_steps=1000", "warmup_steps=500", "eval_every=500",
               "experiment_name=twice", "logger=disabled", f"run_root={run_root}"]
    env = {**os.environ, "HYDRA_FULL_ERROR": "0"}
    procs = [subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    started = time.monotonic()
    ends = {}
    while len(ends) < 2:
        for i, proc in enumerate(procs):
            if i not in ends and proc.poll() is not None:
                ends[i] = time.monotonic() - started
        time.sleep(0.05)
    outputs = [proc.communicate() for proc in procs]
    codes = sorted(proc.returncode for proc in procs)
    assert codes == [0, 2], outputs
    loser = [i for i, proc in enumerate(procs) if proc.returncode == 2][0]
    winner = 1 - loser
    err = outputs[loser][1].strip()
    folder = run_folder(run_root, "twice")
    assert err == f"error: {folder} is in use by pid {procs[winner].pid} on {os.uname().nodename}; " \
                  "wait for that run to end or stop it"
    assert ends[loser] < ends[winner]
    steps = [int(r["step"]) for r in read_csv(folder / "eval.csv")]
    assert steps == [500, 1000]


def test_tables_of_a_tiny_paper_table3_sweep_have_the_without_jc_column(run_root, capsys):
    run_cli("experiment=paper_table3", "env=inverted_pendulum", "algo=sac_ar_dae,sac_ar_dae_no_jc", "seed=0,1",
            "total_steps=300", "warmup_steps=200", "eval_every=50", "eval_episodes=1", "progress=false",
            "diagnostics.num_samples=16", "torch_threads=1", "logger=disabled", run_root=run_root)
    sweep = run_root / "paper_table3"
    assert labels(run_root, "paper_table3").__len__() == 2
    # By hand from the raw files: per seed the max and the mean of return_mean, then mean and population std.
    by_hand = {}
    for label in ("sac_ar_dae", "sac_ar_dae-jc-off"):
        per_seed_max, per_seed_mean = [], []
        for seed in (0, 1):
            folders = list((sweep / "inverted_pendulum").glob(f"{label}-v????????/seed{seed}"))
            assert len(folders) == 1, folders
            with (folders[0] / "eval.csv").open(newline="") as f:
                returns = [float(r["return_mean"]) for r in csv.DictReader(f)]
            assert len(returns) == 6
            per_seed_max.append(max(returns))
            per_seed_mean.append(sum(returns) / len(returns))
        by_hand[label] = [(sum(v) / 2, abs(v[0] - v[1]) / 2) for v in (per_seed_max, per_seed_mean)]

    best, normalized = tables.measured_tables(tables.find_runs(sweep))
    for table, index in ((best, 0), (normalized, 1)):
        by_label = {algo: cell for (_, algo), cell in table.cells.items()}
        assert len(by_label) == 2
        assert set(by_label) == {"sac_ar_dae", "sac_ar_dae-jc-off"}
        for algo, cell in by_label.items():
            mean, std = by_hand[algo][index]
            assert (round(cell.mean, 9), round(cell.std, 9), cell.n_seeds) == (round(mean, 9), round(std, 9), 2)
    assert tables.main([str(sweep), "--decimals", "1"]) == 0
    text = capsys.readouterr().out
    assert "| Task | SAC-AR-DAE | SAC-AR-DAE (w/o jc) |" in text


def test_the_summary_counts_a_resumed_run_as_finished_and_names_the_failures():
    outcomes = [Outcome("finished", overrides=["seed=0", "env=hopper"]),
                Outcome("resumed", overrides=["seed=1", "env=hopper"]),
                Outcome("failed", "Diverged: loss is nan", overrides=["seed=2", "env=hopper"])]
    assert summary(outcomes).splitlines() == [
        "sweep: 3 jobs: 2 finished (1 of them resumed from a checkpoint), 0 refused, 1 failed",
        "  failed: seed=2: Diverged: loss is nan"]
    assert summary([Outcome("resumed")]) == \
        "sweep: 1 job: 1 finished (1 of them resumed from a checkpoint), 0 refused, 0 failed"

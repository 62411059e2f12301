"""Slow learning checks (make test-slow): each algorithm balances InvertedPendulum-v5 within 15k steps, as three
single-seed runs and as one group of three seeds."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helpers import REPO, read_csv, run_folder

ALGOS = ["sac_gaussian", "sac_nf", "sac_flow_vi", "sac_ar_dae"]
SEEDS = [0, 1, 2]
TARGET = 900.0


ARGS = ["env=inverted_pendulum", "total_steps=15000", "eval_every=1000", "eval_episodes=5", "logger=disabled",
        "progress=false", "torch_threads=1", "experiment_name=learning"]


def best_returns(algo: str, run_root) -> dict[int, float]:
    """Each seed's best mean eval return."""
    best = {}
    for seed in SEEDS:
        rows = read_csv(run_folder(run_root, "learning", algo=algo, seed=seed) / "eval.csv")
        best[seed] = max(float(r["return_mean"]) for r in rows)
    return best


def train(run_root, *commands: list[str]) -> None:
    """The commands at once, one thread each."""
    procs = [subprocess.Popen([sys.executable, "-m", "runner", *ARGS, *args, f"run_root={run_root}"], cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for args in commands]
    for proc in procs:
        output, _ = proc.communicate(timeout=3600)
        assert proc.returncode == 0, output[-3000:]


@pytest.mark.slow
@pytest.mark.parametrize("algo", ALGOS)
def test_reaches_900_on_inverted_pendulum_for_two_of_three_seeds(algo, run_root):
    train(run_root, *([f"algo={algo}", f"seed={seed}"] for seed in SEEDS))
    best = best_returns(algo, run_root)
    print(f"{algo}: best mean eval return per seed {best}")
    assert sum(v >= TARGET for v in best.values()) >= 2, best


@pytest.mark.slow
@pytest.mark.parametrize("algo", ALGOS)
def test_a_group_of_three_seeds_reaches_900_for_two_of_them(algo, run_root):
    """The same check with the three seeds trained as one group (seeds=[0,1,2]) in one process."""
    train(run_root, [f"algo={algo}", f"seeds={SEEDS}".replace(" ", "")])
    best = best_returns(algo, run_root)
    print(f"{algo} as a group: best mean eval return per seed {best}")
    assert sum(v >= TARGET for v in best.values()) >= 2, best

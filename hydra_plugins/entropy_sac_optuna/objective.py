"""A trial's score, read from its run folders' own eval.csv after the job, so the folder of the best trial holds
the score the study reports and anyone can recompute it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from scripts.sweep_results import EVAL_FILE, read_curve

STATISTICS = ("last_k_mean", "max_average")


class ObjectiveError(ValueError):
    """A score that cannot be computed: a bad objective setting, or a run folder without evaluations."""


def check_objective(statistic: str, last_k: int) -> None:
    if statistic not in STATISTICS:
        raise ObjectiveError(f"hydra.sweeper.objective.statistic={statistic}: use one of {', '.join(STATISTICS)}")
    if statistic == "last_k_mean" and (not isinstance(last_k, int) or last_k < 1):
        raise ObjectiveError(f"hydra.sweeper.objective.last_k={last_k}: a whole number of evaluations, 1 or more")


def run_score(folder: Path, statistic: str, last_k: int) -> float:
    """One run's score from its eval.csv: the mean return_mean of its last `last_k` evaluations (last_k_mean), or
    its largest return_mean (max_average, the maximum average return of Lim et al. 2020's Table 1)."""
    path = Path(folder) / EVAL_FILE
    if not path.exists():
        raise ObjectiveError(f"{path} does not exist")
    returns = read_curve(path)["return_mean"].to_numpy(float)
    if returns.size == 0:
        raise ObjectiveError(f"{path} has no evaluation")
    return float(returns[-last_k:].mean() if statistic == "last_k_mean" else returns.max())


def seed_folders(run_dir: Path, seeds) -> list[Path]:
    """The folders a job trained in: the seed folders of its group when it had `seeds=[...]`, else its own."""
    return [Path(run_dir)] if seeds is None else [Path(run_dir) / f"seed{int(s)}" for s in seeds]


def trial_score(run_dir: Path, seeds, statistic: str, last_k: int) -> tuple[float, list[float]]:
    """(mean over the job's seeds, each seed's score)."""
    scores = [run_score(folder, statistic, last_k) for folder in seed_folders(run_dir, seeds)]
    return float(np.mean(scores)), scores

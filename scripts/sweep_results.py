"""Finds the finished and running runs of a sweep folder and reads their evaluation curves (eval.csv)."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
from omegaconf import OmegaConf

from runner.errors import RunError
from runner.identity import read_identity

EVAL_FILE = "eval.csv"
CONFIG_FILE = "config.yaml"
SEED_FOLDER = re.compile(r"seed(\d+)$")
SHARED_DIGEST = re.compile(r"-(v[0-9a-f]{8})$")

# Paper order first (Table 1's rows and columns); anything else follows alphabetically.
TASK_ORDER = ["halfcheetah", "ant", "hopper", "walker2d", "humanoid", "humanoid_rllab"]
# Runs are keyed by their folder label (runner/identity.py): the algorithm, `+estimator` when not its default, and
# `-variant` for any other changed key, e.g. sac_ar_dae-jc-off, sac_flow_vi+exact-noise_std0, sac_flow_vi-steps1.
ALGO_ORDER = ["sac_gaussian", "sac_nf", "sac_ar_dae", "sac_ar_dae-jc-off", "sac_flow_vi", "sb3_sac"]
ALGO_LABELS = {"sac_gaussian": "SAC", "sac_nf": "SAC-NF", "sac_ar_dae": "SAC-AR-DAE",
               "sac_ar_dae-jc-off": "SAC-AR-DAE (w/o jc)", "sac_flow_vi": "SAC-Flow-VI",
               "sb3_sac": "SB3 SAC"}


class SweepError(Exception):
    """A sweep folder the scripts cannot read; the message says what to pass instead."""


def print_written(write: Callable[[], list[Path]], errors: tuple[type[Exception], ...] = (SweepError,)) -> int:
    """A report command's ending: run `write`, print each file it wrote and return 0, or print its error in one
    line and return 1."""
    try:
        paths = write()
    except errors as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for path in paths:
        print(path)
    return 0


@dataclass(frozen=True)
class Run:
    """One seed of one algorithm variant on one task: its evaluation curve (steps ascending, one row per step)."""
    task: str
    algo: str               # the folder label: algorithm, estimator and variant
    seed: int
    folder: Path
    curve: pd.DataFrame  # columns: step, return_mean
    total_steps: int | None = None  # the budget its config.yaml names; None for a folder without one

    @property
    def last_step(self) -> int:
        return int(self.curve["step"].iloc[-1])

    @property
    def finished(self) -> bool:
        """Evaluated at its last step; a run without a saved budget counts as finished (nothing says otherwise)."""
        return self.total_steps is None or self.last_step >= self.total_steps

    @property
    def name(self) -> str:
        return f"{self.task}/{self.algo}/seed{self.seed}"


def _identity(folder: Path, sweep_dir: Path) -> tuple[str, str, int]:
    """(task, label, seed) from the run's identity.yaml, else its saved config, else <env>/<label>/seed<n>."""
    try:
        identity = read_identity(folder)
    except RunError as err:  # a damaged identity.yaml: its own line, not a column of its own
        raise SweepError(str(err)) from None
    if identity is not None:
        try:
            return identity["task"], identity["label"], int(identity["seed"])
        except (KeyError, TypeError, ValueError) as err:
            raise SweepError(f"{folder / 'identity.yaml'} is damaged (no usable {err}); start the run again to "
                             "write it anew (the same command resumes it), or delete it") from None
    config_path = folder / CONFIG_FILE
    if config_path.exists():
        config = OmegaConf.to_container(OmegaConf.load(config_path))
        try:
            return config["env"]["name"], config["algo"]["name"], int(config["seed"])
        except (KeyError, TypeError):
            pass  # an older or foreign config: fall back to the folder names
    parts = folder.relative_to(sweep_dir).parts
    match = SEED_FOLDER.match(parts[-1]) if parts else None
    if len(parts) < 3 or match is None:
        raise SweepError(f"{folder}: expected <env>/<algo>/seed<n> (or a config.yaml naming env, algo and seed)")
    return parts[-3], parts[-2], int(match.group(1))


def saved_budget(folder: Path) -> int | None:
    """total_steps of the run's saved config.yaml, or None when there is none to read."""
    path = folder / CONFIG_FILE
    if not path.exists():
        return None
    value = OmegaConf.to_container(OmegaConf.load(path)).get("total_steps")
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def unfinished_note(runs: list[Run], counted: bool, flag: str) -> str | None:
    """One line naming every unfinished run and its last evaluated step, and whether it is counted."""
    unfinished = [run for run in runs if not run.finished]
    if not unfinished:
        return None
    what = f"counted ({flag})" if counted else f"left out ({flag} counts them)"
    listed = ", ".join(f"{run.name} at step {run.last_step} of {run.total_steps}" for run in unfinished)
    return f"note: {len(unfinished)} unfinished run(s), {what}: {listed}"


def read_curve(path: Path, columns: tuple[str, ...] = ("step", "return_mean")) -> pd.DataFrame:
    """`columns` (step first), one row per step: a resumed run's repeated steps keep their last row."""
    frame = pd.read_csv(path, usecols=list(columns))[list(columns)]
    frame = frame.drop_duplicates("step", keep="last").sort_values("step")
    return frame.reset_index(drop=True)


def find_runs(sweep_dir: str | Path) -> list[Run]:
    """Every run under `sweep_dir` with at least one evaluation. Raises SweepError if there is none."""
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise SweepError(f"{sweep_dir} is not a folder")
    runs, seen = [], {}
    for eval_path in sorted(sweep_dir.rglob(EVAL_FILE)):
        if any(part.startswith(".") for part in eval_path.relative_to(sweep_dir).parts):
            continue  # .submitit/, .hydra/: never run folders
        task, algo, seed = _identity(eval_path.parent, sweep_dir)
        key = (task, algo, seed)
        if key in seen:
            raise SweepError(f"two runs of {task}/{algo}/seed{seed}: {seen[key]} and {eval_path.parent}; "
                             "pass one experiment's folder (runs/<experiment_name>)")
        seen[key] = eval_path.parent
        curve = read_curve(eval_path)
        if curve.empty:
            print(f"note: {eval_path} has no evaluation yet; skipped", file=sys.stderr)
            continue
        runs.append(Run(task, algo, seed, eval_path.parent, curve, saved_budget(eval_path.parent)))
    if not runs:
        raise SweepError(f"no {EVAL_FILE} with evaluations under {sweep_dir} "
                         f"(expected <env>/<algo>/seed<n>/{EVAL_FILE}, e.g. runs/<experiment_name>)")
    return without_shared_digest(runs)


def without_shared_digest(runs: list[Run]) -> list[Run]:
    """Drops a `-v<digest>` that ends every run's label: the changes it stands for (a smaller budget, say) are
    common to the whole sweep and say nothing about one column, so `sac_ar_dae-jc-off-v1a2b3c4d` reads as
    `sac_ar_dae-jc-off`, the paper's w/o-jc column."""
    digests = {match.group(1) if (match := SHARED_DIGEST.search(run.algo)) else None for run in runs}
    if len(digests) != 1 or None in digests:
        return runs
    (digest,) = digests
    print(f"note: every run shares the changes named {digest} (listed in each run's identity.yaml); "
          "left out of the labels", file=sys.stderr)
    return [replace(run, algo=run.algo[:-len(digest) - 1]) for run in runs]


def ordered(names, order: list[str]) -> list[str]:
    """Names in the paper's order, then the rest alphabetically."""
    names = set(names)
    return [n for n in order if n in names] + sorted(names - set(order))


def group_runs(runs: list[Run]) -> dict[tuple[str, str], list[Run]]:
    """Runs keyed by (task, algo), seeds ascending."""
    groups: dict[tuple[str, str], list[Run]] = {}
    for run in sorted(runs, key=lambda r: r.seed):
        groups.setdefault((run.task, run.algo), []).append(run)
    return groups


def algo_label(label: str) -> str:
    """A readable column or curve name: `SAC-Flow-VI [exact] (noise_std0)` for sac_flow_vi+exact-noise_std0."""
    if label in ALGO_LABELS:
        return ALGO_LABELS[label]
    match = re.fullmatch(r"([^+-]+)(?:\+([^-]+))?(?:-(.+))?", label)
    if match is None:
        return label
    algo, estimator, variant = match.groups()
    text = ALGO_LABELS.get(algo, algo)
    if estimator:
        text += f" [{estimator}]"
    return text + (f" ({variant})" if variant else "")

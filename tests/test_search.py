"""The Optuna sweeper (hydra_plugins/entropy_sac_optuna): search spaces read from Hydra's sweep syntax, a trial's
score from its run folders, and a tiny real search that is killed mid-trial and resumed."""

from __future__ import annotations

import csv
import signal
import time
from pathlib import Path

import optuna
import pytest
import yaml
from hydra import compose, initialize_config_dir
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from hydra_plugins.entropy_sac_optuna.objective import check_objective, run_score, trial_score
from hydra_plugins.entropy_sac_optuna.search_space import parse_space
from tests.helpers import REPO, run_cli, start

optuna.logging.set_verbosity(optuna.logging.WARNING)

# Three trials of two seeds on InvertedPendulum-v5, a few hundred steps each: seconds per trial.
TINY_SEARCH = ["-m", "search=sac_gaussian", "seeds=[0,1]", "total_steps=600", "warmup_steps=200", "eval_every=200",
               "eval_episodes=1", "checkpoint_every=200", "diagnostics.num_samples=16", "torch_threads=1",
               "logger=disabled", "progress=false", "video_every=0", "experiment_name=tiny_search",
               "hydra.sweeper.n_trials=3", "hydra.sweeper.objective.last_k=2"]


def space_of(*entries: str):
    """parse_space against the composed config, as the sweeper calls it."""
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        config = compose("config", overrides=["hydra/sweeper=optuna", "algo=sac_ar_dae"], return_hydra_config=True)
    return parse_space(config, list(entries))


def test_sweep_syntax_becomes_optuna_distributions():
    space, fixed = space_of("sac.alpha=tag(log, interval(0.01, 0.5))", "entropy.num_actions=tag(int, interval(4, 32))",
                            "entropy.num_sigmas=range(1, 5)", "sac.critic_update=choice(joint, sequential)",
                            "total_steps=500")
    assert space["sac.alpha"] == FloatDistribution(0.01, 0.5, log=True)
    assert space["entropy.num_actions"] == IntDistribution(4, 32)
    assert space["entropy.num_sigmas"] == IntDistribution(1, 4)
    assert space["sac.critic_update"] == CategoricalDistribution(["joint", "sequential"])
    assert fixed == ["total_steps=500"]


@pytest.mark.parametrize("preset, keys", [("sac_gaussian", ["sac.alpha", "sac.lr"]),
                                          ("sac_ar_dae", ["entropy.lr", "entropy.num_actions", "algo.policy.eta"])])
def test_each_search_preset_names_keys_its_algorithm_has(preset, keys):
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        config = compose("config", overrides=[f"search={preset}"], return_hydra_config=True)
    assert config.hydra.sweeper._target_.endswith("OptunaSweeper") and list(config.seeds) == [0, 1, 2]
    entries = [f"{key}={value}" for key, value in config.hydra.sweeper.params.items()]
    space, fixed = parse_space(config, entries)
    assert sorted(space) == sorted(keys) and fixed == []


@pytest.mark.parametrize("entry, says", [
    ("sac.alpha=interval(0.5, 0.01)", "sac.alpha:"),
    ("sac.alpha=tag(log, interval(0, 0.5))", "sac.alpha:"),
    ("sac.alhpa=interval(0.01, 0.5)", "sac.alhpa: no such key"),
    ("sac.alpha=tag(cube, interval(0.01, 0.5))", "unknown tag"),
    ("total_steps=500", "nothing to search"),
])
def test_a_bad_search_space_is_refused_with_its_key(entry, says):
    # ValueError, the base of SearchSpaceError: Hydra's plugin scan re-imports the module, so the class the test
    # imported and the one raised may be two objects of one name
    with pytest.raises(ValueError, match=says):
        space_of(entry)


def write_eval(folder: Path, returns: list[float]) -> None:
    folder.mkdir(parents=True)
    with open(folder / "eval.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["step", "return_mean"])
        writer.writerows([(100 * (i + 1), r) for i, r in enumerate(returns)])


def test_a_trials_score_is_the_seed_mean_of_each_seeds_statistic(tmp_path):
    write_eval(tmp_path / "seed0", [10, 50, 30, 40])
    write_eval(tmp_path / "seed1", [20, 90, 60, 80])
    assert run_score(tmp_path / "seed0", "last_k_mean", 2) == 35.0
    assert run_score(tmp_path / "seed0", "max_average", 2) == 50.0
    assert trial_score(tmp_path, [0, 1], "last_k_mean", 2) == (52.5, [35.0, 70.0])
    assert trial_score(tmp_path / "seed1", None, "max_average", 1) == (90.0, [90.0])
    with pytest.raises(ValueError, match="seed2"):
        trial_score(tmp_path, [0, 2], "last_k_mean", 1)
    with pytest.raises(ValueError, match="median"):
        check_objective("median", 1)


def last_k_mean(eval_csv: Path, k: int) -> float:
    """The score recomputed independently of the sweeper: the last k return_mean of the file."""
    with open(eval_csv) as f:
        returns = [float(row["return_mean"]) for row in csv.DictReader(f)]
    return sum(returns[-k:]) / k


def wait_for(condition, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_a_tiny_search_is_killed_resumes_and_its_best_folder_holds_its_score(run_root):
    sweep_dir = run_root / "tiny_search"
    storage = f"sqlite:///{sweep_dir / 'optuna.db'}"

    def trials():
        if not (sweep_dir / "optuna.db").exists():
            return []
        try:
            return optuna.load_study(study_name="tiny_search", storage=storage).get_trials()
        except KeyError:  # the file is there, the study not yet
            return []

    proc = start(run_root, *TINY_SEARCH)
    try:
        running = wait_for(lambda: [t for t in trials() if t.number == 1 and t.state == TrialState.RUNNING])
        first_dir = Path(trials()[0].user_attrs["run_dir"])
        wait_for(lambda: [p for p in (sweep_dir / "inverted_pendulum").glob("*/seed1/checkpoint.pt")
                          if p.parents[1] != first_dir and (p.parents[1] / "seed0" / "checkpoint.pt").exists()])
        # trial 1's seeds have saved checkpoints
        assert running[0].state == TrialState.RUNNING
        proc.send_signal(signal.SIGKILL)  # the hardest stop: no handler runs, the trial stays RUNNING in the study
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    killed = optuna.load_study(study_name="tiny_search", storage=storage).get_trials()
    assert [t.state for t in killed] == [TrialState.COMPLETE, TrialState.RUNNING]

    resumed = run_cli(*TINY_SEARCH, run_root=run_root)
    assert "search: trial 1 was running when the search stopped; queued again" in resumed.stderr
    assert "(1 of them resumed from a checkpoint)" in resumed.stderr
    trials = optuna.load_study(study_name="tiny_search", storage=storage).get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.FAIL, TrialState.COMPLETE,
                                         TrialState.COMPLETE]
    assert trials[1].user_attrs["interrupted"] and trials[2].params == trials[1].params
    folders = [Path(t.user_attrs["run_dir"]) for t in trials if t.state == TrialState.COMPLETE]
    assert len(set(folders)) == 3  # each trial trained in its own folder

    study = optuna.load_study(study_name="tiny_search", storage=storage)
    best_dir = Path(study.best_trial.user_attrs["run_dir"])
    recomputed = [last_k_mean(best_dir / f"seed{s}" / "eval.csv", 2) for s in (0, 1)]
    assert study.best_value == pytest.approx(sum(recomputed) / 2)
    best = yaml.safe_load((sweep_dir / "optuna_best.yaml").read_text())
    assert best["score"] == pytest.approx(study.best_value) and Path(best["run_dir"]) == best_dir
    assert best["params"] == study.best_params
    assert f"search: best trial {study.best_trial.number}: score {study.best_value:.1f}" in resumed.stderr

    again = run_cli(*TINY_SEARCH, run_root=run_root)  # a finished search: nothing more is launched
    assert "holds 3 scored trial(s) of 3" in again.stderr
    assert len(optuna.load_study(study_name="tiny_search", storage=storage).get_trials()) == 4


@pytest.mark.parametrize("override, says", [
    ("sac.alpha=interval(0.5,0.01)", "error: search space: sac.alpha: "),
    ("hydra.sweeper.objective.statistic=median", "error: hydra.sweeper.objective.statistic=median: use one of"),
])
def test_a_bad_search_gives_one_line_and_exit_2(run_root, override, says):
    proc = run_cli(*TINY_SEARCH, override, run_root=run_root, check=False)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(says), proc.stderr
    assert not (run_root / "tiny_search" / "optuna.db").exists()

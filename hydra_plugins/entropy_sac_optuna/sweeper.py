"""An Optuna search as a Hydra sweeper: each trial is one job of the configured launcher (local, submitit, SLURM),
scored from its run folders' eval.csv after it ends, the study kept in SQLite in the sweep folder so that the same
command resumes a killed search. Ours, not hydra-optuna-sweeper: that plugin caps optuna below 3.0 (which does
not work with SQLAlchemy 2 and numpy 2 that we pin) and wants the task function to return the score, where ours
returns the job's outcome (runner/sweep_report.py). docs/tuning.md."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import optuna
import yaml
from hydra.core.utils import JobStatus
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf
from optuna.trial import TrialState

from hydra_plugins.entropy_sac_optuna.objective import ObjectiveError, check_objective, trial_score
from hydra_plugins.entropy_sac_optuna.search_space import SearchSpaceError, override_text, parse_space

STUDY_FILE = "optuna.db"
BEST_FILE = "optuna_best.yaml"
SCORED = ("finished", "resumed", "already finished")  # outcomes whose run folders hold a whole run
SAMPLERS = {"tpe": optuna.samplers.TPESampler, "random": optuna.samplers.RandomSampler}
INTERRUPTED = "interrupted"  # user attribute of a trial whose search was killed while it ran; not counted


def refuse(message: str) -> None:
    """Bad input to the search: one line and exit 2, before any job starts."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(2)


class OptunaSweeper(Sweeper):
    """Configured by conf/hydra/sweeper/optuna.yaml, where every key is documented."""

    def __init__(self, params: dict | None, n_trials: int, n_jobs: int, sampler: str, seed: int | None,
                 direction: str, study_name: str | None, storage: str | None, objective: dict) -> None:
        super().__init__()
        self.params = dict(params or {})
        self.n_trials, self.n_jobs, self.sampler, self.seed = n_trials, n_jobs, sampler, seed
        self.direction, self.study_name, self.storage = direction, study_name, storage
        self.statistic, self.last_k = objective["statistic"], objective["last_k"]
        self.config: DictConfig | None = None
        self.launcher = None
        self.hydra_context: HydraContext | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        from hydra.core.plugins import Plugins

        self.hydra_context, self.config = hydra_context, config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config)

    def check_settings(self) -> None:
        if not isinstance(self.n_trials, int) or self.n_trials < 1:
            refuse(f"hydra.sweeper.n_trials={self.n_trials}: a whole number of trials, 1 or more")
        if not isinstance(self.n_jobs, int) or self.n_jobs < 1:
            refuse(f"hydra.sweeper.n_jobs={self.n_jobs}: a whole number of jobs at once, 1 or more")
        if self.sampler not in SAMPLERS:
            refuse(f"hydra.sweeper.sampler={self.sampler}: use one of {', '.join(SAMPLERS)}")
        if self.direction not in ("maximize", "minimize"):
            refuse(f"hydra.sweeper.direction={self.direction}: use maximize or minimize")
        try:
            check_objective(self.statistic, self.last_k)
        except ObjectiveError as err:
            refuse(str(err))

    def open_study(self, sweep_dir: Path) -> optuna.Study:
        """Creates the study, or loads the one a killed search left; a trial that search left running is
        queued again with its parameters, so its job resumes in the same run folder from its checkpoint."""
        sweep_dir.mkdir(parents=True, exist_ok=True)
        storage = optuna.storages.RDBStorage(self.storage or f"sqlite:///{(sweep_dir / STUDY_FILE).resolve()}")
        name = self.study_name or str(self.config.experiment_name)
        study = optuna.create_study(storage=storage, study_name=name, direction=self.direction, load_if_exists=True)
        # seeded past the trials already asked: a resumed search with the seed it began with would propose the
        # first search's trials again
        seed = None if self.seed is None else self.seed + len(study.get_trials(deepcopy=False))
        study.sampler = SAMPLERS[self.sampler](seed=seed)
        study_id = storage.get_study_id_from_name(name)
        for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
            storage.set_trial_user_attr(trial_id, INTERRUPTED, True)
            storage.set_trial_state_values(trial_id, TrialState.FAIL)
            study.enqueue_trial(trial.params, skip_if_exists=False)
            print(f"search: trial {trial.number} was running when the search stopped; queued again "
                  "(its run folder resumes from its checkpoint)", file=sys.stderr, flush=True)
        return study

    @staticmethod
    def counted(study: optuna.Study) -> int:
        """Trials that ended on their own (scored or failed); interrupted ones do not count toward n_trials."""
        return sum(t.state == TrialState.COMPLETE or (t.state == TrialState.FAIL and not t.user_attrs.get(INTERRUPTED))
                   for t in study.get_trials(deepcopy=False))

    def sweep(self, arguments: list[str]) -> Any:
        self.check_settings()
        entries = [f"{key}={value}" for key, value in self.params.items()] + list(arguments)
        try:
            space, fixed = parse_space(self.config, entries, self.hydra_context.config_loader)
        except SearchSpaceError as err:
            refuse(f"search space: {err}")
        sweep_dir = Path(self.config.hydra.sweep.dir)
        study = self.open_study(sweep_dir)
        start, job_index, returns = time.perf_counter(), 0, []
        while (left := self.n_trials - self.counted(study)) > 0:
            trials = [study.ask(space) for _ in range(min(self.n_jobs, left))]
            batch = [fixed + [override_text(k, v) for k, v in trial.params.items()] for trial in trials]
            self.validate_batch_is_legal(batch)
            results = self.launcher.launch(batch, initial_job_idx=job_index)
            job_index += len(batch)
            for trial, result in zip(trials, results):
                self.tell(study, trial, result)
            returns.append(results)
        print(self.report(study, sweep_dir, time.perf_counter() - start), file=sys.stderr, flush=True)
        return returns

    def tell(self, study: optuna.Study, trial: optuna.Trial, result) -> None:
        """Scores a trial from its run folders, or fails it with its job's outcome."""
        outcome = result.return_value if result.status == JobStatus.COMPLETED else None
        status = getattr(outcome, "status", "failed")
        if status not in SCORED:
            trial.set_user_attr("outcome", f"{status}: {getattr(outcome, 'message', '') or 'see the job log'}")
            study.tell(trial, state=TrialState.FAIL)
            return
        seeds = OmegaConf.select(result.cfg, "seeds") if result.cfg is not None else None
        try:
            value, per_seed = trial_score(Path(outcome.run_dir), seeds, self.statistic, self.last_k)
        except ObjectiveError as err:
            trial.set_user_attr("outcome", f"unscored: {err}")
            study.tell(trial, state=TrialState.FAIL)
            return
        trial.set_user_attr("run_dir", outcome.run_dir)
        trial.set_user_attr("seed_scores", per_seed)
        study.tell(trial, value)

    def report(self, study: optuna.Study, sweep_dir: Path, seconds: float) -> str:
        """The search's last lines, and BEST_FILE beside the study: the best trial's parameters, score and folder."""
        done = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
        head = (f"search: study {study.study_name} holds {len(done)} scored trial(s) of {self.n_trials}; "
                f"this call {seconds / 60:.1f} min; stored in {sweep_dir / STUDY_FILE}")
        if not done:
            return head + "\nsearch: no trial was scored (see the sweep summary above)"
        best = study.best_trial
        record = {"study": study.study_name, "trial": best.number, "score": best.value,
                  "objective": {"statistic": self.statistic, "last_k": self.last_k},
                  "seed_scores": best.user_attrs.get("seed_scores"), "params": dict(best.params),
                  "run_dir": best.user_attrs.get("run_dir")}
        (sweep_dir / BEST_FILE).write_text(yaml.safe_dump(record, sort_keys=False))
        params = " ".join(override_text(k, v) for k, v in best.params.items())
        return (f"{head}\nsearch: best trial {best.number}: score {best.value:.1f} ({self.statistic}), {params}, "
                f"in {best.user_attrs.get('run_dir')}; written to {sweep_dir / BEST_FILE}")

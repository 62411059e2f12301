"""A multirun's outcome: each job reports how it ended, and the sweep ends with one summary and its exit status.

Jobs may run in this process (the basic launcher) or elsewhere (submitit, SLURM), so each job writes its outcome
as a small file in the sweep folder and the launching process reads them all when the sweep ends.
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobStatus
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig

OUTCOMES_DIR = ".outcomes"
SLURM_COMMANDS = ("sbatch", "srun")
STATUSES = ("finished", "resumed", "refused", "failed", "already finished")
SHOWN_WHEN_ZERO = ("finished", "refused", "failed")  # in every summary; `already finished` only when a job was
_exit_status = 0


@dataclass(frozen=True)
class Outcome:
    """How one job ended: finished (from scratch), resumed (from a checkpoint), already finished (its folder held
    the whole run; nothing was written), refused (bad input, or its folder is in use) or failed (an error or a
    divergence during the run)."""
    status: str
    message: str = ""
    run_dir: str = ""
    overrides: list = field(default_factory=list)


def _outcomes_dir(config: DictConfig) -> Path:
    return Path(config.hydra.sweep.dir) / OUTCOMES_DIR


def read_outcomes(sweep_dir: Path) -> list[Outcome]:
    folder = sweep_dir / OUTCOMES_DIR
    paths = sorted(folder.glob("*.json"), key=lambda p: int(p.stem)) if folder.exists() else []
    return [Outcome(**json.loads(p.read_text())) for p in paths]


def summary(outcomes: list[Outcome]) -> str:
    """One line of counts, then a line per refused or failed job. A job that resumed from a checkpoint and ran to
    the end counts as finished, and the line says how many of those resumed."""
    counts = {status: sum(o.status == status for o in outcomes) for status in STATUSES}
    resumed = counts.pop("resumed")
    counts["finished"] += resumed
    parts = [f"{n} {status}" for status, n in counts.items() if n or status in SHOWN_WHEN_ZERO]
    if resumed:  # parts[0] is always the finished count: STATUSES and SHOWN_WHEN_ZERO start with it
        parts[0] += f" ({resumed} of them resumed from a checkpoint)"
    lines = [f"sweep: {len(outcomes)} job{'s' if len(outcomes) != 1 else ''}: " + ", ".join(parts)]
    shared = set.intersection(*(set(o.overrides) for o in outcomes)) if len(outcomes) > 1 else set()
    for outcome in outcomes:
        if outcome.status in ("refused", "failed"):
            own = [o for o in outcome.overrides if o not in shared] or outcome.overrides
            lines.append(f"  {outcome.status}: {' '.join(own)}: {outcome.message}")
    return "\n".join(lines)


def exit_status() -> int:
    """Non-zero once a multirun in this process had a refused or failed job."""
    return _exit_status


def check_launcher(config: DictConfig) -> None:
    """A SLURM launcher on a machine without SLURM's commands ends the sweep in one line (exit 2) before any job
    is submitted, instead of submitit's traceback from the first `sbatch` it cannot run."""
    target = str(config.hydra.launcher.get("_target_", ""))
    missing = [command for command in SLURM_COMMANDS if shutil.which(command) is None]
    if target.endswith("SlurmLauncher") and missing:
        print(f"error: hydra/launcher=slurm needs SLURM, but no {' or '.join(missing)} was found on PATH; run on a "
              "SLURM login node, or drop hydra/launcher=slurm (or use hydra/launcher=local) to run here",
              file=sys.stderr, flush=True)
        raise SystemExit(2)


def launcher_note(config: DictConfig) -> str | None:
    """What a single run (no -m) says when a SLURM launcher was chosen: Hydra uses launchers for multiruns only,
    so the run trains here, in this process."""
    if str(config.hydra.launcher.get("_target_", "")).endswith("SlurmLauncher"):
        return ("note: hydra/launcher=slurm applies to multiruns only (python -m runner -m ...); this run trains "
                "here, in this process")
    return None


class SweepReport(Callback):
    """Registered in conf/config.yaml under hydra.callbacks."""

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        note = launcher_note(config)
        if note is not None:
            print(note, file=sys.stderr, flush=True)

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        check_launcher(config)
        folder = _outcomes_dir(config)
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)

    def on_job_end(self, config: DictConfig, job_return, **kwargs) -> None:
        if HydraConfig.get().mode != RunMode.MULTIRUN:
            return
        outcome = job_return.return_value if job_return.status == JobStatus.COMPLETED else None
        if not isinstance(outcome, Outcome):  # the task function raised past its own handler
            outcome = Outcome("failed", "raised an error (see the job's log)")
        outcome = Outcome(outcome.status, outcome.message, outcome.run_dir, list(job_return.overrides or []))
        path = _outcomes_dir(config) / f"{config.hydra.job.num}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(outcome)))

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        global _exit_status
        outcomes = read_outcomes(Path(config.hydra.sweep.dir))
        print(summary(outcomes), file=sys.stderr, flush=True)
        if any(o.status in ("refused", "failed") for o in outcomes):
            _exit_status = 1

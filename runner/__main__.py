"""Entry point: `python -m runner algo=... env=... seed=...` (or `seeds=[0,1,2]`, one group). Builds the parts and
hands them to the Trainer (the GroupTrainer for a group)."""

from __future__ import annotations

import sys
import traceback
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Iterator

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from runner import build
from runner.checkpoint import load_group, load_latest
from runner.errors import Interrupted, RunError
from runner.group_trainer import GroupTrainer
from runner.host import prepare_host
from runner.identity import identify
from runner.interrupt import stop_on_signals
from runner.lock import LOCK_FILE, run_folder_lock
from runner.run_folder import open_run_folder
from runner.schema import validated
from runner.sweep_report import Outcome, exit_status
from runner.trainer import Trainer
from runner.validate import check_run_folder, resolve_device


def train(cfg: DictConfig) -> tuple[Path, Trainer | GroupTrainer]:
    """Validate, build, train; returns the run folder (a group's: the folder holding its seed folders) and the
    finished trainer.

    Nothing is written before every check has passed, and one process at a time owns each run folder.
    """
    composed, cfg = cfg, validated(cfg)
    configs = build.member_configs(cfg)
    identities = [identify(member) for member in configs]
    run_dirs = [identity.run_dir(cfg.run_root) for identity in identities]
    device = resolve_device(cfg.device)
    with ExitStack() as held:
        for run_dir in run_dirs:
            held.enter_context(new_folder_removed_on_refusal(run_dir))
            held.enter_context(run_folder_lock(run_dir))
        stop = held.enter_context(stop_on_signals())
        for member, run_dir in zip(configs, run_dirs):
            check_run_folder(run_dir, member)
        prepare_host(cfg.torch_threads)
        if cfg.seeds is None:
            state = None if cfg.restart else load_latest(run_dirs[0], device)
            torch.manual_seed(cfg.seed)
            trainer = build.build_trainer(cfg, run_dirs[0], identities[0], device, stop=stop)
        else:
            state = None if cfg.restart else load_group(run_dirs, device)
            trainer = build.build_group_trainer(cfg, run_dirs, identities, device, stop=stop)
        for member, run_dir, identity in zip(configs, run_dirs, identities):
            open_run_folder(run_dir, member, composed, identity, restart=cfg.restart)
        try:
            trainer.run(state)
        finally:
            trainer.close()
    print(trainer.report(), flush=True)
    return (run_dirs[0] if cfg.seeds is None else run_dirs[0].parent), trainer


@contextmanager
def new_folder_removed_on_refusal(run_dir: Path) -> Iterator[None]:
    """Creates the run folder; a start refused before training leaves no folder it created behind."""
    created = [p for p in (run_dir, *run_dir.parents) if not p.exists()]
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        yield
    except RunError:
        if created and not any(p for p in run_dir.iterdir() if p.name != LOCK_FILE):
            (run_dir / LOCK_FILE).unlink(missing_ok=True)
            for folder in created:  # deepest first; a folder someone else wrote into stays
                try:
                    folder.rmdir()
                except OSError:
                    break
        raise


def sweep_job(cfg: DictConfig) -> Outcome:
    """One job of a multirun: it ends with an Outcome, so the other jobs of the sweep still run. A stop signal
    ends the whole sweep instead, once the job has saved its checkpoint."""
    try:
        run_dir, trainer = train(cfg)
    except Interrupted as err:
        print(f"{err.label}: {err}", file=sys.stderr, flush=True)
        raise SystemExit(err.exit_code) from None
    except RunError as err:
        print(f"{err.label}: {err}", file=sys.stderr, flush=True)
        return Outcome("refused", str(err))
    except Exception as err:  # noqa: BLE001 - reported in the job's log and in the sweep summary
        traceback.print_exc()
        return Outcome("failed", f"{type(err).__name__}: {err}")
    return Outcome("resumed" if trainer.resumed_from is not None else "finished", run_dir=str(run_dir))


@hydra.main(config_path="../conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> Outcome | None:
    if HydraConfig.get().mode == RunMode.MULTIRUN:
        return sweep_job(cfg)
    try:
        train(cfg)
    except RunError as err:
        print(f"{err.label}: {err}", file=sys.stderr, flush=True)
        sys.exit(err.exit_code)
    return None


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # Ctrl-C while no run has its own handler armed (starting up, between sweep runs)
        print("stopped: SIGINT outside a run's training loop; a run that had started resumes from its last "
              "checkpoint", file=sys.stderr, flush=True)
        sys.exit(130)
    sys.exit(exit_status())

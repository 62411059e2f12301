"""Entry point: `python -m runner algo=... env=... seed=...` (or `seeds=[0,1,2]`, one group). Builds the parts and
hands them to the Trainer (the GroupTrainer for a group)."""

from __future__ import annotations

import os
import sys

try:  # Ctrl-C while torch and Hydra load (seconds): one line, not the traceback of an import
    import traceback
    from contextlib import ExitStack
    from pathlib import Path

    import hydra
    import torch
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import DictConfig

    from runner import build
    from runner.checkpoint import load_group, load_latest, prune_unnamed
    from runner.errors import Diverged, Interrupted, RunError
    from runner.group_trainer import GroupTrainer
    from runner.host import mujoco_log_in, prepare_host
    from runner.identity import identify
    from runner.interrupt import stop_on_signals
    from runner.lock import run_folder_lock
    from runner.run_folder import finished_message, is_finished, open_run_folder
    from runner.schema import validated
    from runner.sweep_report import Outcome, exit_status
    from runner.trainer import Trainer
    from runner.validate import check_checkpoint_fits, check_path_fits, check_run_folder, resolve_device
except KeyboardInterrupt:
    print("stopped: SIGINT while the runner was loading; nothing was started", file=sys.stderr, flush=True)
    sys.exit(130)


def train(cfg: DictConfig) -> tuple[Path, Trainer | GroupTrainer | None]:
    """Validate, build, train; returns the run folder (a group's: the folder holding its seed folders) and the
    finished trainer, or None for the trainer when the run had already finished (nothing is then written).

    Nothing is written before every check has passed, and one process at a time owns each run folder.
    """
    composed, cfg = cfg, validated(cfg)
    configs = build.member_configs(cfg)
    identities = [identify(member) for member in configs]
    run_dirs = [identity.run_dir(cfg.run_root) for identity in identities]
    folder = run_dirs[0] if cfg.seeds is None else run_dirs[0].parent
    device = resolve_device(cfg.device)
    for run_dir in run_dirs:
        check_path_fits(run_dir)
    with ExitStack() as held:
        for run_dir in run_dirs:
            held.enter_context(run_folder_lock(run_dir))
        stop = held.enter_context(stop_on_signals())
        start_over = [check_run_folder(run_dir, member) for member, run_dir in zip(configs, run_dirs)]
        prepare_host(cfg.torch_threads)
        states = None if cfg.restart else load_states(run_dirs, device, group=cfg.seeds is not None)
        start_over = [fresh and states is None for fresh in start_over]  # a group's first commit finished on load
        held.enter_context(mujoco_log_in(folder))
        if cfg.seeds is None:
            torch.manual_seed(cfg.seed)
            trainer = build.build_trainer(cfg, run_dirs[0], identities[0], device, stop=stop)
            agent = trainer.agent
        else:
            trainer = build.build_group_trainer(cfg, run_dirs, identities, device, stop=stop)
            agent = trainer.probe
        try:
            for run_dir, state in zip(run_dirs, states or []):
                check_checkpoint_fits(run_dir, state, agent)
            if is_finished(states, cfg.total_steps):  # only now: a foreign checkpoint is no finished run
                pruned = sum(prune_unnamed(run_dir, device) for run_dir in run_dirs)
                print(finished_message(run_dirs, cfg.total_steps, pruned), flush=True)
                return folder, None
            for member, run_dir, identity, fresh in zip(configs, run_dirs, identities, start_over):
                open_run_folder(run_dir, member, composed, identity, restart=cfg.restart, start_over=fresh)
            trainer.run(states[0] if states is not None and cfg.seeds is None else states)
        finally:
            trainer.close()
    print(trainer.report(), flush=True)
    return folder, trainer


def load_states(run_dirs: list[Path], device: torch.device, group: bool) -> list[dict] | None:
    """Each seed's checkpoint (a single run's only one), or None when the run has none yet."""
    if group:
        return load_group(run_dirs, device)
    latest = load_latest(run_dirs[0], device)
    return None if latest is None else [latest]


def sweep_job(cfg: DictConfig) -> Outcome:
    """One job of a multirun: it ends with an Outcome, so the other jobs of the sweep still run. A stop signal
    ends the whole sweep instead, once the job has saved its checkpoint."""
    try:
        run_dir, trainer = train(cfg)
    except Interrupted as err:
        print(f"{err.label}: {err}", file=sys.stderr, flush=True)
        raise SystemExit(err.exit_code) from None
    except Diverged as err:  # not the input's fault: the sweep counts it with the runs that failed
        print(f"{err.label}: {err}", file=sys.stderr, flush=True)
        return Outcome("failed", str(err))
    except RunError as err:
        print(f"{err.label}: {err}", file=sys.stderr, flush=True)
        return Outcome("refused", str(err))
    except Exception as err:  # noqa: BLE001 - reported in the job's log and in the sweep summary
        traceback.print_exc()
        return Outcome("failed", f"{type(err).__name__}: {err}")
    if trainer is None:
        return Outcome("already finished", run_dir=str(run_dir))
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
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from runner.hydra_errors import FULL_ERROR, one_line, wants_full_error

    full_error = wants_full_error()
    os.environ[FULL_ERROR] = "1"  # Hydra raises its errors instead of printing them: they become one line below
    try:
        main()
    except (HydraException, OmegaConfBaseException) as err:
        if full_error:
            raise
        print(one_line(err), file=sys.stderr, flush=True)
        sys.exit(2)
    except KeyboardInterrupt:  # Ctrl-C while no run has its own handler armed (starting up, between sweep runs)
        print("stopped: SIGINT outside a run's training loop; a run that had started resumes from its last "
              "checkpoint", file=sys.stderr, flush=True)
        sys.exit(130)
    sys.exit(exit_status())

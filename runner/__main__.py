"""Entry point: `python -m runner algo=... env=... seed=...`. Builds the parts and hands them to the Trainer."""

from __future__ import annotations

import sys
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from runner import build
from runner.errors import RunError
from runner.host import prepare_host
from runner.identity import RunIdentity, identify
from runner.lock import LOCK_FILE, run_folder_lock
from runner.sweep_report import Outcome, exit_status
from runner.trainer import Trainer
from runner.validate import check_budgets, check_run_folder, resolve_device, save_run_record


def train(cfg: DictConfig, identity: RunIdentity) -> tuple[Path, Trainer]:
    """Validate, build, train; returns the run folder and the finished trainer."""
    check_budgets(cfg)
    device = resolve_device(cfg.device)
    run_dir = identity.run_dir(cfg.run_root)
    with new_folder_removed_on_refusal(run_dir), run_folder_lock(run_dir):
        check_run_folder(run_dir, cfg, has_checkpoint=(run_dir / "checkpoint.pt").exists())
        prepare_host(cfg.torch_threads)
        torch.manual_seed(cfg.seed)

        trainer = build.build_trainer(cfg, run_dir, identity, device)
        save_run_record(run_dir, cfg, identity, HydraConfig.get().overrides.task)
        try:
            trainer.run()
        finally:
            trainer.close()
    _report(run_dir, trainer)
    return run_dir, trainer


@contextmanager
def new_folder_removed_on_refusal(run_dir: Path) -> Iterator[None]:
    """Creates the run folder; a start refused before training leaves no folder it created behind."""
    created = [p for p in (run_dir, *run_dir.parents) if not p.exists()]
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        yield
    except RunError:
        (run_dir / LOCK_FILE).unlink(missing_ok=True)
        for folder in created:  # deepest first; a folder someone else wrote into stays
            try:
                folder.rmdir()
            except OSError:
                break
        raise


def _report(run_dir: Path, trainer: Trainer) -> None:
    resumed = f" (resumed from step {trainer.resumed_from})" if trainer.resumed_from is not None else ""
    lines = [f"done: {trainer.step} env steps, {trainer.updates} updates{resumed}",
             f"  last eval return: {trainer.last_eval:.1f}" if trainer.last_eval is not None else "",
             f"  run folder: {run_dir}",
             f"  metrics:    {run_dir / 'eval.csv'}, {run_dir / 'train.csv'}"]
    if trainer.logger.wandb.files_dir:
        files_dir = trainer.logger.wandb.files_dir
        lines.append(f"  W&B run:    {files_dir}  (upload later: wandb sync {files_dir})")
    print("\n".join(line for line in lines if line), flush=True)


def sweep_job(cfg: DictConfig) -> Outcome:
    """One job of a multirun: whatever happens, it ends with an Outcome, so the other jobs of the sweep still run."""
    try:
        identity = identify(cfg)
        run_dir, trainer = train(cfg, identity)
    except RunError as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
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
        train(cfg, identify(cfg))
    except RunError as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        sys.exit(2)
    return None


if __name__ == "__main__":
    main()
    sys.exit(exit_status())

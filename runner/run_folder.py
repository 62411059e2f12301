"""Makes a run folder ready once every check has passed: old files set aside on restart, config and metadata."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from runner.files import write_atomic
from runner.identity import RunIdentity
from runner.lock import LOCK_FILE

SAVED_CONFIG = "config.yaml"
SET_ASIDE = ".previous"
METADATA = ".hydra"


def open_run_folder(run_dir: Path, cfg: DictConfig, composed: DictConfig, identity: RunIdentity,
                    restart: bool, start_over: bool = False) -> None:
    """Written only now, so that a refused start leaves the folder (or its absence) as it was: the resolved config,
    the run's identity (identity.yaml) and what Hydra composed (.hydra/). `start_over`: the folder holds a run
    stopped before its first checkpoint, which is set aside as restart=true would."""
    if restart or start_over:
        moved = set_aside(run_dir)
        if moved is not None and restart:
            print(f"restart: the previous files of {run_dir} are in {moved}", file=sys.stderr, flush=True)
        elif moved is not None:
            print(f"starting over: {run_dir} was stopped before its first checkpoint; its files are in {moved}",
                  file=sys.stderr, flush=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(run_dir / SAVED_CONFIG, OmegaConf.to_yaml(cfg, resolve=True))
    identity.save(run_dir)
    write_metadata(run_dir / METADATA, composed)


def set_aside(run_dir: Path) -> Path | None:
    """Move everything in the folder to .previous/<n>/ (nothing is deleted); returns where, or None if empty.
    The lock file stays: the process that holds it owns the folder."""
    entries = [p for p in run_dir.iterdir() if p.name not in (SET_ASIDE, LOCK_FILE)] if run_dir.exists() else []
    if not entries:
        return None
    shelf = run_dir / SET_ASIDE
    taken = [int(p.name) for p in shelf.iterdir() if p.name.isdigit()] if shelf.exists() else []
    target = shelf / str(max(taken, default=-1) + 1)
    target.mkdir(parents=True)
    for entry in entries:
        shutil.move(str(entry), str(target / entry.name))
    return target


def write_metadata(folder: Path, composed: DictConfig) -> None:
    """What Hydra's output_subdir held: the composed config, the command-line overrides and Hydra's own config."""
    folder.mkdir(exist_ok=True)
    write_atomic(folder / "config.yaml", OmegaConf.to_yaml(composed))
    if HydraConfig.initialized():
        hydra_cfg = HydraConfig.get()
        write_atomic(folder / "overrides.yaml", OmegaConf.to_yaml(hydra_cfg.overrides.task))
        write_atomic(folder / "hydra.yaml", OmegaConf.to_yaml({"hydra": hydra_cfg}))


def is_finished(states: list[dict] | None, total_steps: int) -> bool:
    """Whether the checkpoints (one per seed) already hold all `total_steps`."""
    return states is not None and all(state["counters"]["step"] >= total_steps for state in states)


def finished_message(run_dirs: list[Path], total_steps: int, pruned: int = 0) -> str:
    """What a start says when its run is done: starting it again changes nothing in its folders, but for `pruned`
    replay files that no checkpoint named (left by a kill right after the last checkpoint)."""
    where = str(run_dirs[0]) if len(run_dirs) == 1 else f"every seed folder of {run_dirs[0].parent}"
    changed = (f"removed only {pruned} replay chunk file(s) that no checkpoint names" if pruned
               else "nothing was changed")
    return (f"finished: {where} already holds all {total_steps} steps; {changed} (restart=true trains it again "
            f"and moves the old files to {SET_ASIDE}/)")

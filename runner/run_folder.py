"""Makes a run folder ready once every check has passed: old files set aside on restart, config and metadata."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from runner.identity import RunIdentity
from runner.lock import LOCK_FILE

SAVED_CONFIG = "config.yaml"
SET_ASIDE = ".previous"
METADATA = ".hydra"


def open_run_folder(run_dir: Path, cfg: DictConfig, composed: DictConfig, identity: RunIdentity,
                    restart: bool) -> None:
    """Written only now, so that a refused start leaves the folder (or its absence) as it was: the resolved config,
    the run's identity (identity.yaml) and what Hydra composed (.hydra/)."""
    if restart:
        moved = set_aside(run_dir)
        if moved is not None:
            print(f"restart: the previous files of {run_dir} are in {moved}", file=sys.stderr, flush=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / SAVED_CONFIG).write_text(OmegaConf.to_yaml(cfg, resolve=True))
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
    (folder / "config.yaml").write_text(OmegaConf.to_yaml(composed))
    if HydraConfig.initialized():
        hydra_cfg = HydraConfig.get()
        (folder / "overrides.yaml").write_text(OmegaConf.to_yaml(hydra_cfg.overrides.task))
        (folder / "hydra.yaml").write_text(OmegaConf.to_yaml({"hydra": hydra_cfg}))


def finished_message(run_dirs: list[Path], states: list[dict] | None, total_steps: int) -> str | None:
    """What a start says when its checkpoints (one per seed) already hold all `total_steps`: the run is done, and
    starting it again changes nothing in its folders. None when there is training left."""
    if states is None or any(state["counters"]["step"] < total_steps for state in states):
        return None
    where = str(run_dirs[0]) if len(run_dirs) == 1 else f"every seed folder of {run_dirs[0].parent}"
    return (f"finished: {where} already holds all {total_steps} steps; nothing was changed (restart=true trains "
            f"it again and moves the old files to {SET_ASIDE}/)")

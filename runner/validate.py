"""Checks a run folder and the device before anything is built, so bad input costs one line and no training."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from algos.sac import SAC
from runner.checkpoint import checkpoint_files, never_committed
from runner.errors import RunError
from runner.identity import RESUMABLE_CHANGES
from runner.metrics import EVAL_FILE, TRAIN_FILE, CsvLog
from runner.replay_store import REPLAY_DIR
from runner.files import read_yaml
from runner.run_folder import SAVED_CONFIG, SET_ASIDE
from runner.schema import DEVICE, flatten


def resolve_device(name: str) -> torch.device:
    """`auto` takes CUDA when present; asking for CUDA without a GPU is an error, not a silent CPU run."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not DEVICE.fullmatch(str(name)):
        raise RunError(f"device must be auto, cpu, cuda or cuda:N, got {name!r}")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RunError(f"device={name} was asked for but no CUDA GPU is visible; use device=auto or cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise RunError(f"device={name}: only {torch.cuda.device_count()} CUDA device(s) are visible")
    return device


# The longest path a run writes below its folder (a chunk's temporary file inside a set-aside attempt).
LONGEST_INSIDE = len("/.previous/9999/replay/t000000000000-000000000000.f32.tmp")


def check_path_fits(run_dir: Path) -> None:
    """Refuse a run folder whose name or path (with the files a run writes inside it) is longer than the file
    system allows, before anything is created."""
    known = next((p for p in (run_dir, *run_dir.parents) if _exists(p)), Path("/"))
    name_max, path_max = _pathconf(known, "PC_NAME_MAX", 255), _pathconf(known, "PC_PATH_MAX", 4096)
    long = [part for part in run_dir.parts if len(part.encode()) > name_max]
    if long:
        raise RunError(f"run_root and the run's labels make a folder name of {len(long[0].encode())} bytes "
                       f"({long[0][:24]}...), more than the {name_max} this file system allows; choose a shorter "
                       "run_root")
    length = len(str(run_dir.absolute()).encode()) + LONGEST_INSIDE
    if length > path_max:
        raise RunError(f"the run folder {str(run_dir)[:40]}... would hold paths of {length} bytes, more than the "
                       f"{path_max} this system allows; choose a shorter run_root")


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:
        return False


def _pathconf(path: Path, name: str, default: int) -> int:
    try:
        return os.pathconf(path, name)
    except (OSError, ValueError):
        return default


def comparable(cfg: DictConfig) -> dict:
    data = OmegaConf.to_container(cfg, resolve=True)
    return {k: v for k, v in data.items() if k not in RESUMABLE_CHANGES}


def check_run_folder(run_dir: Path, cfg: DictConfig) -> bool:
    """Refuse to mix two experiments in one folder, to drop a history silently, and honour resume=false. Returns
    whether the folder holds a run stopped before or during its first checkpoint, which can only start over (its
    files are then set aside, as restart=true does).

    restart=true skips these checks: `run_folder.set_aside` then moves the folder's files away before the run starts.
    """
    if cfg.restart or not run_dir.exists():
        return False
    rows = {name: CsvLog(run_dir / name).count_rows() for name in (EVAL_FILE, TRAIN_FILE)}
    history = f"{rows[EVAL_FILE]} eval and {rows[TRAIN_FILE]} train rows"
    checkpoints = checkpoint_files(run_dir)
    if not cfg.resume and (checkpoints or any(rows.values())):
        raise RunError(f"{run_dir} already holds a run ({history}); resume=true continues it, restart=true starts "
                       f"over and moves its files to {SET_ASIDE}/, or choose another experiment_name")
    if not checkpoints and never_committed(run_dir):
        return any(rows.values()) or (run_dir / REPLAY_DIR).exists()
    if not checkpoints and any(rows.values()):
        raise RunError(f"{run_dir} holds {history} but no checkpoint, so it cannot continue: restart=true starts "
                       f"over and moves its files to {SET_ASIDE}/, or choose another experiment_name")
    saved = run_dir / SAVED_CONFIG
    if not saved.exists():
        return False
    saved_cfg = read_yaml(saved, "delete it (the next start writes it again) and run the same command")
    old = {k: v for k, v in saved_cfg.items() if k not in RESUMABLE_CHANGES}
    diffs = sorted(_diff_keys(old, comparable(cfg)))
    if diffs:
        raise RunError(f"{run_dir} holds a run with a different config ({', '.join(diffs[:5])} differ); "
                       "use another experiment_name, or restart=true to start over (its files move to "
                       f"{SET_ASIDE}/)")
    return False


# Keys added to the configs after runs began, each with the value that trains as the code did before the key
# existed. A run whose saved config lacks such a key resumes under a config holding that value.
# humanoid_warmup_action_range only carries the paper presets' value to conf/env/humanoid.yaml; what it changes is
# compared as env.warmup_action_range (a Humanoid paper run begun before the key resumes with
# env.warmup_action_range=1.0 added).
ADDED_KEYS = {"precision": "fp32", "sac.critic_update": "joint", "sac.target_squash_floor": 0.0,
              "entropy.center_score": False, "ar_dae_center_score": False, "env.version": "v5",
              "env.warmup_action_range": 1.0, "humanoid_warmup_action_range": 0.4}


def _diff_keys(old: dict, new: dict) -> list[str]:
    """Keys whose values differ. A key the saved config lacks and the new one holds at null, or at its ADDED_KEYS
    value, is no difference: it was added to the configs after the run began, at a value that changes nothing."""
    old, new = flatten(old), flatten(new)
    return [k for k in set(old) | set(new)
            if old.get(k) != new.get(k) and not (k not in old and new[k] in (None, ADDED_KEYS.get(k, None)))]


def check_checkpoint_fits(run_dir: Path, state: dict, agent: SAC) -> None:
    """Refuse in one line a checkpoint of another configuration (another policy, another task's sizes, copied into
    this folder), before `load_state_dict` would stop with a traceback."""
    mismatch = checkpoint_mismatch(state["agent"], agent)
    if mismatch is None:
        return
    files = checkpoint_files(run_dir)
    name = files[0] if files else run_dir
    raise RunError(f"{name} is a checkpoint of another configuration: {mismatch}. restart=true starts over "
                   f"and moves the old files to {SET_ASIDE}/")


def checkpoint_mismatch(agent_state: dict, agent: SAC) -> str | None:
    """How a checkpoint's networks differ from the agent's, by parameter names and shapes; None when they fit."""
    saved, built = _shapes(agent_state["modules"]), _shapes(agent.state_dict()["modules"])
    if saved == built:
        return None
    missing, extra = sorted(built.keys() - saved.keys()), sorted(saved.keys() - built.keys())
    resized = sorted(k for k in built.keys() & saved.keys() if built[k] != saved[k])
    parts = [f"{len(missing)} parameter(s) of this config missing (e.g. {missing[0]})"] if missing else []
    parts += [f"{len(extra)} parameter(s) this config does not have (e.g. {extra[0]})"] if extra else []
    if resized:
        key = resized[0]
        parts.append(f"{len(resized)} of another shape (e.g. {key}: {list(saved[key])} in the file, "
                     f"{list(built[key])} here)")
    return "; ".join(parts)


def _shapes(modules: dict) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in flatten(modules).items() if isinstance(v, torch.Tensor)}

"""Checks a run folder and the device before anything is built, so bad input costs one line and no training."""

from __future__ import annotations

from pathlib import Path

import torch
import yaml
from omegaconf import DictConfig, OmegaConf

from algos.sac import SAC
from runner.checkpoint import checkpoint_files
from runner.errors import RunError
from runner.identity import RESUMABLE_CHANGES
from runner.metrics import EVAL_FILE, TRAIN_FILE, CsvLog
from runner.run_folder import SAVED_CONFIG, SET_ASIDE
from runner.schema import flatten


def resolve_device(name: str) -> torch.device:
    """`auto` takes CUDA when present; asking for CUDA without a GPU is an error, not a silent CPU run."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RunError(f"device={name} was asked for but no CUDA GPU is visible; use device=auto or cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise RunError(f"device={name}: only {torch.cuda.device_count()} CUDA device(s) are visible")
    return device


def comparable(cfg: DictConfig) -> dict:
    data = OmegaConf.to_container(cfg, resolve=True)
    return {k: v for k, v in data.items() if k not in RESUMABLE_CHANGES}


def check_run_folder(run_dir: Path, cfg: DictConfig) -> None:
    """Refuse to mix two experiments in one folder, to drop a history silently, and honour resume=false.

    restart=true skips these checks: `run_folder.set_aside` then moves the folder's files away before the run starts.
    """
    if cfg.restart or not run_dir.exists():
        return
    rows = {name: CsvLog(run_dir / name).count_rows() for name in (EVAL_FILE, TRAIN_FILE)}
    history = f"{rows[EVAL_FILE]} eval and {rows[TRAIN_FILE]} train rows"
    checkpoints = checkpoint_files(run_dir)
    if not cfg.resume and (checkpoints or any(rows.values())):
        raise RunError(f"{run_dir} already holds a run ({history}); resume=true continues it, restart=true starts "
                       f"over and moves its files to {SET_ASIDE}/, or choose another experiment_name")
    if not checkpoints and any(rows.values()):
        raise RunError(f"{run_dir} holds {history} but no checkpoint, so it cannot continue: restart=true starts "
                       f"over and moves its files to {SET_ASIDE}/, or choose another experiment_name")
    saved = run_dir / SAVED_CONFIG
    if not saved.exists():
        return
    old = {k: v for k, v in yaml.safe_load(saved.read_text()).items() if k not in RESUMABLE_CHANGES}
    diffs = sorted(_diff_keys(old, comparable(cfg)))
    if diffs:
        raise RunError(f"{run_dir} holds a run with a different config ({', '.join(diffs[:5])} differ); "
                       "use another experiment_name, or restart=true to start over (its files move to "
                       f"{SET_ASIDE}/)")


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

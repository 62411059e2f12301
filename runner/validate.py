"""Checks a composed config before anything is built, so bad input costs one line and no training."""

from __future__ import annotations

from pathlib import Path

import torch
import yaml
from omegaconf import DictConfig, OmegaConf

from runner.errors import RunError
from runner.identity import OPERATIONAL_KEYS, RunIdentity

POSITIVE_KEYS = ("total_steps", "eval_every", "eval_episodes", "log_every", "checkpoint_every", "buffer_size")
SAVED_CONFIG = "config.yaml"
SAVED_OVERRIDES = "overrides.yaml"


def check_budgets(cfg: DictConfig) -> None:
    for key in POSITIVE_KEYS:
        if not isinstance(cfg[key], int) or cfg[key] <= 0:
            raise RunError(f"{key} must be a positive integer, got {cfg[key]!r}")
    if not isinstance(cfg.warmup_steps, int) or cfg.warmup_steps < 0:
        raise RunError(f"warmup_steps must be a non-negative integer, got {cfg.warmup_steps!r}")
    if cfg.warmup_steps >= cfg.total_steps:
        raise RunError(f"warmup_steps ({cfg.warmup_steps}) must be below total_steps ({cfg.total_steps}): "
                       "the run would never update")
    if cfg.sac.batch_size <= 0:
        raise RunError(f"sac.batch_size must be positive, got {cfg.sac.batch_size}")


def resolve_device(name: str) -> torch.device:
    """`auto` takes CUDA when present; asking for CUDA without a GPU is an error, not a silent CPU run."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise RunError(f"device={name!r} is not a device; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RunError(f"device={name} was asked for but no CUDA GPU is visible; use device=auto or cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise RunError(f"device={name}: only {torch.cuda.device_count()} CUDA device(s) are visible")
    return device


def comparable(cfg: DictConfig) -> dict:
    data = OmegaConf.to_container(cfg, resolve=True)
    return {k: v for k, v in data.items() if k not in OPERATIONAL_KEYS}


def check_run_folder(run_dir: Path, cfg: DictConfig, has_checkpoint: bool) -> None:
    """Refuse to mix two different experiments in one folder, and honour resume=false."""
    saved = run_dir / SAVED_CONFIG
    if has_checkpoint and not cfg.resume:
        raise RunError(f"{run_dir} already holds a run; pass resume=true to continue it, or choose another "
                       "experiment_name")
    if not saved.exists():
        return
    old = {k: v for k, v in yaml.safe_load(saved.read_text()).items() if k not in OPERATIONAL_KEYS}
    new = comparable(cfg)
    if old != new:
        diffs = sorted(_diff_keys(old, new))
        raise RunError(f"{run_dir} holds a run with a different config ({', '.join(diffs[:5])} differ); "
                       "use another experiment_name or remove the folder")


def save_run_record(run_dir: Path, cfg: DictConfig, identity: RunIdentity, overrides) -> None:
    """What made this run: the resolved config, its identity and the command-line overrides of its latest start.
    Written by the runner once the folder is its own, so a refused start changes nothing in it."""
    (run_dir / SAVED_CONFIG).write_text(OmegaConf.to_yaml(cfg, resolve=True))
    identity.save(run_dir)
    (run_dir / SAVED_OVERRIDES).write_text(yaml.safe_dump(list(overrides)))


def _diff_keys(old: dict, new: dict, prefix: str = "") -> list[str]:
    keys = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            keys += _diff_keys(a, b, f"{prefix}{k}.")
        elif a != b:
            keys.append(f"{prefix}{k}")
    return keys

"""Every config group composes, and every task in conf/env/ constructs and steps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from envs import make_env

CONF = Path(__file__).resolve().parents[1] / "conf"


def choices(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def compose_with(*overrides: str):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides), return_hydra_config=False)


@pytest.mark.parametrize("algo", choices("algo"))
@pytest.mark.parametrize("env", choices("env"))
def test_algo_and_env_compose(algo: str, env: str):
    cfg = compose_with(f"algo={algo}", f"env={env}")
    OmegaConf.resolve(cfg)
    assert algo.startswith(cfg.algo.name) and cfg.env.name == env  # sac_ar_dae_no_jc is sac_ar_dae, jc off
    assert cfg.entropy.name in choices("entropy")
    assert cfg.total_steps == cfg.env.total_steps > cfg.warmup_steps >= 0


@pytest.mark.parametrize("group", ["entropy", "logger", "experiment", "ablation"])
def test_other_groups_compose(group: str):
    for choice in choices(group):
        cfg = compose_with("algo=sac_flow_vi", f"{group}={choice}")
        OmegaConf.resolve(cfg)


@pytest.mark.parametrize("env", choices("env"))
def test_every_task_constructs_and_steps(env: str):
    task = make_env(compose_with(f"env={env}").env.id)
    obs, _ = task.reset(seed=0)
    assert task.action_space.low.min() == -1.0 and task.action_space.high.max() == 1.0
    for _ in range(5):
        obs, reward, terminated, truncated, _ = task.step(task.action_space.sample())
        assert np.all(np.isfinite(obs)) and np.isfinite(reward)
        if terminated or truncated:
            obs, _ = task.reset()
    task.close()

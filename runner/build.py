"""The one place a config becomes objects: env, policy, estimator, agent, buffer, logger."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from algos.estimators.base import EntropyEstimator
from algos.policies.base import Policy
from algos.replay import ReplayBuffer
from algos.sac import SAC
from algos.temperature import Temperature
from envs import EnvSpecError, make_env
from runner.errors import RunError
from runner.metrics import MetricsLogger, WandbSink

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"


def build_envs(cfg: DictConfig) -> tuple[gym.Env, gym.Env]:
    """A training env and a separate evaluation env, so evaluation never disturbs the training episode."""
    try:
        return make_env(cfg.env.id), make_env(cfg.env.id)
    except EnvSpecError as err:
        raise RunError(str(err)) from None


def _instantiate_named(node: DictConfig, **kwargs):
    """Instantiate a config whose `name` key labels the choice and is not a constructor argument."""
    params = OmegaConf.create({k: v for k, v in node.items() if k != "name"})
    return instantiate(params, **kwargs, _convert_="all")


def _estimator_class(node: DictConfig) -> type[EntropyEstimator]:
    module, _, name = node._target_.rpartition(".")
    return getattr(importlib.import_module(module), name)


def fitting_estimators(policy: Policy) -> list[str]:
    """Names of every estimator in conf/entropy/ that can serve this policy."""
    names = []
    for path in sorted((CONF_DIR / "entropy").glob("*.yaml")):
        node = OmegaConf.load(path)
        if _estimator_class(node).refusal(policy) is None:
            names.append(path.stem)
    return names


def build_policy_and_estimator(cfg: DictConfig, obs_dim: int, act_dim: int) -> tuple[Policy, EntropyEstimator]:
    policy = _instantiate_named(cfg.algo.policy, obs_dim=obs_dim, act_dim=act_dim)
    reason = _estimator_class(cfg.entropy).refusal(policy)
    if reason is not None:
        fits = ", ".join(fitting_estimators(policy)) or "none"
        raise RunError(f"entropy={cfg.entropy.name} does not fit algo={cfg.algo.name}: {reason}. "
                       f"Estimators that fit: {fits}")
    estimator = _instantiate_named(cfg.entropy, policy=policy)
    return policy, estimator


def build_agent(cfg: DictConfig, obs_dim: int, act_dim: int, device: torch.device) -> SAC:
    policy, estimator = build_policy_and_estimator(cfg, obs_dim, act_dim)
    sac = cfg.sac
    critic = instantiate(sac.critic, obs_dim=obs_dim, act_dim=act_dim)
    target_entropy = -float(act_dim) if sac.target_entropy is None else float(sac.target_entropy)
    temperature = Temperature(init=sac.alpha, autotune=sac.autotune_alpha, target_entropy=target_entropy)
    agent = SAC(policy, estimator, critic, temperature, device=device, gamma=sac.gamma, tau=sac.tau, lr=sac.lr,
                target_calibration=sac.target_calibration)
    if cfg.compile:
        agent.policy.compile()
        agent.critic.compile()
    return agent


def build_buffer(cfg: DictConfig, obs_dim: int, act_dim: int, device: torch.device) -> ReplayBuffer:
    capacity = min(cfg.buffer_size, cfg.total_steps)
    check_buffer_fits(capacity, 2 * obs_dim + act_dim + 2, device)
    return ReplayBuffer(obs_dim, act_dim, capacity=capacity, device=device)


def check_buffer_fits(capacity: int, floats_per_transition: int, device: torch.device) -> None:
    """Refuse a replay buffer larger than the device's memory in one line, before an allocator error (or the
    kernel's OOM killer, once the zeroed pages are touched) ends the run."""
    need = capacity * floats_per_transition * 4
    if device.type == "cuda":
        have, where = torch.cuda.mem_get_info(device)[1], f"{device}'s memory"
    else:
        have, where = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"), "this machine's memory"
    if need > have:
        raise RunError(f"the replay buffer of {capacity} transitions needs {need / 2**30:.1f} GiB, more than "
                       f"{where} ({have / 2**30:.1f} GiB); lower buffer_size")


def build_logger(cfg: DictConfig, run_dir: Path) -> MetricsLogger:
    group = f"{cfg.experiment_name}/{cfg.env.name}/{cfg.algo.name}"
    sink = WandbSink(run_dir, cfg, mode=cfg.logger.mode, project=cfg.logger.project, entity=cfg.logger.entity,
                     group=group, name=f"{group}/seed{cfg.seed}",
                     tags=[cfg.env.name, cfg.algo.name, cfg.entropy.name, cfg.experiment_name])
    return MetricsLogger(run_dir, sink)


def dims(env: gym.Env) -> tuple[int, int]:
    return int(np.prod(env.observation_space.shape)), int(np.prod(env.action_space.shape))

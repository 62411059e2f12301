"""The composition root: the one place a config becomes objects (env, policy, estimator, agent, buffer, logger,
trainer), used by `python -m runner`, the benchmark and the tests.

The agent is wired by hand rather than by one recursive instantiate: its sizes come from the env, and the
estimator must be checked against the policy it would serve before it is built."""

from __future__ import annotations

import os
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf

from algos.estimators.base import EntropyEstimator
from algos.members import Members
from algos.policies.base import EXACT_DENSITY, NOISY_PUSHFORWARD, Policy
from algos.replay import ReplayBuffer
from algos.sac import SAC
from algos.stacking import stack_agents
from algos.temperature import Temperature
from envs import EnvSpecError, make_env
from runner.errors import RunError
from runner.group_trainer import GroupTrainer, MemberRun
from runner.identity import RunIdentity
from runner.interrupt import StopRequest
from runner.metrics import MetricsLogger
from runner.sinks import ConsoleSink, TensorBoardSink, WandbSink
from runner.trainer import Trainer

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
# W&B's files of the process, not of one run (its service's log, its temporary media): in the experiment's folder,
# which is also a sweep's folder.
WANDB_PROCESS_DIR = ".wandb"
# The command-line change that gives a policy with added noise (the flow) the capability an estimator needs.
NOISE_HINTS = {EXACT_DENSITY: "set algo.policy.noise_std=0 for the deterministic flow",
               NOISY_PUSHFORWARD: "set algo.policy.noise_std > 0"}


def build_envs(cfg: DictConfig) -> tuple[gym.Env, gym.Env]:
    """A training env and a separate evaluation env, so evaluation never disturbs the training episode; the
    evaluation env renders frames when the run records videos."""
    render_size = (cfg.video_width, cfg.video_height) if cfg.video_every > 0 else None
    try:
        return make_env(cfg.env.id), make_env(cfg.env.id, render_size)
    except EnvSpecError as err:
        raise RunError(str(err)) from None


def _instantiate_named(node: DictConfig, **kwargs):
    """Instantiate a config whose `name` key labels the choice and is not a constructor argument."""
    params = OmegaConf.create({k: v for k, v in node.items() if k != "name"})
    return instantiate(params, **kwargs, _convert_="all")


def _estimator_options() -> dict[str, str]:
    """Every `entropy=` option on Hydra's config search path, with its class path."""
    def read() -> dict[str, str]:
        names = GlobalHydra.instance().config_loader().get_group_options("entropy")
        return {name: compose(config_name="config", overrides=[f"entropy={name}"]).entropy._target_ for name in names}
    if GlobalHydra.instance().is_initialized():
        return read()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return read()


def fitting_estimators(policy: Policy) -> list[str]:
    """Names of every estimator option that can serve this policy."""
    return [name for name, target in _estimator_options().items() if get_class(target).refusal(policy) is None]


def build_policy_and_estimator(cfg: DictConfig, obs_dim: int, act_dim: int, members: Members | None = None
                               ) -> tuple[Policy, EntropyEstimator]:
    """The policy, then the estimator once it is known to fit (its refusal, with what to type instead)."""
    policy = _instantiate_named(cfg.algo.policy, obs_dim=obs_dim, act_dim=act_dim, members=members)
    estimator_class = get_class(cfg.entropy._target_)
    reason = estimator_class.refusal(policy)
    if reason is not None:
        hint = NOISE_HINTS.get(estimator_class.requires) if hasattr(policy, "noise_std") else None
        fits = ", ".join(fitting_estimators(policy)) or "none"
        raise RunError(f"entropy={cfg.entropy.name} does not fit algo={cfg.algo.name}: {reason}"
                       f"{f'; {hint}' if hint else ''}. Estimators that fit: {fits}")
    estimator = _instantiate_named(cfg.entropy, policy=policy)
    return policy, estimator


def build_agent(cfg: DictConfig, obs_dim: int, act_dim: int, device: torch.device,
                members: Members | None = None) -> SAC:
    """One seed's agent, or with `members` a group whose fresh parameters are not any seed's (build_group_agent
    gives each member its seed's)."""
    policy, estimator = build_policy_and_estimator(cfg, obs_dim, act_dim, members)
    sac = cfg.sac
    critic = instantiate(sac.critic, obs_dim=obs_dim, act_dim=act_dim, members=members)
    target_entropy = -float(act_dim) if sac.target_entropy is None else float(sac.target_entropy)
    temperature = Temperature(init=sac.alpha, autotune=sac.autotune_alpha, target_entropy=target_entropy,
                              members=members)
    agent = SAC(policy, estimator, critic, temperature, device=device, gamma=sac.gamma, tau=sac.tau, lr=sac.lr,
                critic_update=sac.critic_update, target_squash_floor=sac.target_squash_floor,
                precision=cfg.precision)
    if cfg.compile:
        agent.policy.compile()
        agent.critic.compile()
    return agent


def build_group_agent(cfg: DictConfig, seeds: list[int], obs_dim: int, act_dim: int, device: torch.device) -> SAC:
    """One agent training every seed of `seeds` as a member: member g starts as the agent `torch.manual_seed(
    seeds[g])` then build_agent gives, and its noise stream continues from the generator state that build leaves,
    so it draws what that single-seed run would draw."""
    singles, states = [], []
    for seed in seeds:
        torch.manual_seed(seed)
        singles.append(build_agent(cfg, obs_dim, act_dim, device))
        states.append(torch.cuda.get_rng_state(device) if device.type == "cuda" else torch.get_rng_state())
    group = build_agent(cfg, obs_dim, act_dim, device, Members.from_states(states, device))
    stack_agents(group, singles)
    return group


def build_buffer(cfg: DictConfig, obs_dim: int, act_dim: int, device: torch.device,
                 members: Members | None = None) -> ReplayBuffer:
    capacity = min(cfg.buffer_size, cfg.total_steps)
    group = 1 if members is None else members.size
    check_buffer_fits(group * capacity, 2 * obs_dim + act_dim + 2, device)
    return ReplayBuffer(obs_dim, act_dim, capacity=capacity, device=device, members=members)


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


def member_configs(cfg: DictConfig) -> list[DictConfig]:
    """The config of each seed's run folder: the group's with `seed` set to that seed (so that its identity,
    saved config and tables are a single run's of that seed), `seeds` kept (so that only the group resumes it).
    A single run (`seeds` null) is its own only member."""
    if cfg.seeds is None:
        return [cfg]
    return [OmegaConf.merge(cfg, {"seed": seed}) for seed in cfg.seeds]


def build_logger(cfg: DictConfig, run_dir: Path, identity: RunIdentity) -> MetricsLogger:
    """The CSV record plus the sinks `logger.sinks` names. W&B groups runs as the folders do: group
    experiment/task/label, one run per seed, job_type the algorithm, and its config carries the identity."""
    sinks = []
    for name in cfg.logger.sinks:
        if name == "console":
            sinks.append(ConsoleSink(cfg.total_steps, name="" if cfg.seeds is None else f"seed {identity.seed}"))
        elif name == "tensorboard":
            sinks.append(TensorBoardSink(run_dir))
        elif name == "wandb" and cfg.logger.mode != "disabled":
            group = f"{identity.experiment}/{identity.task}/{identity.label}"
            config = {**OmegaConf.to_container(cfg, resolve=True),
                      "identity": {"label": identity.label, "variant": identity.variant, "changes": identity.changes}}
            tags = [identity.task, identity.algo, identity.estimator, identity.experiment] + (
                [identity.variant] if identity.variant else [])
            sinks.append(WandbSink(run_dir, config, mode=cfg.logger.mode, project=cfg.logger.project,
                                   entity=cfg.logger.entity, group=group, job_type=identity.algo,
                                   name=f"{group}/seed{identity.seed}", tags=tags,
                                   process_dir=Path(cfg.run_root) / identity.experiment / WANDB_PROCESS_DIR))
    return MetricsLogger(run_dir, sinks)


def build_trainer(cfg: DictConfig, run_dir: Path, identity: RunIdentity, device: torch.device,
                  stop: StopRequest | None = None) -> Trainer:
    """Every part of one run, handed to the Trainer; the caller runs it and closes what it opened."""
    env, eval_env = build_envs(cfg)
    obs_dim, act_dim = dims(env)
    agent = build_agent(cfg, obs_dim, act_dim, device)
    buffer = build_buffer(cfg, obs_dim, act_dim, device)
    logger = build_logger(cfg, run_dir, identity)
    return Trainer(env, eval_env, agent, buffer, logger, run_dir, seed=cfg.seed, total_steps=cfg.total_steps,
                   warmup_steps=cfg.warmup_steps, batch_size=cfg.sac.batch_size, eval_every=cfg.eval_every,
                   eval_episodes=cfg.eval_episodes, eval_deterministic=cfg.eval_deterministic,
                   log_every=cfg.log_every, checkpoint_every=cfg.checkpoint_every,
                   diagnostic_states=cfg.diagnostics.num_states, diagnostic_samples=cfg.diagnostics.num_samples,
                   knn_k=cfg.diagnostics.knn_k, progress=cfg.progress, stop=stop, video_every=cfg.video_every,
                   video_frames=cfg.video_frames, knn_method=cfg.diagnostics.knn_method,
                   warmup_action_range=cfg.env.warmup_action_range)


def build_group_trainer(cfg: DictConfig, run_dirs: list[Path], identities: list[RunIdentity], device: torch.device,
                        stop: StopRequest | None = None) -> GroupTrainer:
    """Every part of a group run (`seeds`): per seed its envs and logger, one group agent and buffer, and a
    single-seed agent that evaluates one member at a time."""
    members = []
    for seed, run_dir, identity in zip(cfg.seeds, run_dirs, identities):
        env, eval_env = build_envs(cfg)
        members.append(MemberRun(seed, run_dir, env, eval_env, build_logger(cfg, run_dir, identity)))
    obs_dim, act_dim = dims(members[0].env)
    agent = build_group_agent(cfg, list(cfg.seeds), obs_dim, act_dim, device)
    probe = build_agent(cfg, obs_dim, act_dim, device)
    buffer = build_buffer(cfg, obs_dim, act_dim, device, members=agent.members)
    return GroupTrainer(members, agent, probe, buffer, total_steps=cfg.total_steps, warmup_steps=cfg.warmup_steps,
                        batch_size=cfg.sac.batch_size, eval_every=cfg.eval_every, eval_episodes=cfg.eval_episodes,
                        eval_deterministic=cfg.eval_deterministic, log_every=cfg.log_every,
                        checkpoint_every=cfg.checkpoint_every, diagnostic_states=cfg.diagnostics.num_states,
                        diagnostic_samples=cfg.diagnostics.num_samples, knn_k=cfg.diagnostics.knn_k,
                        progress=cfg.progress, stop=stop, video_every=cfg.video_every,
                        video_frames=cfg.video_frames, knn_method=cfg.diagnostics.knn_method,
                        warmup_action_range=cfg.env.warmup_action_range)


def dims(env: gym.Env) -> tuple[int, int]:
    return int(np.prod(env.observation_space.shape)), int(np.prod(env.action_space.shape))

"""Evaluation episodes and entropy diagnostics, seeded from (seed, step) so they never touch training RNG."""

from __future__ import annotations

from contextlib import contextmanager

import gymnasium as gym
import numpy as np
import torch

from algos.diagnostics import entropy_report
from algos.knn_reference import KNN_DEFAULT
from algos.sac import SAC
from runner.video import Clip


def _seed(*parts: int) -> int:
    return int(np.random.SeedSequence(list(parts)).generate_state(1)[0])


@contextmanager
def _forked_rng(agent: SAC, *seed_parts: int):
    """Draw from torch's RNG reseeded from `seed_parts`, and restore the training RNG afterwards."""
    with torch.random.fork_rng(devices=[agent.device] if agent.device.type == "cuda" else []):
        torch.manual_seed(_seed(*seed_parts))
        yield


def play_episodes(agent: SAC, env: gym.Env, episodes: int, deterministic: bool, seed: int, step: int,
                  clip: Clip | None = None) -> tuple[list[float], list[int]]:
    """The undiscounted return and the length of each of `episodes` episodes; `clip` records the first one.

    Each episode's start state is seeded from (seed, step, episode), and a sampling policy draws under a forked
    torch RNG, so evaluating (or not) leaves the training trajectory unchanged, which exact resume relies on, and
    the same checkpoint evaluated again plays the same episodes.
    """
    returns, lengths = [], []
    with _forked_rng(agent, seed, step):
        for episode in range(episodes):
            obs, _ = env.reset(seed=_seed(seed, step, episode))
            done, total, length = False, 0.0, 0
            while not done:
                obs, reward, terminated, truncated, _ = env.step(agent.act(obs, eval_mode=deterministic))
                if clip is not None and episode == 0:
                    clip.capture(env)
                total += float(reward)
                length += 1
                done = terminated or truncated
            returns.append(total)
            lengths.append(length)
    return returns, lengths


def run_episodes(agent: SAC, env: gym.Env, episodes: int, deterministic: bool, seed: int, step: int,
                 clip: Clip | None = None) -> dict:
    """An evaluation row: mean and std of the return over `episodes` episodes (play_episodes), how they acted."""
    returns, lengths = play_episodes(agent, env, episodes, deterministic, seed, step, clip)
    return {"return_mean": float(np.mean(returns)), "return_std": float(np.std(returns)), "episodes": episodes,
            "eval_mode": "mean_action" if deterministic else "sampled_action",
            "length_mean": float(np.mean(lengths))}


def entropy_diagnostics(agent: SAC, obs: torch.Tensor, num_samples: int, knn_k: int, seed: int, step: int,
                        knn_method: str = KNN_DEFAULT) -> dict:
    """The estimator's entropy estimate, bounds and reference on a fixed batch of states."""
    with _forked_rng(agent, seed, step, 1):
        return entropy_report(agent.estimator, obs, num_samples, knn_k, knn_method)

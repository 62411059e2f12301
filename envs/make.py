"""Builds a task with actions rescaled to [-1, 1], the range every policy emits after tanh."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium.wrappers import RescaleAction


class EnvSpecError(ValueError):
    """The task id names no registered gymnasium environment, or one SAC cannot drive."""


def make_env(env_id: str) -> gym.Env:
    """A gymnasium env whose Box action space is rescaled to [-1, 1]^d. Seeding is the caller's (first reset)."""
    try:
        gym.spec(env_id)
    except gym.error.Error as err:
        raise EnvSpecError(f"unknown task id {env_id!r}: {err}") from None
    env = gym.make(env_id)
    if not isinstance(env.action_space, gym.spaces.Box):
        raise EnvSpecError(f"{env_id} has a {type(env.action_space).__name__} action space; SAC needs a Box")
    bound = np.ones(env.action_space.shape, dtype=np.float32)  # float32 bounds: no precision warning
    return RescaleAction(env, min_action=-bound, max_action=bound)


def get_rng_state(env: gym.Env) -> dict:
    """The state of the env's own generator (initial-state noise), for checkpoints."""
    return env.unwrapped.np_random.bit_generator.state


def set_rng_state(env: gym.Env, state: dict) -> None:
    generator = np.random.Generator(getattr(np.random, state["bit_generator"])())
    generator.bit_generator.state = state
    env.unwrapped.np_random = generator

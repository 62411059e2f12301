"""Builds a task with actions rescaled to [-1, 1], the range every policy emits after tanh."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
from gymnasium.wrappers import RescaleAction

SHADOW_MAP_SIZE = 1024  # pixels a side of a rendering env's shadow map (MuJoCo's default is 4096)


class EnvSpecError(ValueError):
    """The task id names no registered gymnasium environment, or one SAC cannot drive."""


def make_env(env_id: str, render_size: tuple[int, int] | None = None) -> gym.Env:
    """A gymnasium env whose Box action space is rescaled to [-1, 1]^d. Seeding is the caller's (first reset).

    With `render_size` (width, height) the env renders RGB frames on `render()`; rendering changes no step. MuJoCo
    tasks draw their shadows from a map of SHADOW_MAP_SIZE pixels a side: MuJoCo's default (4096) costs a software
    renderer most of its time per frame, for shadows that a small frame cannot show.
    """
    try:
        spec = gym.spec(env_id)
    except gym.error.Error as err:
        raise EnvSpecError(f"unknown task id {env_id!r}: {err}") from None
    with warnings.catch_warnings():
        # An older version is chosen on purpose (env.version: v4 is the paper's task on the maintained bindings):
        # gymnasium's advice to move to v5 on every construction says nothing the config does not.
        warnings.filterwarnings("ignore", message=".*is out of date. You should consider upgrading")
        if render_size is None:
            env = gym.make(env_id)
        elif "mujoco" in str(spec.entry_point):
            env = gym.make(env_id, render_mode="rgb_array", width=render_size[0], height=render_size[1])
            quality = env.unwrapped.model.vis.quality
            quality.shadowsize = min(quality.shadowsize, SHADOW_MAP_SIZE)
        else:
            env = gym.make(env_id, render_mode="rgb_array")
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


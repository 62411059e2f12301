"""EpisodeLog: an env rebuilt mid-episode from a checkpoint continues bit for bit as the original does."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from envs import make_env
from envs.episode import EpisodeLog
from envs.make import get_rng_state


def play(env, log: EpisodeLog, actions: np.ndarray) -> list[tuple]:
    """Steps through `actions`, starting a new episode (from the env's own generator) whenever one ends."""
    trace = []
    for action in actions:
        obs, reward, terminated, truncated, _ = log.step(env, action)
        trace.append((obs.copy(), reward, terminated, truncated))
        if terminated or truncated:
            obs, _ = log.reset(env)
            trace.append((obs.copy(),))
    return trace


# Ant reads contact forces and its torso position, quantities MuJoCo derives from the step before: a restored
# simulator state alone would get them wrong; a replayed episode gets them right.
@pytest.mark.parametrize("env_id", ["Hopper-v5", "Ant-v5"])
def test_restored_env_continues_exactly(env_id: str):
    rng = np.random.default_rng(0)
    env, log = make_env(env_id), EpisodeLog()
    log.reset(env, seed=3)
    dim = env.action_space.shape[0]
    play(env, log, rng.uniform(-1, 1, (150, dim)).astype(np.float32))
    saved = copy.deepcopy(log.state_dict())
    later = rng.uniform(-1, 1, (120, dim)).astype(np.float32)
    original = play(env, log, later)

    fresh, fresh_log = make_env(env_id), EpisodeLog()
    fresh_log.restore(fresh, saved)
    replayed = play(fresh, fresh_log, later)
    assert len(replayed) == len(original)
    for a, b in zip(original, replayed):
        assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert get_rng_state(fresh) == get_rng_state(env)
    env.close()
    fresh.close()


def test_episode_after_a_reset_from_the_generator_is_restored_too():
    env, log = make_env("InvertedPendulum-v5"), EpisodeLog()
    log.reset(env, seed=0)
    actions = np.full((400, 1), 1.0, dtype=np.float32)  # pushes the pole over: several episodes end
    trace = play(env, log, actions)
    assert sum(len(t) == 1 for t in trace) >= 2 and "rng" in log.state_dict()["start"]
    saved, obs = log.state_dict(), trace[-1][0]
    fresh = make_env("InvertedPendulum-v5")
    assert np.array_equal(EpisodeLog().restore(fresh, saved), obs)


def test_replay_into_another_task_is_refused():
    env, log = make_env("InvertedPendulum-v5"), EpisodeLog()
    log.reset(env, seed=0)
    play(env, log, np.zeros((20, 1), dtype=np.float32))
    saved = log.state_dict()
    saved["actions"] = np.full((200, 1), 1.0, dtype=np.float32)  # more steps than the episode can survive
    with pytest.raises(RuntimeError, match="ended before"):
        EpisodeLog().restore(make_env("InvertedPendulum-v5"), saved)

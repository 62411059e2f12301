"""The states scripts.init_spread measures the implicit policy on."""

from __future__ import annotations

import gymnasium as gym
import pytest
import torch

from scripts.init_spread import make_states


@pytest.fixture
def env():
    env = gym.make("Hopper-v5")
    yield env
    env.close()


def test_normal_states_are_seeded_standard_normal_vectors(env):
    states = make_states(env, "normal", 5, seed=3)
    assert torch.equal(states, torch.randn(5, 11, generator=torch.Generator().manual_seed(3)))


def test_reset_states_are_distinct_resets(env):
    states = make_states(env, "reset", 4, seed=0)
    assert torch.equal(states[1], torch.as_tensor(env.reset(seed=1)[0], dtype=torch.float32))
    assert len({tuple(row.tolist()) for row in states}) == 4


def test_visited_states_start_at_the_seeded_reset_and_move(env):
    states = make_states(env, "visited", 6, seed=2)
    assert torch.equal(states[0], torch.as_tensor(env.reset(seed=2)[0], dtype=torch.float32))
    assert not torch.equal(states[0], states[5])

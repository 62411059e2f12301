"""The replay buffer keeps each transition's fields together through the ring, sampling and a checkpoint."""

import numpy as np
import pytest
import torch

from algos.replay import ReplayBuffer


def _filled(obs_dim: int, act_dim: int, capacity: int, adds: int) -> ReplayBuffer:
    buffer = ReplayBuffer(obs_dim, act_dim, capacity, torch.device("cpu"))
    for i in range(adds):  # every field of transition i encodes i
        buffer.add(np.full(obs_dim, i, np.float32), np.full(act_dim, -i, np.float32), 0.5 * i,
                   np.full(obs_dim, i + 100, np.float32), i % 2 == 0)
    return buffer


@pytest.mark.parametrize("obs_dim,act_dim", [(4, 1), (17, 6)])
def test_samples_keep_transitions_whole(obs_dim: int, act_dim: int):
    buffer = _filled(obs_dim, act_dim, capacity=10, adds=13)
    assert (buffer.size, buffer.position) == (10, 3)
    torch.manual_seed(0)
    batch = buffer.sample(64)
    i = batch.obs[:, 0]
    assert batch.obs.shape == (64, obs_dim) and batch.action.shape == (64, act_dim)
    assert set(i.tolist()) == set(range(3, 13))  # 0, 1, 2 were overwritten by 10, 11, 12
    assert torch.equal(batch.obs, i[:, None].expand(-1, obs_dim))
    assert torch.equal(batch.action, -i[:, None].expand(-1, act_dim))
    assert torch.equal(batch.reward, 0.5 * i)
    assert torch.equal(batch.next_obs, i[:, None].expand(-1, obs_dim) + 100)
    assert torch.equal(batch.terminated, (i % 2 == 0).float())


def test_state_round_trip_holds_only_what_was_added():
    buffer = _filled(3, 2, capacity=1000, adds=7)
    state = buffer.state_dict()
    assert all(state[k].shape[0] == 7 and state[k].untyped_storage().nbytes() == state[k].nbytes
               for k in ("obs", "action", "reward", "next_obs", "terminated"))
    restored = ReplayBuffer(3, 2, 1000, torch.device("cpu"))
    restored.load_state_dict(state)
    assert (restored.size, restored.position) == (7, 7)
    assert torch.equal(restored.storage, buffer.storage)

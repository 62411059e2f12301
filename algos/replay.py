"""Replay buffer that lives on the training device, so sampling a batch never leaves it."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch


class Batch(NamedTuple):
    obs: torch.Tensor
    action: torch.Tensor
    reward: torch.Tensor
    next_obs: torch.Tensor
    terminated: torch.Tensor


class ReplayBuffer:
    """A ring buffer of transitions in preallocated device tensors; indices are drawn on the device.

    `terminated` is stored apart from time-limit truncation: only a true terminal state stops the bootstrap.
    """

    def __init__(self, obs_dim: int, act_dim: int, capacity: int, device: torch.device):
        self.capacity = capacity
        self.device = device
        self.obs = torch.zeros(capacity, obs_dim, device=device)
        self.next_obs = torch.zeros(capacity, obs_dim, device=device)
        self.action = torch.zeros(capacity, act_dim, device=device)
        self.reward = torch.zeros(capacity, device=device)
        self.terminated = torch.zeros(capacity, device=device)
        self.position = 0
        self.size = 0

    def add(self, obs: np.ndarray, action: np.ndarray, reward: float, next_obs: np.ndarray, terminated: bool):
        i = self.position
        self.obs[i] = torch.as_tensor(obs, device=self.device)
        self.action[i] = torch.as_tensor(action, device=self.device)
        self.reward[i] = float(reward)
        self.next_obs[i] = torch.as_tensor(next_obs, device=self.device)
        self.terminated[i] = float(terminated)
        self.position = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size: int) -> Batch:
        idx = torch.randint(0, self.size, (batch_size,), device=self.device)
        return Batch(self.obs[idx], self.action[idx], self.reward[idx], self.next_obs[idx], self.terminated[idx])

    def state_dict(self) -> dict:
        n = self.size
        return {"obs": self.obs[:n], "action": self.action[:n], "reward": self.reward[:n],
                "next_obs": self.next_obs[:n], "terminated": self.terminated[:n],
                "position": self.position, "size": n}

    def load_state_dict(self, state: dict) -> None:
        n = state["size"]
        if n > self.capacity:
            raise ValueError(f"checkpoint holds {n} transitions, more than the buffer's capacity {self.capacity}")
        for name in ("obs", "action", "reward", "next_obs", "terminated"):
            getattr(self, name)[:n] = state[name].to(self.device)
        self.position = state["position"]
        self.size = n

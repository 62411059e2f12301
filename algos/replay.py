"""Replay buffer that lives on the training device, so sampling a batch never leaves it."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from algos.members import Members, integers


class Batch(NamedTuple):
    obs: torch.Tensor
    action: torch.Tensor
    reward: torch.Tensor
    next_obs: torch.Tensor
    terminated: torch.Tensor


class ReplayBuffer:
    """A ring buffer of transitions in preallocated device tensors; indices are drawn on the device.

    `terminated` is stored apart from time-limit truncation: only a true terminal state stops the bootstrap.
    In a group (`members`), storage is [G, capacity, width], one ring per member filled in lockstep (`add` takes
    one transition per member, [G, .]), and each member draws its own indices from its own stream: batches
    [G, B, .], the memory of G single buffers and nothing shared between members.
    """

    def __init__(self, obs_dim: int, act_dim: int, capacity: int, device: torch.device,
                 members: Members | None = None):
        self.capacity = capacity
        self.device = device
        self.members = members
        # One row per transition, [obs | action | reward | next_obs | terminated], so that adding and sampling
        # are one copy and one gather each; the named fields are column views of it.
        widths = {"obs": obs_dim, "action": act_dim, "reward": None, "next_obs": obs_dim, "terminated": None}
        self._columns: dict[str, slice | int] = {}
        start = 0
        for name, width in widths.items():  # None: a scalar per transition, stored as one column
            self._columns[name] = start if width is None else slice(start, start + width)
            start += width or 1
        lead = () if members is None else (members.size,)
        self.storage = torch.zeros(*lead, capacity, start, device=device)
        self._row = np.zeros((*lead, start), dtype=np.float32)
        self.position = 0
        self.size = 0
        self.added = 0  # transitions ever added: position is added % capacity

    def _fields(self, rows: torch.Tensor) -> dict[str, torch.Tensor]:
        return {name: rows[..., column] for name, column in self._columns.items()}

    @property
    def obs(self) -> torch.Tensor:
        return self.storage[..., self._columns["obs"]]

    def add(self, obs: np.ndarray, action: np.ndarray, reward, next_obs: np.ndarray, terminated):
        """One transition, or one per member ([G, .] arrays, [G] rewards and flags) in a group."""
        row, columns = self._row, self._columns
        row[..., columns["obs"]], row[..., columns["action"]], row[..., columns["next_obs"]] = obs, action, next_obs
        row[..., columns["reward"]], row[..., columns["terminated"]] = reward, terminated
        self.storage[..., self.position, :] = torch.from_numpy(row)
        self.position = (self.position + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)
        self.added += 1

    def sample(self, batch_size: int) -> Batch:
        if self.members is None:
            idx = torch.randint(0, self.size, (batch_size,), device=self.device)
            return Batch(**self._fields(self.storage[idx]))
        idx = integers(self.members, self.size, (self.members.size, batch_size), self.device)
        return Batch(**self._fields(self.storage.gather(1, idx.unsqueeze(-1).expand(*idx.shape,
                                                                                    self.storage.shape[-1]))))

    def rows(self, g: int | None = None) -> torch.Tensor:
        """The ring's storage, [capacity, width], of member g in a group: what a checkpoint writes and reads."""
        return self.storage if g is None else self.storage[g]

    def ring_state(self) -> dict:
        return {"position": self.position, "size": self.size, "added": self.added}

    def set_ring_state(self, position: int, size: int, added: int) -> None:
        """The counters of rows just loaded into `rows()`; the members of a group share them."""
        if size > self.capacity or position != added % self.capacity:
            raise ValueError(f"ring counters position {position}, size {size}, added {added} do not fit a buffer "
                             f"of capacity {self.capacity}")
        self.position, self.size, self.added = position, size, added

    def state_dict(self, g: int | None = None) -> dict:
        """The whole buffer (member g's transitions in a group) in one dict: the format of the checkpoints that
        held it, still read when such a run resumes."""
        return self._state(self.rows(g))

    def load_state_dict(self, state: dict, g: int | None = None) -> None:
        """The inverse of state_dict; the members of a group fill in lockstep, so the ring counters must agree
        with the other members' (the caller loads every member from checkpoints of one step)."""
        self._load(self.rows(g), state)

    def _state(self, storage: torch.Tensor) -> dict:
        # Contiguous copies: a saved view would carry the whole preallocated storage into the checkpoint.
        fields = self._fields(storage[..., :self.size, :])
        return {**{name: field.contiguous() for name, field in fields.items()},
                "position": self.position, "size": self.size}

    def _load(self, storage: torch.Tensor, state: dict) -> None:
        n = state["size"]
        if n > self.capacity:
            raise ValueError(f"checkpoint holds {n} transitions, more than the buffer's capacity {self.capacity}")
        for name, field in self._fields(storage[..., :n, :]).items():
            field.copy_(state[name].to(self.device))
        self.position = state["position"]
        self.size = n
        self.added = n if n < self.capacity else self.capacity + self.position  # the count it had is not saved

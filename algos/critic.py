"""Clipped double-Q critic as one batched ensemble: both Q-networks run in a single batched matmul chain."""

from __future__ import annotations

import math

import torch
from torch import nn

from algos.members import Members
from algos.networks import ACTIVATIONS


class EnsembleLinear(nn.Module):
    """`num_members` independent linear layers applied with one baddbmm; input [E, B, in] -> [E, B, out].

    In a group of G seeds the parameters gain a leading axis ([G, E, in, out], [G, E, 1, out]: slice g is a
    single seed's layer) and the input is [G * E, B, in]: members and ensemble share one baddbmm.
    """

    def __init__(self, num_members: int, in_dim: int, out_dim: int, group: int | None = None):
        super().__init__()
        lead = (num_members,) if group is None else (group, num_members)
        bound = 1.0 / math.sqrt(in_dim)  # nn.Linear's default initialisation, member by member
        self.weight = nn.Parameter(torch.empty(*lead, in_dim, out_dim).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(*lead, 1, out_dim).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias.flatten(0, -3), x, self.weight.flatten(0, -3))


class DoubleQ(nn.Module):
    """Q_1..Q_E(s, a); two members by default, as in clipped double-Q learning (Fujimoto et al. 2018).

    members: a group of seeds (algos.members): inputs [G, B, .], Q-values [G, E, B]; None is one seed.
    """

    def __init__(self, obs_dim: int, act_dim: int, hidden_dim: int = 256, depth: int = 2,
                 activation: str = "relu", num_members: int = 2, members: Members | None = None):
        super().__init__()
        self.num_members = num_members
        self.members = members
        group = None if members is None else members.size
        widths = [obs_dim + act_dim] + [hidden_dim] * depth
        layers: list[nn.Module] = []
        for w_in, w_out in zip(widths[:-1], widths[1:]):
            layers += [EnsembleLinear(num_members, w_in, w_out, group), ACTIVATIONS[activation]()]
        layers.append(EnsembleLinear(num_members, widths[-1], 1, group))
        self.net = nn.Sequential(*layers)

    @property
    def member_axis(self) -> int:
        """The ensemble axis of every parameter: 0, or 1 behind the group axis of a group of seeds."""
        return 0 if self.members is None else 1

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """Q-values of every ensemble member, shape [E, B] ([G, E, B] in a group)."""
        inputs = torch.cat([obs, action], dim=-1)
        if self.members is None:
            return self.net(inputs.unsqueeze(0).expand(self.num_members, *inputs.shape)).squeeze(-1)
        group, batch = inputs.shape[0], inputs.shape[1]
        expanded = inputs.unsqueeze(1).expand(group, self.num_members, batch, inputs.shape[-1])
        q = self.net(expanded.reshape(group * self.num_members, batch, inputs.shape[-1]))
        return q.reshape(group, self.num_members, batch)

"""Clipped double-Q critic as one batched ensemble: both Q-networks run in a single batched matmul chain."""

from __future__ import annotations

import math

import torch
from torch import nn

from algos.networks import ACTIVATIONS


class EnsembleLinear(nn.Module):
    """`num_members` independent linear layers applied with one baddbmm; input [E, B, in] -> [E, B, out]."""

    def __init__(self, num_members: int, in_dim: int, out_dim: int):
        super().__init__()
        bound = 1.0 / math.sqrt(in_dim)  # nn.Linear's default initialisation, member by member
        self.weight = nn.Parameter(torch.empty(num_members, in_dim, out_dim).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(num_members, 1, out_dim).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


class DoubleQ(nn.Module):
    """Q_1..Q_E(s, a); two members by default, as in clipped double-Q learning (Fujimoto et al. 2018)."""

    def __init__(self, obs_dim: int, act_dim: int, hidden_dim: int = 256, depth: int = 2,
                 activation: str = "relu", num_members: int = 2):
        super().__init__()
        self.num_members = num_members
        widths = [obs_dim + act_dim] + [hidden_dim] * depth
        layers: list[nn.Module] = []
        for w_in, w_out in zip(widths[:-1], widths[1:]):
            layers += [EnsembleLinear(num_members, w_in, w_out), ACTIVATIONS[activation]()]
        layers.append(EnsembleLinear(num_members, widths[-1], 1))
        self.net = nn.Sequential(*layers)

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """Q-values of every member, shape [E, B]."""
        inputs = torch.cat([obs, action], dim=-1)
        return self.net(inputs.unsqueeze(0).expand(self.num_members, *inputs.shape)).squeeze(-1)

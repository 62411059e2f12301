"""A linear layer with a member axis: G independent nn.Linear layers applied in one batched matmul."""

from __future__ import annotations

import math

import torch
from torch import nn

from algos.members import Members


class GroupLinear(nn.Module):
    """Member g's weight [out, in] and bias [out] are slice g of `weight` [G, out, in] and `bias` [G, out]: the
    shapes and names of nn.Linear with a leading axis, so a member's slice is a single-seed layer's state.

    Input [G, *middle, in] -> [G, *middle, out]; the middle axes are flattened into one baddbmm over members.
    """

    def __init__(self, group: int, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        bound = 1.0 / math.sqrt(in_features)  # nn.Linear's default initialisation, member by member
        self.weight = nn.Parameter(torch.empty(group, out_features, in_features).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(group, out_features).uniform_(-bound, bound)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(x.shape[0], -1, x.shape[-1])
        weight = self.weight.transpose(1, 2)
        out = torch.bmm(flat, weight) if self.bias is None else torch.baddbmm(self.bias.unsqueeze(1), flat, weight)
        return out.reshape(*x.shape[:-1], self.out_features)


def linear(in_features: int, out_features: int, bias: bool = True, members: Members | None = None) -> nn.Module:
    """nn.Linear without a group (today's layer, parameters and numbers), GroupLinear with one."""
    if members is None:
        return nn.Linear(in_features, out_features, bias=bias)
    return GroupLinear(members.size, in_features, out_features, bias=bias)

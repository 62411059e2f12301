"""The one network factory every module uses (`mlp`), and the two shapes built from it (`encoder`, `ContextMLP`)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import torch
from torch import nn

from algos.group_linear import linear
from algos.members import Members

ACTIVATIONS = {"relu": nn.ReLU, "elu": nn.ELU, "tanh": nn.Tanh, "softplus": nn.Softplus, "silu": nn.SiLU}


@contextmanager
def frozen(params: Iterable[nn.Parameter]) -> Iterator[None]:
    """Inside the block the parameters are constants to autograd: a loss built there sends them no gradient, and
    its backward pass skips their weight gradients. Cheaper than running the module on detached copies."""
    trainable = [p for p in params if p.requires_grad]
    for p in trainable:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in trainable:
            p.requires_grad_(True)


def mlp(in_dim: int, out_dim: int, hidden_dim: int = 256, depth: int = 2, activation: str = "relu",
        members: Members | None = None) -> nn.Sequential:
    """An MLP with `depth` hidden layers of `hidden_dim` units; depth 0 is a single linear map. With `members`,
    every layer has the member axis (algos.group_linear)."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose from {sorted(ACTIVATIONS)}")
    layers: list[nn.Module] = []
    width = in_dim
    for _ in range(depth):
        layers += [linear(width, hidden_dim, members=members), ACTIVATIONS[activation]()]
        width = hidden_dim
    layers.append(linear(width, out_dim, members=members))
    return nn.Sequential(*layers)


def encoder(in_dim: int, width: int = 256, depth: int = 1, activation: str = "relu",
            members: Members | None = None) -> nn.Module:
    """`depth` layers of Linear + activation, the last one included, so the features feed another network;
    depth 0 passes the input through unchanged."""
    if depth == 0:
        return nn.Identity()
    return nn.Sequential(*mlp(in_dim, width, width, depth - 1, activation, members), ACTIVATIONS[activation]())


class ContextMLP(nn.Module):
    """An MLP over the concatenation [x, c] whose first layer is split into W_x x + W_c c.

    When many x share one context c (many samples per state), W_c c is computed once per context row by
    `project_context` and broadcast, instead of once per sample: the same function, far fewer FLOPs. It also
    starts as that function: both halves and the bias are drawn as nn.Linear draws the single layer over the
    concatenation, with the bound 1/sqrt(in_dim + context_dim) of the full fan-in (each half's own, smaller fan-in
    would start the x weights several times wider).
    """

    def __init__(self, in_dim: int, context_dim: int, out_dim: int, hidden_dim: int = 256, depth: int = 2,
                 activation: str = "relu", members: Members | None = None):
        super().__init__()
        if depth < 1:
            raise ValueError(f"ContextMLP needs at least one hidden layer, got depth={depth}")
        self.input_layer = linear(in_dim, hidden_dim, members=members)
        self.context_layer = linear(context_dim, hidden_dim, bias=False, members=members)
        bound = 1.0 / math.sqrt(in_dim + context_dim)
        for tensor in (self.input_layer.weight, self.input_layer.bias, self.context_layer.weight):
            nn.init.uniform_(tensor, -bound, bound)
        self.activation = ACTIVATIONS[activation]()
        self.trunk = mlp(hidden_dim, out_dim, hidden_dim, depth - 1, activation, members)

    def project_context(self, context: torch.Tensor) -> torch.Tensor:
        """W_c c for each context row; insert singleton axes before broadcasting against x's sample axes."""
        return self.context_layer(context)

    def forward(self, x: torch.Tensor, context_projection: torch.Tensor) -> torch.Tensor:
        return self.trunk(self.activation(self.input_layer(x) + context_projection))

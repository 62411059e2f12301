"""The one network factory every module uses."""

from __future__ import annotations

from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "elu": nn.ELU, "tanh": nn.Tanh, "softplus": nn.Softplus, "silu": nn.SiLU}


def mlp(in_dim: int, out_dim: int, hidden_dim: int = 256, depth: int = 2, activation: str = "relu") -> nn.Sequential:
    """An MLP with `depth` hidden layers of `hidden_dim` units; depth 0 is a single linear map."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose from {sorted(ACTIVATIONS)}")
    layers: list[nn.Module] = []
    width = in_dim
    for _ in range(depth):
        layers += [nn.Linear(width, hidden_dim), ACTIVATIONS[activation]()]
        width = hidden_dim
    layers.append(nn.Linear(width, out_dim))
    return nn.Sequential(*layers)

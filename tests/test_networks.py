"""A split first layer (ContextMLP) starts as the single layer over the concatenation it stands for."""

import math

import pytest
import torch

from algos.members import Members
from algos.networks import ContextMLP


@pytest.mark.parametrize("members", [None, Members([torch.Generator() for _ in range(3)])])
def test_split_first_layer_is_drawn_with_the_full_fan_in_bound(members):
    """nn.Linear(in + context, hidden) draws weight and bias from U(-b, b), b = 1/sqrt(in + context). The noise
    half here has fan-in 10 (its own bound 0.32) and the context half 246: each must use b = 1/16 instead."""
    torch.manual_seed(0)
    in_dim, context_dim, hidden = 10, 246, 256
    net = ContextMLP(in_dim, context_dim, 4, hidden, depth=1, activation="elu", members=members)
    bound = 1.0 / math.sqrt(in_dim + context_dim)
    for tensor in (net.input_layer.weight, net.input_layer.bias, net.context_layer.weight):
        assert tensor.abs().max() <= bound
        assert tensor.abs().max() > 0.95 * bound  # spread over the whole range, not shrunk below it
        assert tensor.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.1)  # uniform's std


def test_split_layer_computes_the_single_layer_over_the_concatenation():
    torch.manual_seed(1)
    net = ContextMLP(3, 5, 2, hidden_dim=8, depth=1, activation="relu")
    x, c = torch.randn(7, 3), torch.randn(7, 5)
    single = torch.nn.Linear(8, 8)
    with torch.no_grad():
        single.weight.copy_(torch.cat([net.input_layer.weight, net.context_layer.weight], dim=1))
        single.bias.copy_(net.input_layer.bias)
    expected = net.trunk(net.activation(single(torch.cat([x, c], dim=-1))))
    torch.testing.assert_close(net(x, net.project_context(c)), expected)

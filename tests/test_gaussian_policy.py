"""The Gaussian policy's two log-std maps: where a fresh policy starts, and where gradients stop."""

from __future__ import annotations

import math

import pytest
import torch

from algos.policies import GaussianPolicy


def log_std_of(policy: GaussianPolicy, raw: torch.Tensor) -> torch.Tensor:
    """The policy's log-std for a given raw output of its last layer (its mean half is zero)."""
    last = policy.net[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.copy_(torch.cat([torch.zeros_like(raw), raw]))
    return policy._mean_log_std(torch.zeros(1, policy.obs_dim))[1][0]


def test_tanh_map_starts_mid_range_and_clip_map_starts_at_the_raw_output():
    raw = torch.tensor([0.0, 0.5])
    smooth = log_std_of(GaussianPolicy(3, 2, hidden_dim=8, log_std_min=-5.0, log_std_max=2.0), raw)
    clipped = log_std_of(GaussianPolicy(3, 2, hidden_dim=8, log_std_min=-20.0, log_std_max=2.0,
                                        log_std_map="clip"), raw)
    assert smooth[0].item() == pytest.approx(-1.5)  # the middle of [-5, 2]
    assert smooth[1].item() == pytest.approx(-5.0 + 3.5 * (math.tanh(0.5) + 1.0), abs=1e-6)
    assert torch.equal(clipped, raw)  # std exp(0) = 1 for a zero output


def test_clip_map_bounds_the_log_std_and_stops_its_gradient_outside():
    policy = GaussianPolicy(3, 2, hidden_dim=8, log_std_min=-20.0, log_std_max=2.0, log_std_map="clip")
    log_std = log_std_of(policy, torch.tensor([5.0, -30.0]))
    assert log_std.tolist() == [2.0, -20.0]
    log_std.sum().backward()
    assert torch.all(policy.net[-1].bias.grad == 0)


def test_unknown_map_is_refused():
    with pytest.raises(ValueError, match="log_std_map"):
        GaussianPolicy(3, 2, log_std_map="softplus")

"""Implicit policy: shapes, the zero-noise mode, and the Jacobian-clamping penalty against known answers."""

import pytest
import torch

from algos.policies.base import PolicySample
from algos.policies.implicit import ImplicitPolicy, jacobian_clamping_loss

OBS_DIM, ACT_DIM, NOISE_DIM = 5, 3, 10


def small_policy(**kwargs) -> ImplicitPolicy:
    torch.manual_seed(0)
    return ImplicitPolicy(OBS_DIM, ACT_DIM, noise_dim=NOISE_DIM, hidden_dim=32, head_dim=32, **kwargs)


def test_sample_shapes_and_mode_is_the_image_of_zero_noise():
    policy, obs = small_policy(), torch.randn(4, OBS_DIM)
    one, many = policy.sample(obs), policy.sample(obs, 7)
    assert one.x.shape == (4, ACT_DIM) and one.noise.shape == (4, NOISE_DIM) and one.log_prob is None
    assert many.x.shape == (4, 7, ACT_DIM) and many.noise.shape == (4, 7, NOISE_DIM)
    features = policy.head.project_context(policy.encoder(obs))
    assert torch.allclose(policy.mode(obs), policy.head(torch.zeros(4, NOISE_DIM), features))
    assert torch.allclose(policy.head(one.noise, features), one.x)  # x is g(eps, s) for the returned eps


def linear_map_penalty(matrix: torch.Tensor, eta: float, step: float = 0.01) -> torch.Tensor:
    eps = torch.randn(64, matrix.shape[1])
    direction = torch.randn(64, 10, matrix.shape[1])
    x, x_perturbed = eps @ matrix.T, (eps.unsqueeze(-2) + step * direction) @ matrix.T
    return jacobian_clamping_loss(x.unsqueeze(-2), x_perturbed, direction, step, eta)


def test_clamping_is_zero_for_a_well_conditioned_linear_map():
    # Every singular value of 2 * Q (Q orthogonal) is 2, so every probed squared stretch is 4 > eta.
    orthogonal, _ = torch.linalg.qr(torch.randn(4, 4))
    assert linear_map_penalty(2.0 * orthogonal, eta=0.1) == 0.0


def test_clamping_is_positive_for_a_collapsed_linear_map():
    # A map that shrinks every direction to 0.01 of its length: squared stretch 1e-4, penalty (1e-4 - eta)^2.
    orthogonal, _ = torch.linalg.qr(torch.randn(4, 4))
    penalty = linear_map_penalty(0.01 * orthogonal, eta=0.1)
    assert penalty == pytest.approx((1e-4 - 0.1) ** 2, rel=1e-3)


def test_policy_penalty_contract_weight_schedule_and_off_switch():
    policy, obs = small_policy(weight_power=1.1, weight_rate=1e-3, weight_max=1.5), torch.randn(4, OBS_DIM)
    with torch.no_grad():
        policy.head.trunk[-1].weight.zero_()  # a collapsed policy: x does not depend on eps
    sample = policy.sample(obs)
    loss, metrics = policy.penalty(obs, sample)
    assert loss.requires_grad and not metrics["train/jacobian_penalty"].requires_grad
    assert float(metrics["train/jacobian_penalty"]) == pytest.approx(policy.eta**2)  # stretch 0: (0 - eta)^2
    assert float(metrics["train/jacobian_weight"]) == 1.0  # i = 0
    policy.clamping_step.fill_(100)
    assert float(policy.clamping_weight()) == pytest.approx(1.0 + 1e-3 * 100**1.1)
    policy.clamping_step.fill_(10**6)
    assert float(policy.clamping_weight()) == 1.5  # capped
    assert "clamping_step" in policy.state_dict()  # checkpointed with the policy
    assert small_policy(jacobian_clamping=False).penalty(obs, sample) is None


def test_penalty_handles_many_samples_per_state():
    policy, obs = small_policy(), torch.randn(4, OBS_DIM)
    sample = policy.sample(obs, 6)
    loss, _ = policy.penalty(obs, PolicySample(x=sample.x, noise=sample.noise))
    loss.backward()
    assert all(p.grad is not None for p in policy.head.parameters())

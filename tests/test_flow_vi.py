"""The flow policy's exact density and the VI bounds, against a linear flow whose law is a known Gaussian."""

import math

import pytest
import torch
from torch import nn

from algos.diagnostics import entropy_report
from algos.estimators import ExactEstimator, VIBoundEstimator
from algos.policies import FlowPolicy
from algos.policies.base import PUSHFORWARD_END

OBS_DIM, ACT_DIM, STEPS = 2, 2, 4
VELOCITY = torch.tensor([[0.4, -0.9], [0.6, -0.3]])  # v(x) = A x; dt * |A| < 1 keeps the Euler map invertible
Q_TRAIN_STEPS, Q_BATCH, Q_LR = 400, 256, 3e-3


class LinearVelocity(nn.Module):
    """v(x, t, s) = A x behind the velocity network's interface (project_context, then forward on [x, t])."""

    def __init__(self, matrix: torch.Tensor):
        super().__init__()
        self.matrix = nn.Parameter(matrix.clone())

    def project_context(self, obs: torch.Tensor) -> torch.Tensor:
        return obs.new_zeros(*obs.shape[:-1], 1)

    def forward(self, x_and_t: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        return x_and_t[..., :-1] @ self.matrix.T + 0.0 * context


def linear_flow(noise_std: float) -> tuple[FlowPolicy, torch.Tensor]:
    """A flow whose velocity is exactly v(x, t, s) = A x. Returns the policy and M = (I + dt A)^K, so that
    x_K = M z and x ~ N(0, M M^T + sigma^2 I)."""
    policy = FlowPolicy(OBS_DIM, ACT_DIM, steps=STEPS, noise_std=noise_std, hidden_dim=8, depth=1)
    policy.velocity = LinearVelocity(VELOCITY)
    return policy, torch.linalg.matrix_power(torch.eye(ACT_DIM) + VELOCITY / STEPS, STEPS)


def gaussian_entropy(cov: torch.Tensor) -> float:
    return 0.5 * cov.shape[-1] * math.log(2 * math.pi * math.e) + 0.5 * torch.logdet(cov).item()


def test_exact_estimator_matches_the_closed_form_gaussian():
    torch.manual_seed(0)
    policy, flow_matrix = linear_flow(noise_std=0.0)
    cov = flow_matrix @ flow_matrix.T
    obs = torch.randn(4, OBS_DIM)
    sample = policy.sample(obs, num_samples=1000)
    log_prob = ExactEstimator(policy).log_prob(obs.unsqueeze(1).expand(4, 1000, OBS_DIM), sample)
    closed_form = torch.distributions.MultivariateNormal(torch.zeros(ACT_DIM), cov).log_prob(sample.x)
    assert torch.allclose(log_prob, closed_form, atol=1e-4)
    # Monte Carlo entropy over 4000 draws: its standard error is sqrt(d / 2 / 4000) ~ 0.016 nats
    assert abs(-log_prob.mean().item() - gaussian_entropy(cov)) < 0.05


def test_batched_jacobian_log_det_and_its_gradient_match_a_per_sample_loop():
    """vmap(jacrev) on a nonlinear flow equals autograd's Jacobian sample by sample, in value and in gradient."""
    torch.manual_seed(0)
    policy = FlowPolicy(3, 2, steps=3, noise_std=0.0, hidden_dim=16, activation="silu")
    obs, z = torch.randn(5, 3), torch.randn(5, 2)
    _, log_det = policy.push_with_log_det(obs, z)
    reference = torch.stack([
        torch.linalg.slogdet(torch.autograd.functional.jacobian(
            lambda z_one: policy.push(obs_one, z_one), z_one, create_graph=True)).logabsdet
        for obs_one, z_one in zip(obs, z)])
    assert torch.allclose(log_det, reference, atol=1e-5)
    params = list(policy.parameters())
    for got, want in zip(torch.autograd.grad(log_det.sum(), params), torch.autograd.grad(reference.sum(), params)):
        assert torch.allclose(got, want, atol=1e-5)


def test_vi_bounds_sandwich_the_true_entropy_and_tighten_when_q_trains():
    """H_vi <= H <= H_iw on x = M z + sigma e; training q shrinks upper - lower over 10x (3.7 -> 0.19 nats seen)."""
    torch.manual_seed(0)
    sigma = 0.3
    policy, flow_matrix = linear_flow(noise_std=sigma)
    truth = gaussian_entropy(flow_matrix @ flow_matrix.T + sigma**2 * torch.eye(ACT_DIM))
    estimator = VIBoundEstimator(policy, hidden_dim=64, lr=Q_LR, iw_samples=32)
    obs = torch.randn(4, OBS_DIM)
    monte_carlo_tolerance = 0.05  # 8000 draws per bound: standard errors ~0.02 nats once q is trained

    def bounds() -> tuple[float, float]:
        diagnostics = estimator.diagnostics(obs, num_samples=2000)
        return -diagnostics["lower"][0].mean().item(), -diagnostics["upper"][0].mean().item()

    lower, upper = bounds()
    assert lower < truth < upper
    gap_before = upper - lower
    for _ in range(Q_TRAIN_STEPS):
        batch_obs = torch.randn(Q_BATCH, OBS_DIM)
        estimator.update(batch_obs, policy.sample(batch_obs))
    lower, upper = bounds()
    assert lower < truth + monte_carlo_tolerance and upper > truth - monte_carlo_tolerance
    assert upper - lower < gap_before / 10, (gap_before, lower, truth, upper)
    assert truth - lower < 0.3  # q started at the prior, 2.7 nats below the truth


def test_q_update_moves_only_q_and_actor_loss_moves_only_the_policy():
    torch.manual_seed(0)
    policy = FlowPolicy(3, 2, steps=2, noise_std=0.1, hidden_dim=16)
    estimator = VIBoundEstimator(policy, hidden_dim=16)
    obs = torch.randn(8, 3)
    policy_before = [p.detach().clone() for p in policy.parameters()]
    q_before = [p.detach().clone() for p in estimator.parameters()]
    metrics = estimator.update(obs, policy.sample(obs))
    assert torch.isfinite(metrics["train/q_backward_nll"])
    assert all(p.grad is None for p in policy.parameters())
    assert all(torch.equal(p, before) for p, before in zip(policy.parameters(), policy_before))
    assert any(not torch.equal(p, before) for p, before in zip(estimator.parameters(), q_before))

    # q now depends on x (it starts at the prior, which does not), so the bound has a policy gradient
    estimator.zero_grad(set_to_none=True)
    estimator.actor_log_prob(obs, policy.sample(obs)).mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in policy.parameters())
    assert all(p.grad is None for p in estimator.parameters())


def test_flow_sample_carries_z_and_the_flow_end_and_mode_is_the_image_of_zero():
    torch.manual_seed(0)
    policy = FlowPolicy(3, 2, steps=1, noise_std=0.1, hidden_dim=16)
    obs = torch.randn(5, 3)
    sample = policy.sample(obs, num_samples=6)
    assert sample.x.shape == sample.noise.shape == sample.extras[PUSHFORWARD_END].shape == (5, 6, 2)
    assert sample.log_prob is None  # nobody pays for Jacobians unless the exact estimator asks
    assert torch.allclose(sample.extras[PUSHFORWARD_END], policy.push(obs.unsqueeze(1).expand(5, 6, 3), sample.noise))
    assert torch.allclose(policy.mode(obs), policy.push(obs, torch.zeros(5, 2)))


def test_exact_log_prob_refuses_a_noisy_flow():
    policy = FlowPolicy(3, 2, noise_std=0.1, hidden_dim=16)
    obs = torch.randn(2, 3)
    with pytest.raises(ValueError, match="noise_std=0.1 has none"):
        policy.exact_log_prob(obs, policy.sample(obs))


class KinkedVelocity(nn.Module):
    """v(x) = (-2 relu(x_0), 0): with one Euler step I + dv/dx = diag(-1, 1) where x_0 > 0, a fold."""

    def project_context(self, obs: torch.Tensor) -> torch.Tensor:
        return obs.new_zeros(*obs.shape[:-1], 1)

    def forward(self, x_and_t: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        x = x_and_t[..., :-1]
        return torch.stack([-2.0 * torch.relu(x[..., 0]), 0.0 * x[..., 1]], dim=-1) + 0.0 * context


class CubicVelocity(nn.Module):
    """One Euler step (dt = 1) of v(x) = x^3 - (3 c^2 + 1) x gives x' = x^3 - 3 c^2 x: its derivative 3 (x^2 - c^2)
    is negative for |x| < c, and the images of |x| <= 2 c, [-2 c^3, 2 c^3], have three preimages each."""

    def __init__(self, c: float):
        super().__init__()
        self.c = c

    def project_context(self, obs: torch.Tensor) -> torch.Tensor:
        return obs.new_zeros(*obs.shape[:-1], 1)

    def forward(self, x_and_t: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        x = x_and_t[..., :-1]
        return x**3 - (3 * self.c**2 + 1) * x + 0.0 * context


def test_sign_change_fraction_flags_the_orientation_reversing_share_a_lower_bound_on_the_folded_share():
    torch.manual_seed(0)
    c, obs = 0.5, torch.randn(4, OBS_DIM)
    policy = FlowPolicy(OBS_DIM, 1, steps=1, noise_std=0.0, hidden_dim=8, depth=1)
    policy.velocity = CubicVelocity(c)
    z = torch.randn(4, 4096, 1)
    x = policy.push(obs, z)
    assert torch.allclose(x, z**3 - 3 * c**2 * z, atol=1e-5)
    flagged = policy.sign_changed(obs, z)
    derivative = 3 * (z[..., 0] ** 2 - c**2)  # the step's determinant and, in 1-D, its singular value
    assert torch.equal(flagged, derivative < 1e-3)  # negative for |z| < c, or singular within 1e-3 of it
    # the samples whose exact density misses a branch: |z| <= 2 c, each image also reached from |z'| < c
    second_preimage = z[..., 0].abs() <= 2 * c
    assert torch.equal(flagged & ~second_preimage, torch.zeros_like(flagged))  # every flag is a folded sample
    fraction = entropy_report(ExactEstimator(policy), obs, num_samples=4096)["entropy/sign_change_fraction"]
    assert abs(fraction - math.erf(c / math.sqrt(2))) < 0.02  # P(|z| < c) = 0.383
    assert math.erf(2 * c / math.sqrt(2)) - fraction > 0.25  # P(|z| <= 2 c) = 0.683: the flag is a lower bound


def test_exact_estimator_reports_the_fraction_of_samples_where_the_euler_map_folds():
    torch.manual_seed(0)
    obs = torch.randn(4, OBS_DIM)
    policy, _ = linear_flow(noise_std=0.0)
    assert entropy_report(ExactEstimator(policy), obs, num_samples=64)["entropy/sign_change_fraction"] == 0.0
    policy = FlowPolicy(OBS_DIM, ACT_DIM, steps=1, noise_std=0.0, hidden_dim=8, depth=1)
    policy.velocity = KinkedVelocity()
    z = torch.randn(4, 256, ACT_DIM)
    assert torch.equal(policy.sign_changed(obs, z), z[..., 0] > 0)
    fraction = entropy_report(ExactEstimator(policy), obs, num_samples=256)["entropy/sign_change_fraction"]
    assert 0.4 < fraction < 0.6

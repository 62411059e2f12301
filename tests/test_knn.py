"""The Kozachenko-Leonenko reference against Gaussians of known entropy, and the diagnostics that use it."""

import math

import torch

from algos.diagnostics import entropy_report
from algos.estimators import ExactEstimator, VIBoundEstimator
from algos.knn import knn_entropy, log_unit_ball_volume, squashed_knn_entropy
from algos.policies import FlowPolicy, GaussianPolicy
from algos.squash import tanh_log_det

DIM, NUM_SAMPLES, NUM_STATES = 6, 2000, 4


def gaussian_entropy(cov: torch.Tensor) -> float:
    return 0.5 * cov.shape[-1] * math.log(2 * math.pi * math.e) + 0.5 * torch.logdet(cov).item()


def test_unit_ball_volume():
    assert math.isclose(math.exp(log_unit_ball_volume(2)), math.pi)
    assert math.isclose(math.exp(log_unit_ball_volume(3)), 4 / 3 * math.pi)


def test_knn_entropy_of_a_6d_gaussian_within_a_tenth_of_a_nat():
    torch.manual_seed(0)
    # condition number ~2: at finite N the estimate is not affine-invariant, and a 10x stretched Gaussian is off by 0.3
    factor = torch.randn(DIM, DIM) * 0.15 + torch.eye(DIM)
    cov = factor @ factor.T
    samples = torch.randn(NUM_STATES, NUM_SAMPLES, DIM) @ factor.T
    estimate = knn_entropy(samples, k=3)
    truth = gaussian_entropy(cov)
    assert estimate.shape == (NUM_STATES,)
    assert abs(estimate.mean().item() - truth) < 0.1, (estimate, truth)


def squashed_gaussian_entropy(dim: int, std: float) -> float:
    """H(tanh x), x ~ N(0, std^2 I): H(x) + dim * E[log(1 - tanh(x)^2)], the expectation by quadrature."""
    grid = torch.linspace(-12.0, 12.0, 200_001, dtype=torch.float64) * std
    density = torch.exp(-0.5 * (grid / std) ** 2) / (std * math.sqrt(2 * math.pi))
    mean_log_det = torch.trapezoid(density * tanh_log_det(grid.unsqueeze(-1)), grid).item()
    return gaussian_entropy(std**2 * torch.eye(dim)) + dim * mean_log_det


def test_knn_in_pre_tanh_space_is_within_a_tenth_of_a_nat_for_a_squashed_6d_gaussian_at_256_samples():
    torch.manual_seed(0)
    x = 0.7 * torch.randn(64, 256, DIM, dtype=torch.float64)  # 64 states: the mean measures the bias
    truth = squashed_gaussian_entropy(DIM, 0.7)
    pre_tanh = squashed_knn_entropy(x).mean().item()
    squashed = knn_entropy(torch.tanh(x)).mean().item()
    assert abs(pre_tanh - truth) < 0.1, (pre_tanh, truth)
    assert squashed - truth > 0.5, (squashed, truth)  # the boundary bias the pre-tanh estimate avoids


def test_knn_entropy_stays_finite_on_duplicates():
    samples = torch.zeros(1, 10, 2)
    assert torch.isfinite(knn_entropy(samples, k=3)).all()


def test_report_of_an_exact_estimator_uses_exact_as_reference():
    torch.manual_seed(0)
    policy = GaussianPolicy(3, 2, hidden_dim=16)
    report = entropy_report(ExactEstimator(policy), torch.randn(4, 3), num_samples=512)
    assert report["entropy/reference"] == report["entropy/exact"]
    assert math.isclose(report["entropy/knn_error"], report["entropy/knn"] - report["entropy/exact"])
    assert abs(report["entropy/knn_error"]) < 0.2, report
    assert "entropy/gap_upper" not in report


def test_report_of_the_vi_bound_orders_its_bounds_and_falls_back_to_knn():
    torch.manual_seed(0)
    policy = FlowPolicy(3, 2, steps=2, noise_std=0.3, hidden_dim=16)
    report = entropy_report(VIBoundEstimator(policy, hidden_dim=16), torch.randn(4, 3), num_samples=256)
    assert report["entropy/reference"] == report["entropy/knn"]
    assert "entropy/knn_error" not in report
    assert report["entropy/gap_upper"] == report["entropy/upper"] - report["entropy/lower"] > 0

"""The Kozachenko-Leonenko reference against Gaussians of known entropy, and the diagnostics that use it."""

import math

import pytest
import torch

from algos.diagnostics import entropy_report
from algos.estimators import ExactEstimator, VIBoundEstimator
from algos.knn import affine_standardize, knn_entropy, log_unit_ball_volume
from algos.knn_reference import squashed_knn_entropy
from algos.policies import FlowPolicy, GaussianPolicy
from scripts.knn_accuracy import KNNCase, squashed_gaussian_entropy

DIM, NUM_SAMPLES, NUM_STATES = 6, 2000, 4


def gaussian_entropy(cov: torch.Tensor) -> float:
    return 0.5 * cov.shape[-1] * math.log(2 * math.pi * math.e) + 0.5 * torch.logdet(cov).item()


def test_unit_ball_volume():
    assert math.isclose(math.exp(log_unit_ball_volume(2)), math.pi)
    assert math.isclose(math.exp(log_unit_ball_volume(3)), 4 / 3 * math.pi)


def test_knn_entropy_of_a_6d_gaussian_within_a_tenth_of_a_nat():
    torch.manual_seed(0)
    factor = torch.randn(DIM, DIM) * 0.15 + torch.eye(DIM)
    cov = factor @ factor.T
    samples = torch.randn(NUM_STATES, NUM_SAMPLES, DIM) @ factor.T
    estimate = knn_entropy(samples, k=3)
    truth = gaussian_entropy(cov)
    assert estimate.shape == (NUM_STATES,)
    assert abs(estimate.mean().item() - truth) < 0.1, (estimate, truth)


def test_knn_in_pre_tanh_space_is_within_a_tenth_of_a_nat_for_a_squashed_6d_gaussian_at_256_samples():
    torch.manual_seed(0)
    x = 0.7 * torch.randn(64, 256, DIM, dtype=torch.float64)  # 64 states: the mean measures the bias
    truth = squashed_gaussian_entropy(0.7 * torch.eye(DIM))
    pre_tanh = squashed_knn_entropy(x).mean().item()
    squashed = knn_entropy(torch.tanh(x), affine="none").mean().item()
    assert abs(pre_tanh - truth) < 0.1, (pre_tanh, truth)
    assert squashed - truth > 0.5, (squashed, truth)  # the boundary bias the pre-tanh estimate avoids


def test_affine_standardize_whitens_each_entry_and_returns_the_log_determinant_of_its_inverse():
    torch.manual_seed(0)
    samples = torch.randn(3, 500, 4, dtype=torch.float64) @ torch.randn(3, 4, 4, dtype=torch.float64)
    whitened, log_det = affine_standardize(samples, "whiten", jitter=0.0)
    covariance = whitened.transpose(-1, -2) @ whitened / samples.shape[-2]
    assert torch.allclose(covariance, torch.eye(4, dtype=torch.float64).expand(3, 4, 4), atol=1e-10)
    centred = samples - samples.mean(-2, keepdim=True)
    sample_covariance = centred.transpose(-1, -2) @ centred / samples.shape[-2]
    assert torch.allclose(log_det, 0.5 * torch.logdet(sample_covariance), atol=1e-10)
    scaled, scale_log_det = affine_standardize(samples, "scale")
    assert torch.allclose(scaled.std(-2, unbiased=False), torch.ones(3, 4, dtype=torch.float64))
    assert torch.allclose(scale_log_det, centred.pow(2).mean(-2).log().sum(-1) / 2)


@pytest.mark.parametrize("rho", [0.0, 0.9, -0.15])
def test_knn_is_within_a_tenth_of_a_nat_on_anisotropic_and_correlated_squashed_gaussians(rho):
    # stds 0.08 to 0.96 per dimension: one ball radius for all directions over-states the entropy by 0.8-1.4 nats
    case = KNNCase.anisotropic(256, rho)
    torch.manual_seed(0)
    x = torch.randn(64, 256, DIM, dtype=torch.float64) @ case.scale_tril.T
    truth = squashed_gaussian_entropy(case.scale_tril)
    assert abs(squashed_knn_entropy(x, k=3).mean().item() - truth) <= 0.1
    assert squashed_knn_entropy(x, k=3, method="none").mean().item() - truth > 0.5  # what the map removes


def test_knn_error_of_fresh_6d_gaussian_policies_is_within_five_hundredths_of_a_nat():
    # Inputs of std 3 give the heads per-dimension stds from about 0.02 to 2 (raw k-NN: +0.3 to +0.7 nats).
    errors = []
    for seed in range(3):
        torch.manual_seed(seed)
        policy = GaussianPolicy(17, DIM)
        report = entropy_report(ExactEstimator(policy), 3.0 * torch.randn(32, 17), num_samples=256, knn_k=3)
        errors.append(report["entropy/knn_error"])
    assert abs(sum(errors) / len(errors)) <= 0.05, errors
    assert max(abs(error) for error in errors) <= 0.1, errors


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

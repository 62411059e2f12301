"""The k-NN reference methods against densities of known entropy: a Gaussian, a banana whose entropy is its base
Gaussian's, and a two-mode mixture whose entropy comes from its exact density."""

import math

import pytest
import torch

from algos.knn_local import local_offset
from algos.knn_reference import KNN_DEFAULT, METHODS, knn_reference, squashed_knn_entropy
from scripts.knn_reference_study import ANISOTROPIC_STDS, banana, estimate, gaussian, mixture

STATES, NUM = 32, 256


def draw(case, states: int = STATES, num: int = NUM, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.stack([case.sample(num, generator) for _ in range(states)])


def error(case, method: str, x: torch.Tensor) -> float:
    return float(estimate(case, method, x, 3).mean()) - case.truth()


def test_the_default_is_within_a_tenth_on_a_correlated_squashed_gaussian():
    case = gaussian("rho 0.9", ANISOTROPIC_STDS, rho=0.9, squash=True)
    x = draw(case)
    assert abs(error(case, KNN_DEFAULT, x)) <= 0.1
    assert error(case, "none", x) > 1.0  # what a single ball radius costs on this shape


def test_a_banana_has_its_base_entropy_and_the_default_halves_the_whitened_bias():
    case = banana("banana", [1.0, 0.3] * 3, 1.0, 2)
    x = draw(case)
    # the bend x_2 += (x_1^2 - 1) leaves the volume alone: the base Gaussian's entropy, also by its density
    base = gaussian("base", [1.0, 0.3] * 3)
    assert case.truth() == pytest.approx(base.truth(), abs=1e-12)
    whitened, default = error(case, "whiten", x), error(case, KNN_DEFAULT, x)
    assert whitened > 1.0 and 0.0 < default < 0.5 * whitened, (whitened, default)


def mixture_entropy_by_quadrature(shift: float, std: float, weight: float, dim: int = 6) -> float:
    """The mixture varies along e_1 only: its 1-D marginal's entropy by the trapezoid rule, plus d - 1 normals."""
    grid = torch.linspace(-shift - 12 * std, shift + 12 * std, 400_001, dtype=torch.float64)
    normal = lambda mean: torch.exp(-0.5 * ((grid - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi))  # noqa: E731
    density = weight * normal(-shift) + (1 - weight) * normal(shift)
    marginal = -torch.trapezoid(density * torch.log(density.clamp_min(1e-300)), grid).item()
    return marginal + (dim - 1) * 0.5 * math.log(2 * math.pi * math.e * std**2)


def test_a_two_mode_mixture_by_monte_carlo_matches_quadrature_and_the_default_is_within_a_tenth():
    case = mixture("mixture", 2.0, 0.5, 0.5)
    assert case.truth() == pytest.approx(mixture_entropy_by_quadrature(2.0, 0.5, 0.5), abs=0.005)
    x = draw(case)
    assert abs(error(case, KNN_DEFAULT, x)) <= 0.1
    assert error(case, "whiten", x) > 0.25  # whitening squeezes the gap between the modes


@pytest.mark.parametrize("method", METHODS)
def test_every_method_gives_one_finite_entropy_per_state_and_leaves_the_global_rng_alone(method):
    local_offset.cache_clear()  # the local methods' calibration draws from a private generator
    x = draw(gaussian("iso", [0.7] * 6), states=3, num=64)
    before = torch.get_rng_state()
    values = squashed_knn_entropy(x, 3, method)
    assert torch.equal(torch.get_rng_state(), before)
    assert values.shape == (3,) and torch.isfinite(values).all()


def test_an_unknown_method_is_refused():
    with pytest.raises(ValueError, match="method must be one of"):
        knn_reference(torch.zeros(1, 8, 2), 3, "nearest")


def test_the_local_methods_need_more_samples_than_the_neighbourhood():
    with pytest.raises(ValueError, match="raise diagnostics.num_samples"):
        knn_reference(torch.randn(1, 18, 17), 3, "local")

"""The tanh correction against a numerical change of variables."""

import math

import torch

from algos.squash import squashed_log_prob, tanh_log_det

MEAN, STD = 0.4, 0.9  # a 1-D pre-squash Gaussian with visible mass near both bounds


def gaussian_log_prob(x: torch.Tensor) -> torch.Tensor:
    return -0.5 * ((x - MEAN) / STD) ** 2 - math.log(STD) - 0.5 * math.log(2 * math.pi)


def test_tanh_gaussian_density_matches_numerical_change_of_variables():
    a = torch.linspace(-0.999, 0.999, 20001, dtype=torch.float64)
    x = torch.atanh(a)
    step = 1e-6
    dx_da = (torch.atanh(a + step) - torch.atanh(a - step)) / (2 * step)  # finite-difference Jacobian of tanh^-1
    numerical = gaussian_log_prob(x) + dx_da.log()
    analytic = squashed_log_prob(gaussian_log_prob(x), x.unsqueeze(-1))
    assert torch.allclose(analytic, numerical, atol=1e-6)
    # and it is a density on (-1, 1): the mass beyond |a| = 0.999 is well below the tolerance
    assert abs(torch.trapezoid(analytic.exp(), a).item() - 1.0) < 1e-3


def test_tanh_log_det_stays_finite_where_the_naive_form_underflows():
    x = torch.tensor([[-40.0], [-5.0], [0.0], [5.0], [40.0]])
    stable = tanh_log_det(x)
    assert torch.isfinite(stable).all()
    naive = torch.log(1 - torch.tanh(x.double()) ** 2).squeeze(-1)
    assert torch.allclose(stable[1:4].double(), naive[1:4], atol=1e-5)
    assert torch.isinf(torch.log(1 - torch.tanh(x[-1]) ** 2)).all()  # what the stable form avoids
    assert torch.allclose(stable[-1], torch.tensor(2 * (math.log(2) - 40.0)))

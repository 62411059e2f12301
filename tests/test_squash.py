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


def test_a_floor_caps_each_saturated_dimension_and_leaves_moderate_ones():
    x = torch.tensor([[0.3, -1.2], [40.0, -40.0]])
    log_prob_x = torch.tensor([-1.0, -1.0])
    floored = squashed_log_prob(log_prob_x, x, floor=1e-7)
    torch.testing.assert_close(floored[0], squashed_log_prob(log_prob_x, x)[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(floored[1], torch.tensor(-1.0 - 2 * math.log(1e-7)))  # 16.1 nats per dimension
    assert squashed_log_prob(log_prob_x, x)[1] > floored[1] + 100  # exact: about 2 * (2 * 40 - 2 log 2) each

"""SAC-NF: the radial flow's closed-form log-determinant and the policy's exact density."""

import torch

from algos.normal import diag_normal_log_prob
from algos.policies import NormalizingFlowPolicy
from algos.policies.nf import RadialFlow

NUM_LAYERS_CHECKED = 6  # random layers, of both signs of beta
BISECTION_STEPS = 50  # float64 bisection converges well before this


def randomize(flow: RadialFlow, generator: torch.Generator) -> RadialFlow:
    """Moves a radial layer away from its identity initialisation."""
    with torch.no_grad():
        flow.center.copy_(0.3 * torch.randn(flow.dim, generator=generator))
        flow.alpha_raw.copy_(0.5 * torch.randn((), generator=generator))
        flow.beta_raw.copy_(torch.randn((), generator=generator))  # beta of either sign: expanding or contracting
    return flow


def invert_radial(flow: RadialFlow, y: torch.Tensor) -> torch.Tensor:
    """f^-1(y) by bisection on the radius: |y - z0| = r * (1 + beta / (alpha + r)) is increasing in r."""
    alpha = torch.nn.functional.softplus(flow.alpha_raw)
    beta = -alpha + torch.nn.functional.softplus(flow.beta_raw)
    offset = y - flow.center
    target = offset.norm(dim=-1, keepdim=True)
    low, high = torch.zeros_like(target), target + beta.abs()
    for _ in range(BISECTION_STEPS):
        mid = 0.5 * (low + high)
        too_small = mid * (1 + beta / (alpha + mid)) < target
        low, high = torch.where(too_small, mid, low), torch.where(too_small, high, mid)
    radius = 0.5 * (low + high)
    return flow.center + offset * radius / target


def test_radial_log_det_matches_autograd_jacobian():
    generator = torch.Generator().manual_seed(0)
    for _ in range(NUM_LAYERS_CHECKED):
        flow = randomize(RadialFlow(3), generator)
        points = torch.randn(16, 3, generator=generator)
        _, log_det = flow(points)
        for point, value in zip(points, log_det):
            jac = torch.autograd.functional.jacobian(lambda z: flow(z)[0], point)
            assert torch.allclose(value, torch.linalg.slogdet(jac).logabsdet, atol=1e-5)


def test_nf_density_integrates_to_one_on_a_grid():
    """The pre-squash density of one state, evaluated on a 2-D grid by inverting each flow, has mass 1."""
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(2)  # two of the four layers contract (beta < 0), two expand
    policy = NormalizingFlowPolicy(3, 2, num_flows=4, hidden_dim=16)
    for flow in policy.flows:
        randomize(flow, generator)
    policy.double()  # the grid sum needs the density to more digits than float32 gives near the center
    obs = torch.randn(1, 3, dtype=torch.float64)
    with torch.no_grad():
        mean, log_std = policy._mean_log_std(obs)
        half_width = 6 * log_std.exp().max().item() + 1.0
        axis = torch.linspace(-half_width, half_width, 200, dtype=torch.float64)
        grid = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), dim=-1).reshape(-1, 2)
        base = grid
        for flow in reversed(policy.flows):
            base = invert_radial(flow, base)
        image, log_det = policy.push(base)
        assert torch.allclose(image, grid, atol=1e-6)  # the inversion is right
        density = (diag_normal_log_prob(base, mean, log_std) - log_det).exp()
        mass = density.sum().item() * (axis[1] - axis[0]).item() ** 2
    assert abs(mass - 1.0) < 0.01, mass


def test_nf_sample_log_prob_is_the_change_of_variables_density():
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(2)
    policy = NormalizingFlowPolicy(3, 2, num_flows=3, hidden_dim=16)
    for flow in policy.flows:
        randomize(flow, generator)
    obs = torch.randn(5, 3)
    sample = policy.sample(obs, num_samples=7)
    assert sample.x.shape == sample.noise.shape == (5, 7, 2) and sample.log_prob.shape == (5, 7)
    mean, log_std = policy._mean_log_std(obs.unsqueeze(1))
    base = mean + log_std.exp() * sample.noise
    x, log_det = policy.push(base)
    assert torch.allclose(x, sample.x, atol=1e-6)
    assert torch.allclose(sample.log_prob, diag_normal_log_prob(base, mean, log_std) - log_det, atol=1e-5)
    assert torch.allclose(policy.mode(obs), policy.push(mean.squeeze(1))[0])


def test_untrained_nf_is_the_gaussian():
    """Every radial layer starts as the identity, so SAC-NF starts where SAC does."""
    torch.manual_seed(0)
    policy = NormalizingFlowPolicy(3, 2, num_flows=4, hidden_dim=16)
    base = torch.randn(8, 2)
    image, log_det = policy.push(base)
    assert torch.equal(image, base) and torch.equal(log_det, torch.zeros(8))

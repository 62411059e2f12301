"""AR-DAE estimator: score and log-density of a known Gaussian, log Z by importance sampling, the entropy-gradient
injection against exact autograd, an SAC update with gradient isolation, and the probe of a Gaussian's spread."""

import math

import pytest
import torch

from algos.critic import DoubleQ
from algos.diagnostics import entropy_report
from algos.estimators.ar_dae import ARDAEEstimator, importance_log_normalizer, path_derivative_surrogate
from algos.losses import actor_loss
from algos.normal import broadcast_to_samples, diag_normal_log_prob, repeat_obs
from algos.policies.base import Policy, PolicySample
from algos.policies.gaussian import GaussianPolicy
from algos.policies.implicit import ImplicitPolicy
from algos.replay import ReplayBuffer
from algos.sac import SAC
from algos.squash import squashed_log_prob
from algos.temperature import Temperature


class LinearGaussianPolicy(Policy):
    """An 'implicit' policy with a known law: x = s[:2] + L eps, so log pi and its score are exact."""

    family = "implicit"

    def __init__(self):
        super().__init__(obs_dim=2, act_dim=2)
        self.scale_tril = torch.tensor([[0.2, 0.0], [0.1, 0.1]])

    def mode(self, obs):
        return obs[..., :2]

    def transform(self, obs, noise):
        offset = self.mode(obs)
        return broadcast_to_samples(offset, noise) + noise @ self.scale_tril.T

    def sample(self, obs, num_samples=None):
        mean = self.mode(obs) if num_samples is None else repeat_obs(self.mode(obs), num_samples)
        eps = torch.randn_like(mean)
        return PolicySample(x=mean + eps @ self.scale_tril.T, noise=eps)


@pytest.mark.parametrize("standardize", ["scale_free", "fixed"])
def test_ar_dae_recovers_the_score_and_log_density_of_a_2d_gaussian(standardize):
    torch.manual_seed(0)
    torch.set_num_threads(1)
    policy = LinearGaussianPolicy()
    # fixed scale = 10 makes y = 10 (x - b) of unit order and exercises the chain-rule rescaling of the score.
    estimator = ARDAEEstimator(policy, hidden_dim=64, depth=3, state_encoder_depth=1, standardize=standardize,
                               scale=10.0, num_actions=64, lr=1e-3, num_proposal=2000)
    obs = torch.randn(4, 2)
    for step in range(600):
        if step == 400:  # a lower step size for the last third averages out the noise of the loss
            estimator.optim.lr = 1e-4
        estimator.update(obs, None)
    sample = policy.sample(obs, 256)
    obs_rep = repeat_obs(obs, 256)
    _, score, _ = estimator.score(obs_rep, sample.x)
    precision = torch.linalg.inv(policy.scale_tril @ policy.scale_tril.T)
    true_score = -(sample.x - obs_rep) @ precision.T
    relative_error = (score - true_score).norm(dim=-1).mean() / true_score.norm(dim=-1).mean()
    assert relative_error < 0.25  # the score's typical norm is about 13
    exact = torch.distributions.MultivariateNormal(obs_rep, scale_tril=policy.scale_tril).log_prob(sample.x)
    assert (estimator.log_prob(obs_rep, sample) - exact).abs().mean() < 0.3


def test_scale_free_spread_is_the_policy_std_and_its_log_jacobian_enters_log_pi():
    policy = LinearGaussianPolicy()
    estimator = ARDAEEstimator(policy, hidden_dim=8, depth=1, state_encoder_depth=0)
    obs = torch.randn(3, 2)
    offset, spread = estimator.offset_and_spread(obs)
    assert torch.equal(offset, obs)
    std = (policy.scale_tril @ policy.scale_tril.T).diagonal().sqrt()
    assert torch.allclose(spread, std.expand(3, 2), atol=1e-6)
    x = obs + 0.3
    y, _, log_det = estimator._standardize(obs, x)
    assert torch.allclose(y, 0.3 / std.expand(3, 2), atol=1e-6)
    assert torch.allclose(log_det, -std.log().sum().expand(3), atol=1e-6)


def test_importance_sampling_recovers_the_normalizer_of_a_gaussian_potential():
    torch.manual_seed(0)
    dim, means = 3, torch.tensor([[0.3, -0.2, 0.1], [0.0, 0.5, -0.4]])
    variances, offsets = torch.tensor([0.5, 2.0]), torch.tensor([1.5, -4.0])

    def psi(y):  # y [2, n, d]: -||y - m||^2 / (2 v) + c, whose log Z = (d/2) log(2 pi v) + c
        return -0.5 * (y - means[:, None]).pow(2).sum(-1) / variances[:, None] + offsets[:, None]

    log_z = importance_log_normalizer(psi, (2,), dim, num_samples=200_000, proposal_std=2.0)
    expected = 0.5 * dim * torch.log(2 * math.pi * variances) + offsets
    assert torch.allclose(log_z, expected, atol=0.02)


def gaussian_policy_and_sample(num_samples=None):
    torch.manual_seed(0)
    policy, obs = GaussianPolicy(4, 3, hidden_dim=16), torch.randn(5, 4)
    mean, log_std = policy._mean_log_std(obs)
    if num_samples is not None:
        mean, log_std = repeat_obs(mean, num_samples), repeat_obs(log_std, num_samples)
    return policy, policy.sample(obs, num_samples), mean, log_std


def parameter_gradient(policy, loss):
    return torch.cat([g.flatten() for g in torch.autograd.grad(loss, list(policy.parameters()), retain_graph=True)])


def test_injected_score_gives_the_exact_path_gradient_per_sample_tanh_included():
    policy, sample, mean, log_std = gaussian_policy_and_sample()
    x = sample.x
    true_score = (-(x - mean) * torch.exp(-2 * log_std)).detach()
    injected = path_derivative_surrogate(sample.log_prob, true_score, x)
    # Autograd through the exact density with its parameters held fixed is the path derivative exactly.
    exact = diag_normal_log_prob(x, mean.detach(), log_std.detach())
    assert torch.allclose(injected, exact, atol=1e-5)
    grad_injected = parameter_gradient(policy, squashed_log_prob(injected, x).sum())
    grad_exact = parameter_gradient(policy, squashed_log_prob(exact, x).sum())
    assert torch.allclose(grad_injected, grad_exact, atol=1e-5)


def test_injected_score_gradient_matches_the_exact_entropy_gradient_in_expectation():
    # E[log p(x)] = -sum(log_std) - const, so its gradient is that of -sum(log_std); the path derivative with
    # the true score is unbiased for it (the dropped score-function term has zero mean).
    policy, sample, mean, log_std = gaussian_policy_and_sample(num_samples=20_000)
    true_score = (-(sample.x - mean) * torch.exp(-2 * log_std)).detach()
    grad_injected = parameter_gradient(policy, path_derivative_surrogate(sample.log_prob, true_score,
                                                                         sample.x).mean())
    grad_exact = parameter_gradient(policy, -log_std.sum(-1).mean())
    assert torch.allclose(grad_injected, grad_exact, atol=0.02 * grad_exact.abs().max())


def small_sac(target_calibration=False):
    torch.manual_seed(0)
    policy = ImplicitPolicy(5, 2, noise_dim=4, hidden_dim=32, encoder_depth=1, head_dim=32)
    estimator = ARDAEEstimator(policy, hidden_dim=32, depth=2, state_encoder_depth=1, num_actions=8,
                               num_proposal=8, num_updates=2, target_calibration=target_calibration)
    sac = SAC(policy, estimator, DoubleQ(5, 2, hidden_dim=32), Temperature(autotune=True, target_entropy=-2.0),
              torch.device("cpu"))
    buffer = ReplayBuffer(5, 2, capacity=64, device=torch.device("cpu"))
    for _ in range(64):
        buffer.add(torch.randn(5).numpy(), torch.rand(2).numpy() * 2 - 1, 1.0, torch.randn(5).numpy(), False)
    return sac, buffer


def snapshot(module):
    return [p.detach().clone() for p in module.parameters()]


def moved(module, before):
    return any(not torch.equal(p, q) for p, q in zip(module.parameters(), before))


@pytest.mark.parametrize("target_calibration", [False, True])
def test_sac_update_runs_with_finite_metrics_and_resumes(target_calibration):
    sac, buffer = small_sac(target_calibration)
    for _ in range(3):
        metrics = sac.update(buffer.sample(16))
    assert {"train/ar_dae_loss", "train/jacobian_penalty", "train/entropy"} <= metrics.keys()
    assert all(torch.isfinite(v).all() for v in metrics.values())
    assert "estimator.psi" in sac.optimizers()
    assert ("train/target_shift" in metrics) == target_calibration
    restored, _ = small_sac(target_calibration)
    restored.load_state_dict(sac.state_dict())
    assert int(restored.policy.clamping_step) == 3
    assert torch.equal(restored.estimator.calibration, sac.estimator.calibration)
    assert (float(sac.estimator.calibration) != 0.0) == target_calibration
    report = entropy_report(sac.estimator, buffer.sample(4).obs, num_samples=16)
    assert math.isfinite(report["entropy/estimate"])


def test_actor_loss_reaches_only_the_policy_and_the_psi_update_moves_only_psi():
    sac, buffer = small_sac()
    obs = buffer.sample(16).obs
    psi, policy, critic = sac.estimator.psi, sac.policy, sac.critic
    loss, _, sample, _ = actor_loss(critic, policy, sac.estimator, obs, sac.temperature.alpha)
    loss.backward()
    assert all(p.grad is None for p in psi.parameters())  # the score enters the actor loss as a constant
    assert all(p.grad is not None for p in policy.parameters())
    policy_grads = [p.grad.clone() for p in policy.parameters()]
    psi_before, policy_before, critic_before = snapshot(psi), snapshot(policy), snapshot(critic)
    sac.estimator.update(obs, sample)
    assert moved(psi, psi_before)
    assert not moved(policy, policy_before) and not moved(critic, critic_before)
    assert all(torch.equal(p.grad, g) for p, g in zip(policy.parameters(), policy_grads))  # none added


def test_gaussian_transform_is_its_sampler_so_ar_dae_probes_its_true_spread():
    """AR-DAE serves any policy that samples: its scale-free map probes the policy through `transform`, which
    for the Gaussian must give mean + std * eps, so the probed spread is the Gaussian's std exactly."""
    torch.manual_seed(0)
    policy = GaussianPolicy(4, 3, hidden_dim=16)
    obs = torch.randn(5, 4)
    estimator = ARDAEEstimator(policy, hidden_dim=16, depth=1, state_encoder_depth=0, num_actions=4,
                               num_proposal=4)
    offset, spread = estimator.offset_and_spread(obs)
    mean, log_std = policy._mean_log_std(obs)
    torch.testing.assert_close(offset, mean)
    torch.testing.assert_close(spread, log_std.exp())
    assert ARDAEEstimator.refusal(policy) is None


def test_mean_calibration_is_the_count_weighted_mean_of_every_bonus_so_far_this_batch_included():
    """The authors' cumulative mean: the first batch's mean as it is, then B = (n B + b m) / (n + b), used after
    it takes in the batch. Hand-computed: batches of 2, 2 and 4 with means 2, 4 and -1 give B = 2, 3 and 1."""
    policy = ImplicitPolicy(5, 2, noise_dim=4, hidden_dim=8, head_dim=8)
    estimator = ARDAEEstimator(policy, hidden_dim=8, depth=1, state_encoder_depth=0, num_actions=4, num_proposal=4,
                               target_calibration=True)
    assert estimator.calibration_method == "mean"
    batches = [torch.tensor([1.0, 3.0]), torch.tensor([5.0, 3.0]), torch.tensor([-1.0, 0.0, -2.0, -1.0])]
    shifts = [float(estimator.target_shift(bonus)) for bonus in batches]
    assert shifts == pytest.approx([2.0, 3.0, 1.0])
    assert float(estimator.calibration_count) == 8.0
    restored = ARDAEEstimator(policy, hidden_dim=8, depth=1, state_encoder_depth=0, num_actions=4, num_proposal=4,
                              target_calibration=True)
    restored.load_state_dict(estimator.state_dict())
    assert float(restored.target_shift(torch.tensor([8.5, 8.5]))) == pytest.approx((8 * 1.0 + 2 * 8.5) / 10)


def test_ema_calibration_subtracts_the_running_mean_of_the_bonus_before_this_batch():
    """B_0 = 0 and B_k = B_(k-1) + m (mean bonus - B_(k-1)); the k-th target is shifted by B_(k-1)."""
    policy = ImplicitPolicy(5, 2, noise_dim=4, hidden_dim=8, head_dim=8)
    estimator = ARDAEEstimator(policy, hidden_dim=8, depth=1, state_encoder_depth=0, num_actions=4, num_proposal=4,
                               target_calibration=True, calibration_method="ema", calibration_momentum=0.25)
    bonus = torch.tensor([1.0, 3.0])  # mean 2
    shifts = [float(estimator.target_shift(bonus)) for _ in range(3)]
    assert shifts == pytest.approx([0.0, 0.5, 0.875])
    assert float(estimator.calibration) == pytest.approx(2.0 * (1 - 0.75 ** 3))
    off = ARDAEEstimator(policy, hidden_dim=8, depth=1, state_encoder_depth=0, num_actions=4, num_proposal=4)
    assert off.target_shift(bonus) == 0.0


class TiltedStandardNormalPsi(torch.nn.Module):
    """psi(y) = -|y|^2 / 2 + tilt . y: the exact standardized log-density of an isotropic Gaussian policy up to a
    linear tilt, whose score tilt - y has mean `tilt` under the policy instead of zero."""

    def __init__(self, tilt: torch.Tensor):
        super().__init__()
        self.tilt = tilt

    def condition(self, obs: torch.Tensor) -> torch.Tensor:
        return obs.new_zeros(*obs.shape[:-1], 1)

    def forward(self, y: torch.Tensor, sigma: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        return -0.5 * y.pow(2).sum(-1) + (y * self.tilt).sum(-1) + 0.0 * (sigma + condition).sum(-1)


@pytest.mark.parametrize("center_score", [False, True])
def test_center_score_removes_a_linear_tilt_from_the_score_and_its_low_bias_from_log_pi(center_score):
    from scripts.estimator_accuracy import KnownGaussianPolicy

    torch.manual_seed(0)
    tilt = torch.tensor([0.5, -0.5])
    policy = KnownGaussianPolicy(2, width=0.3)
    estimator = ARDAEEstimator(policy, hidden_dim=8, depth=1, state_encoder_depth=0, num_actions=16,
                               num_proposal=2000, center_score=center_score)
    estimator.psi = TiltedStandardNormalPsi(tilt)
    obs = torch.randn(32, 4)
    sample = policy.sample(obs, 64)
    true_score = policy.score(obs, sample.x)
    _, score, _ = estimator.score(obs, sample.x)
    with torch.no_grad():
        exact = policy.log_prob(obs, sample.x)
        log_prob_error = float((estimator.log_prob(repeat_obs(obs, 64), sample) - exact).mean())
    score_mean_error = (score - true_score).detach().mean((0, 1)) * 0.3  # in y units
    if center_score:
        # antithetic draws: the true score's mean over them is exactly zero for a policy symmetric about its mode
        assert score_mean_error.abs().max() < 1e-5, score_mean_error
        assert abs(log_prob_error) < 0.03, log_prob_error
    else:
        assert torch.allclose(score_mean_error, tilt, atol=0.05), score_mean_error
        # a tilted density normalized again: E[log pi] - E[log p] = -log E[exp(tilt . y)] = -|tilt|^2 / 2
        assert log_prob_error == pytest.approx(-0.25, abs=0.03)

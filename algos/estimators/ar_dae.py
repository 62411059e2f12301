"""AR-DAE estimator (seed 002, Sections 4, F.2, G.2): a learned score of the policy gives the entropy gradient,
its potential psi gives log pi for the critic target, with log Z by importance sampling."""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from algos.estimators.base import EntropyEstimator
from algos.networks import ContextMLP, encoder
from algos.optim import Adam
from algos.policies.base import Policy, PolicySample

LOG_2PI = math.log(2.0 * math.pi)


def input_gradient(values: torch.Tensor, inputs: torch.Tensor, create_graph: bool) -> torch.Tensor:
    """d values / d inputs for a batch of independent scalars, in one autograd.grad call."""
    return torch.autograd.grad(values.sum(), inputs, create_graph=create_graph)[0]


def ar_dae_loss(u: torch.Tensor, sigma: torch.Tensor, score: torch.Tensor) -> torch.Tensor:
    """E||u + sigma * f(x + sigma * u; sigma)||^2: the residual DAE loss rescaled by 1/sigma (eq. 2), whose
    minimizer is the score of the data smoothed by N(0, sigma^2 I); `score` is f at the noisy points."""
    return (u + sigma * score).pow(2).sum(-1).mean()


def path_derivative_surrogate(value: torch.Tensor, score: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Equal to `value` (detached); its gradient is score . dx/dtheta, the path derivative of log p(x_theta)
    with the score held fixed (eq. 1): the score-function term is zero in expectation and dropped."""
    path = (score.detach() * x).sum(-1)
    return value.detach() + path - path.detach()


def importance_log_normalizer(log_unnormalized: Callable[[torch.Tensor], torch.Tensor], batch_shape: tuple,
                              dim: int, num_samples: int, proposal_std: float,
                              device: torch.device | None = None) -> torch.Tensor:
    """log Z = log E_h[exp(psi(y)) / h(y)] with h = N(0, proposal_std^2 I), y: [*batch_shape, num_samples, dim].

    `log_unnormalized` maps y to psi(y) of shape [*batch_shape, num_samples]; log-sum-exp keeps it finite.
    """
    z = torch.randn(*batch_shape, num_samples, dim, device=device)
    y = proposal_std * z
    log_proposal = (-0.5 * z.pow(2) - 0.5 * LOG_2PI).sum(-1) - dim * math.log(proposal_std)
    log_weights = log_unnormalized(y) - log_proposal
    return torch.logsumexp(log_weights, dim=-1) - math.log(num_samples)


class LogDensityNetwork(nn.Module):
    """psi(y; s, sigma), an unnormalized log-density of the standardized action y given the state, at noise
    level sigma. The state is encoded once per state; y and sigma enter the first layer directly, as in the
    authors' code (the raw sigma, not |sigma|, so the net interpolates across sigma = 0 rather than extrapolates).
    """

    def __init__(self, obs_dim: int, act_dim: int, hidden_dim: int, depth: int, state_encoder_depth: int,
                 activation: str):
        super().__init__()
        self.state_encoder = encoder(obs_dim, hidden_dim, state_encoder_depth, activation)
        features = hidden_dim if state_encoder_depth > 0 else obs_dim
        self.net = ContextMLP(act_dim + 1, features, 1, hidden_dim, depth, activation)

    def condition(self, obs: torch.Tensor) -> torch.Tensor:
        """The state's share of psi's first layer, [B, hidden]; computed once and broadcast over samples."""
        return self.net.project_context(self.state_encoder(obs))

    def forward(self, y: torch.Tensor, sigma: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([y, sigma], dim=-1), condition).squeeze(-1)


class ARDAEEstimator(EntropyEstimator):
    """Amortized residual DAE on the standardized pre-squash action y = scale * (x - b(s)), b(s) = g(0, s).

    The score of x is scale * d psi / dy at sigma = 0 (chain rule); log pi(x) = psi(y; s, 0) - log Z(s)
    + d * log(scale) (the scaling's log-Jacobian). psi trains on fresh policy samples with its own Adam.

    hidden_dim, depth: width and hidden layers of psi's MLP (m_fc). state_encoder_depth: Linear+activation layers
    encoding the state before psi's first layer, 0 feeds the raw state (m_enc). activation: of every layer.
    scale: s, the standardization factor. delta_scale: sigma ~ N(0, delta^2), delta = delta_scale * the mean over
    action dimensions of the per-state sample std of y (authors' code). num_actions: n_a policy samples per state
    per update. num_sigmas: n_sigma noise levels per sample. num_updates: N_d psi steps per SAC update. lr: psi's
    Adam step size (betas 0.9, 0.999). num_proposal: n_Z importance samples per state for log Z.
    proposal_log_var: log c, the per-dimension log-variance of the proposal N(b(s), c I) in x space.
    """

    families = ("implicit", "flow")

    def __init__(self, policy: Policy, hidden_dim: int = 256, depth: int = 5, state_encoder_depth: int = 5,
                 activation: str = "elu", scale: float = 1e4, delta_scale: float = 0.1, num_actions: int = 128,
                 num_sigmas: int = 1, num_updates: int = 1, lr: float = 3e-4, num_proposal: int = 100,
                 proposal_log_var: float = -2.0):
        super().__init__(policy)
        if num_actions < 2 or num_updates < 1:
            raise ValueError(f"AR-DAE needs num_actions >= 2 (per-state spread) and num_updates >= 1, "
                             f"got {num_actions} and {num_updates}")
        self.act_dim = policy.act_dim
        self.psi = LogDensityNetwork(policy.obs_dim, policy.act_dim, hidden_dim, depth, state_encoder_depth,
                                     activation)
        self.scale = scale
        self.delta_scale = delta_scale
        self.num_actions = num_actions
        self.num_sigmas = num_sigmas
        self.num_updates = num_updates
        self.num_proposal = num_proposal
        self.proposal_std = scale * math.exp(0.5 * proposal_log_var)  # the x-space proposal seen in y space
        self.log_det_scale = policy.act_dim * math.log(scale)
        self.optim = Adam(self.psi.parameters(), lr)

    def optimizers(self) -> dict[str, Adam]:
        return {"psi": self.optim}

    def _standardize(self, obs: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """y = scale * (x - b(s)) with b(s) = g(0, s) detached: y's law has the policy's shape, centred and
        magnified, and no gradient reaches the policy through the offset. `x` may carry sample axes after obs's."""
        with torch.no_grad():
            offset = self.policy.mode(obs)
        offset = offset.reshape(*offset.shape[:-1], *([1] * (x.dim() - offset.dim())), offset.shape[-1])
        return self.scale * (x.detach() - offset)

    def _psi_at_zero_noise(self, obs: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        condition = self.psi.condition(obs)
        condition = condition.reshape(*condition.shape[:-1], *([1] * (y.dim() - condition.dim())),
                                      condition.shape[-1])
        return self.psi(y, torch.zeros_like(y[..., :1]), condition)

    def log_normalizer(self, obs: torch.Tensor) -> torch.Tensor:
        """log Z(s) of psi(.; s, 0) by importance sampling from N(0, proposal_std^2 I) in y space, i.e. centred at
        b(s) = g(0, s) in x space (authors' code; the paper's formula for the mean is garbled)."""
        return importance_log_normalizer(lambda y: self._psi_at_zero_noise(obs, y), tuple(obs.shape[:-1]),
                                         self.act_dim, self.num_proposal, self.proposal_std, obs.device)

    def _log_prob_x(self, psi_value: torch.Tensor, log_z: torch.Tensor) -> torch.Tensor:
        return psi_value - log_z + self.log_det_scale

    @torch.no_grad()
    def log_prob(self, obs: torch.Tensor, sample: PolicySample) -> torch.Tensor:
        psi_value = self._psi_at_zero_noise(obs, self._standardize(obs, sample.x))
        return self._log_prob_x(psi_value, self.log_normalizer(obs))

    def score(self, obs: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(psi(y; s, 0), d log pi / dx = scale * d psi / dy), both detached; psi's weights get no gradient."""
        with torch.enable_grad():
            y = self._standardize(obs, x).requires_grad_(True)
            psi_value = self._psi_at_zero_noise(obs, y)
            score_y = input_gradient(psi_value, y, create_graph=False)
        return psi_value.detach(), self.scale * score_y

    def actor_log_prob(self, obs: torch.Tensor, sample: PolicySample) -> torch.Tensor:
        """Value: the detached estimate log pi(x) (log Z included, so logged entropy and a tuned alpha see the
        real value). Gradient: the AR-DAE score dotted with dx/dtheta. The tanh term 2 tanh(x) comes from the
        SAC core, whose squashed_log_prob differentiates -log(1 - tanh(x)^2) by autograd."""
        psi_value, score = self.score(obs, sample.x)
        with torch.no_grad():
            value = self._log_prob_x(psi_value, self.log_normalizer(obs))
        return path_derivative_surrogate(value, score, sample.x)

    def loss(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The AR-DAE loss on n_a fresh policy samples per state and n_sigma noise levels per sample; returns
        (loss, mean delta). All samples in one batched pass; psi's input gradient in one autograd.grad call."""
        with torch.no_grad():
            y = self._standardize(obs, self.policy.sample(obs, self.num_actions).x)  # [B, n_a, d]
            delta = self.delta_scale * y.std(dim=-2).mean(-1)  # [B]
        sigma = delta[:, None, None, None] * torch.randn(*y.shape[:-1], self.num_sigmas, 1, device=y.device)
        u = torch.randn(*y.shape[:-1], self.num_sigmas, self.act_dim, device=y.device)
        noisy = (y.unsqueeze(-2) + sigma * u).requires_grad_(True)  # [B, n_a, n_sigma, d]
        condition = self.psi.condition(obs)[:, None, None, :]
        score = input_gradient(self.psi(noisy, sigma, condition), noisy, create_graph=True)
        return ar_dae_loss(u, sigma, score), delta.mean()

    def update(self, obs: torch.Tensor, sample: PolicySample) -> dict[str, torch.Tensor]:
        """N_d Adam steps of psi. `sample` (the actor's) is unused: the loss needs n_a fresh samples per state."""
        for _ in range(self.num_updates):
            loss, delta = self.loss(obs)
            self.optim.zero_grad()
            loss.backward()
            self.optim.step()
        return {"train/ar_dae_loss": loss.detach(), "train/ar_dae_delta": delta}

    @torch.no_grad()
    def diagnostics(self, obs: torch.Tensor, num_samples: int) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """log Z once per state (not once per sample) for `num_samples` draws per state."""
        x = self.policy.sample(obs, num_samples).x
        psi_value = self._psi_at_zero_noise(obs, self._standardize(obs, x))
        return {"estimate": (self._log_prob_x(psi_value, self.log_normalizer(obs).unsqueeze(-1)), x)}

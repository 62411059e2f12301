"""AR-DAE estimator (Lim et al. 2020, AR-DAE, Sections 4, F.2, G.2): a learned score of the policy gives the
entropy gradient, its potential psi gives log pi for the critic target, with log Z by importance sampling."""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from algos.estimators.base import EntropyEstimator
from algos.members import Members, member_mean, normal, total
from algos.networks import ContextMLP, encoder
from algos.normal import broadcast_to_samples, standard_normal_log_prob
from algos.optim import Adam
from algos.policies.base import SAMPLES, Policy, PolicySample

STANDARDIZE = ("scale_free", "fixed")
CALIBRATION_METHODS = ("mean", "ema")


def input_gradient(values: torch.Tensor, inputs: torch.Tensor, create_graph: bool) -> torch.Tensor:
    """d values / d inputs for a batch of independent scalars, in one autograd.grad call."""
    return torch.autograd.grad(values.sum(), inputs, create_graph=create_graph)[0]


def ar_dae_loss(u: torch.Tensor, sigma: torch.Tensor, score: torch.Tensor, members: Members | None = None
                ) -> torch.Tensor:
    """E||u + sigma * f(x + sigma * u; sigma)||^2: the residual DAE loss rescaled by 1/sigma (eq. 2), whose
    minimizer is the score of the data smoothed by N(0, sigma^2 I); `score` is f at the noisy points. One mean
    per member, [G], in a group."""
    return member_mean((u + sigma * score).pow(2).sum(-1), members)


def path_derivative_surrogate(value: torch.Tensor, score: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Equal to `value` (detached); its gradient is score . dx/dtheta, the path derivative of log p(x_theta)
    with the score held fixed (eq. 1): the score-function term is zero in expectation and dropped."""
    path = (score.detach() * x).sum(-1)
    return value.detach() + path - path.detach()


def importance_log_normalizer(log_unnormalized: Callable[[torch.Tensor], torch.Tensor], batch_shape: tuple,
                              dim: int, num_samples: int, proposal_std: float,
                              device: torch.device | None = None, members: Members | None = None) -> torch.Tensor:
    """log Z = log E_h[exp(psi(y)) / h(y)] with h = N(0, proposal_std^2 I), y: [*batch_shape, num_samples, dim].

    `log_unnormalized` maps y to psi(y) of shape [*batch_shape, num_samples]; log-sum-exp keeps it finite.
    `members`: batch_shape starts with the member axis, and each member draws its own proposals.
    """
    z = normal(members, (*batch_shape, num_samples, dim), device)
    y = proposal_std * z
    log_proposal = standard_normal_log_prob(z) - dim * math.log(proposal_std)
    log_weights = log_unnormalized(y) - log_proposal
    return torch.logsumexp(log_weights, dim=-1) - math.log(num_samples)


class LogDensityNetwork(nn.Module):
    """psi(y; s, sigma), an unnormalized log-density of the standardized action y given the state, at noise
    level sigma. The state is encoded once per state. With action_encoder_depth 0, y and sigma enter the first
    layer directly (the raw sigma, not |sigma|, so the net interpolates across sigma = 0 rather than extrapolates);
    with action_encoder_depth > 0, y first goes through its own Linear+activation layers and its features meet sigma
    and the state there (the context-encoded variant the AR-DAE authors' code runs on HalfCheetah and Ant).
    """

    def __init__(self, obs_dim: int, act_dim: int, hidden_dim: int, depth: int, state_encoder_depth: int,
                 activation: str, action_encoder_depth: int = 0, members: Members | None = None):
        super().__init__()
        self.state_encoder = encoder(obs_dim, hidden_dim, state_encoder_depth, activation, members)
        self.action_encoder = encoder(act_dim, hidden_dim, action_encoder_depth, activation, members)
        features = hidden_dim if state_encoder_depth > 0 else obs_dim
        action_features = hidden_dim if action_encoder_depth > 0 else act_dim
        self.net = ContextMLP(action_features + 1, features, 1, hidden_dim, depth, activation, members)

    def condition(self, obs: torch.Tensor) -> torch.Tensor:
        """The state's share of psi's first layer, [B, hidden]; computed once and broadcast over samples."""
        return self.net.project_context(self.state_encoder(obs))

    def forward(self, y: torch.Tensor, sigma: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([self.action_encoder(y), sigma], dim=-1), condition).squeeze(-1)


def axis_probes(noise_dim: int, device: torch.device | None = None, with_zero: bool = False) -> torch.Tensor:
    """The 2 * noise_dim base noises +e_j and -e_j, [2 m, m]: for x = b + L eps they give
    sum_j (L e_j)_i^2 = Var(x_i) exactly, and for any policy a deterministic spread per state. `with_zero`
    puts the noise's mode, 0, first ([2 m + 1, m]), so that b = g(0, s) comes from the same pass."""
    eye = torch.eye(noise_dim, device=device)
    return torch.cat([eye.new_zeros(1, noise_dim), eye, -eye] if with_zero else [eye, -eye])


class ARDAEEstimator(EntropyEstimator):
    """Amortized residual DAE on the standardized pre-squash action y = (x - b(s)) / spread(s), b(s) = g(0, s).

    The score of x is (d psi / dy) / spread(s) (chain rule); log pi(x) = psi(y; s, 0) - log Z(s) - sum log
    spread(s) (the standardization's log-Jacobian). psi trains on fresh policy samples with its own Adam.

    standardize: "scale_free" (default) takes spread_i(s)^2 = (1/2) sum over the probes +-e_j of
    (g(+-e_j, s) - b(s))_i^2 (+ the flow's added noise variance), the variance of x_i for a policy linear in its
    noise; a deterministic function of s, so psi sees y of unit spread per dimension at every width of policy and
    the same s always gets the same map. "fixed" is the AR-DAE paper's y = scale * (x - b(s)) (spread = 1/scale),
    which only suits policies whose std is near 1/scale.

    hidden_dim, depth: width and hidden layers of psi's MLP (m_fc).
    state_encoder_depth: Linear+activation layers encoding the state before psi's first layer; 0 feeds the raw
        state (m_enc).
    action_encoder_depth: the same for y; 0: y enters the first layer directly.
    activation: of every layer.
    standardize: "scale_free" or "fixed", above.
    scale: the fixed standardization factor.
    min_spread: floor on spread_i(s) in x units, so a collapsed dimension stays finite.
    delta_scale: sigma ~ N(0, delta^2), delta = delta_scale * the mean over action dimensions of the per-state
        sample std of y (authors' code).
    num_actions: n_a policy samples per state per update.
    num_sigmas: n_sigma noise levels per sample.
    num_updates: N_d psi steps per SAC update.
    lr: psi's Adam step size (betas 0.9, 0.999).
    num_proposal: n_Z importance samples per state for log Z.
    proposal_width: std of the scale-free proposal N(0, w^2 I) in y units (x space: N(b(s), w^2 diag(spread^2))).
    proposal_log_var: log c of the fixed proposal N(b(s), c I) in x space.
    target_calibration: subtract from the critic target a running mean B of its entropy bonus, so the target is
        centred (Lim et al. 2020, AR-DAE, Appendix G.2, with the sign of the authors' code: the paper's formula
        read literally doubles the bonus instead of centring it).
    calibration_method: how B runs. "mean", the authors' code (lim0606/pytorch-ardae-rl, model.py, QNetwork's
        mean update with --mean-upd-method avg): the mean over every transition seen so far, this batch included
        before B is used, the first batch's mean taken as it is. "ema": an exponential average at
        `calibration_momentum`, starting from 0 and used before it takes in this batch.
    calibration_momentum: B's exponential-average rate ("ema" only).
    center_score: subtract from psi, per state, the linear term c(s) . y with c(s) the mean of d psi / dy over
        n_a policy samples in antithetic pairs (`score_mean`). The true score has zero mean under the policy, so
        c(s) is pure error; it tilts the learned density, which biases the entropy gradient on the policy's mean
        and, since a tilted density normalized again lies below the true one on average (Jensen), biases log pi
        low. The score, log pi and log Z all use the centred psi, so the value stays the potential of the
        gradient. Costs one more pass of psi with its input gradient over n_a samples per state in every log pi
        and score call.
    """

    requires = SAMPLES

    def __init__(self, policy: Policy, hidden_dim: int = 256, depth: int = 5, state_encoder_depth: int = 5,
                 activation: str = "elu", standardize: str = "scale_free", scale: float = 1e4,
                 min_spread: float = 1e-6, delta_scale: float = 0.1, num_actions: int = 128, num_sigmas: int = 1,
                 num_updates: int = 1, lr: float = 3e-4, num_proposal: int = 100, proposal_width: float = 1.5,
                 proposal_log_var: float = -2.0, action_encoder_depth: int = 0, target_calibration: bool = False,
                 calibration_method: str = "mean", calibration_momentum: float = 0.005,
                 center_score: bool = False):
        super().__init__(policy)
        if num_actions < 2 or num_updates < 1:
            raise ValueError(f"AR-DAE needs num_actions >= 2 (per-state spread) and num_updates >= 1, "
                             f"got {num_actions} and {num_updates}")
        if standardize not in STANDARDIZE:
            raise ValueError(f"standardize must be one of {STANDARDIZE}, got {standardize!r}")
        if calibration_method not in CALIBRATION_METHODS:
            raise ValueError(f"calibration_method must be one of {CALIBRATION_METHODS}, got {calibration_method!r}")
        self.act_dim = policy.act_dim
        self.psi = LogDensityNetwork(policy.obs_dim, policy.act_dim, hidden_dim, depth, state_encoder_depth,
                                     activation, action_encoder_depth, self.members)
        self.standardize = standardize
        self.scale = scale
        self.min_spread = min_spread
        self.delta_scale = delta_scale
        self.num_actions = num_actions
        self.num_sigmas = num_sigmas
        self.num_updates = num_updates
        self.num_proposal = num_proposal
        if standardize == "fixed":
            self.proposal_std = scale * math.exp(0.5 * proposal_log_var)  # the x-space proposal seen in y space
        else:
            self.proposal_std = proposal_width
        self.optim = Adam(self.psi.parameters(), lr)
        self.target_calibration = target_calibration
        self.calibration_method = calibration_method
        self.calibration_momentum = calibration_momentum
        self.center_score = center_score
        shape = () if self.members is None else (self.members.size,)
        self.register_buffer("calibration", torch.zeros(shape))  # B (one per member), saved with the estimator
        # Transitions B has averaged so far ("mean"); float64 counts exactly far past a million-step run's batches.
        self.register_buffer("calibration_count", torch.zeros(shape, dtype=torch.float64))

    def optimizers(self) -> dict[str, Adam]:
        return {"psi": self.optim}

    def target_shift(self, bonus: torch.Tensor) -> torch.Tensor | float:
        """B for this batch's targets (zero when calibration is off); see `calibration_method`."""
        if not self.target_calibration:
            return 0.0
        batch_mean = member_mean(bonus, self.members)
        if self.calibration_method == "ema":
            shift = self.calibration.clone()
            self.calibration.lerp_(batch_mean, self.calibration_momentum)
        else:
            batch_size = bonus.numel() if self.members is None else bonus.numel() // self.members.size
            self.calibration_count += batch_size
            weight = (batch_size / self.calibration_count).to(self.calibration.dtype)  # 1 at the first batch
            self.calibration.lerp_(batch_mean, weight)
            shift = self.calibration.clone()
        return shift if self.members is None else shift.unsqueeze(-1)

    @torch.no_grad()
    def offset_and_spread(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """b(s) = g(0, s) and spread(s), both [*S, d] and detached: no gradient reaches the policy through the
        map, which is a fixed affine change of variables for each state."""
        if self.standardize == "fixed":
            offset = self.policy.mode(obs)
            return offset, torch.full_like(offset, 1.0 / self.scale)
        # g(0, s) and the probes g(+-e_j, s) in one pass of the policy, the state encoded once for all of them
        probes = axis_probes(self.policy.noise_dim, obs.device, with_zero=True).to(obs.dtype)
        images = self.policy.transform(obs, probes.expand(*obs.shape[:-1], *probes.shape))
        offset = images[..., 0, :]
        deviation = images[..., 1:, :] - offset.unsqueeze(-2)
        variance = 0.5 * deviation.pow(2).sum(-2) + getattr(self.policy, "noise_std", 0.0) ** 2
        return offset, variance.sqrt().clamp_min(self.min_spread)

    def _standardize(self, obs: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(y, spread broadcast to y, log|dy/dx| per state); `x` may carry sample axes after obs's."""
        offset, spread = self.offset_and_spread(obs)
        log_det = broadcast_to_samples(-spread.log().sum(-1), x, trailing=0)
        offset, spread = broadcast_to_samples(offset, x), broadcast_to_samples(spread, x)
        return (x.detach() - offset) / spread, spread, log_det

    def _psi_at_zero_noise(self, obs: torch.Tensor, y: torch.Tensor, tilt: torch.Tensor | None = None,
                           condition: torch.Tensor | None = None) -> torch.Tensor:
        """psi(y; s, 0), minus tilt(s) . y when a tilt [*S, d] is given (center_score). `condition`: psi's state
        share (LogDensityNetwork.condition) when the caller has it already."""
        condition = self.psi.condition(obs) if condition is None else condition
        condition = broadcast_to_samples(condition, y)
        value = self.psi(y, torch.zeros_like(y[..., :1]), condition)
        return value if tilt is None else value - (broadcast_to_samples(tilt, y) * y).sum(-1)

    def _psi_and_score_y(self, obs: torch.Tensor, y: torch.Tensor, tilt: torch.Tensor | None = None,
                         condition: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(psi(y; s, 0), d psi / dy), detached, with the tilt subtracted when given."""
        with torch.enable_grad():
            y = y.detach().requires_grad_(True)
            psi_value = self._psi_at_zero_noise(obs, y, tilt, condition)
            score_y = input_gradient(psi_value, y, create_graph=False)
        return psi_value.detach(), score_y

    @torch.no_grad()
    def score_mean(self, obs: torch.Tensor) -> torch.Tensor | None:
        """c(s) [*S, d]: the mean of d psi / dy over n_a policy samples per state, the tilt that center_score
        removes; None when center_score is off.

        The samples come in antithetic pairs g(+eps, s), g(-eps, s) (the flow's added noise paired the same way):
        the mean stays unbiased for any policy, while for one symmetric about g(0, s) the true score's share of it
        cancels exactly, so what is subtracted is psi's error rather than the true score's sampling noise (which,
        subtracted, would add about 1/sqrt(n_a) of the score's size to every sample's error)."""
        if not self.center_score:
            return None
        half = (*obs.shape[:-1], (self.num_actions + 1) // 2)
        eps = normal(self.members, (*half, self.policy.noise_dim), obs.device, obs.dtype)
        x = self.policy.transform(obs, torch.cat([eps, -eps], dim=-2))
        added_std = getattr(self.policy, "noise_std", 0.0)
        if added_std > 0:
            added = normal(self.members, (*half, self.act_dim), obs.device, obs.dtype)
            x = x + added_std * torch.cat([added, -added], dim=-2)
        y, _, _ = self._standardize(obs, x)
        return self._psi_and_score_y(obs, y)[1].mean(-2)

    def log_normalizer(self, obs: torch.Tensor, tilt: torch.Tensor | None = None,
                       condition: torch.Tensor | None = None) -> torch.Tensor:
        """log Z(s) of psi(.; s, 0) (less the tilt) by importance sampling from N(0, proposal_std^2 I) in y space,
        i.e. centred at b(s) = g(0, s) in x space (authors' code; the paper's formula for the mean is garbled)."""
        return importance_log_normalizer(lambda y: self._psi_at_zero_noise(obs, y, tilt, condition),
                                         tuple(obs.shape[:-1]), self.act_dim, self.num_proposal, self.proposal_std,
                                         obs.device, self.members)

    @torch.no_grad()
    def log_prob(self, obs: torch.Tensor, sample: PolicySample) -> torch.Tensor:
        y, _, log_det = self._standardize(obs, sample.x)
        tilt = self.score_mean(obs)
        condition = self.psi.condition(obs)  # one state encoding for the sample's psi and log Z's proposals
        return (self._psi_at_zero_noise(obs, y, tilt, condition) - self.log_normalizer(obs, tilt, condition)
                + log_det)

    def score(self, obs: torch.Tensor, x: torch.Tensor, tilt: torch.Tensor | None = None,
              condition: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(psi(y; s, 0), d log pi / dx = (d psi / dy) / spread, log|dy/dx|), all detached; psi's weights get no
        gradient. With center_score, psi less the tilt (`tilt`, or `score_mean` when not given)."""
        y, spread, log_det = self._standardize(obs, x)
        tilt = self.score_mean(obs) if tilt is None else tilt
        psi_value, score_y = self._psi_and_score_y(obs, y, tilt, condition)
        return psi_value, score_y / spread, log_det

    def actor_log_prob(self, obs: torch.Tensor, sample: PolicySample) -> torch.Tensor:
        """Value: the detached estimate log pi(x) (log Z included, so logged entropy and a tuned alpha see the
        real value). Gradient: the AR-DAE score dotted with dx/dtheta. The tanh term 2 tanh(x) comes from the
        SAC core, whose squashed_log_prob differentiates -log(1 - tanh(x)^2) by autograd."""
        tilt = self.score_mean(obs)
        with torch.no_grad():
            condition = self.psi.condition(obs)  # psi's weights get no gradient here: encode the states once
        psi_value, score, log_det = self.score(obs, sample.x, tilt, condition)
        with torch.no_grad():
            value = psi_value - self.log_normalizer(obs, tilt, condition) + log_det
        return path_derivative_surrogate(value, score, sample.x)

    def loss(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The AR-DAE loss on n_a fresh policy samples per state and n_sigma noise levels per sample; returns
        (loss, mean delta). All samples in one batched pass; psi's input gradient in one autograd.grad call."""
        with torch.no_grad():
            y, _, _ = self._standardize(obs, self.policy.sample(obs, self.num_actions).x)  # [B, n_a, d]
            delta = self.delta_scale * y.std(dim=-2).mean(-1)  # [B] ([G, B] in a group)
        sigma = delta[..., None, None, None] * normal(self.members, (*y.shape[:-1], self.num_sigmas, 1), y.device)
        u = normal(self.members, (*y.shape[:-1], self.num_sigmas, self.act_dim), y.device)
        noisy = (y.unsqueeze(-2) + sigma * u).requires_grad_(True)  # [B, n_a, n_sigma, d]
        condition = self.psi.condition(obs)[..., None, None, :]
        score = input_gradient(self.psi(noisy, sigma, condition), noisy, create_graph=True)
        return ar_dae_loss(u, sigma, score, self.members), member_mean(delta, self.members)

    def update(self, obs: torch.Tensor, sample: PolicySample) -> dict[str, torch.Tensor]:
        """N_d Adam steps of psi. `sample` (the actor's) is unused: the loss needs n_a fresh samples per state."""
        for _ in range(self.num_updates):
            loss, delta = self.loss(obs)
            self.optim.zero_grad()
            total(loss).backward()
            self.optim.step()
        metrics = {"train/ar_dae_loss": loss.detach(), "train/ar_dae_delta": delta}
        if self.target_calibration:
            metrics["train/target_shift"] = self.calibration.clone()
        return metrics

    @torch.no_grad()
    def diagnostics(self, obs: torch.Tensor, num_samples: int) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """log Z once per state (not once per sample) for `num_samples` draws per state."""
        x = self.policy.sample(obs, num_samples).x
        y, _, log_det = self._standardize(obs, x)
        tilt = self.score_mean(obs)
        log_prob = self._psi_at_zero_noise(obs, y, tilt) - self.log_normalizer(obs, tilt).unsqueeze(-1) + log_det
        return {"estimate": (log_prob, x)}

"""Implicit policy x = g(eps, s) with noise of its own dimension, and its Jacobian-clamping regularizer."""

from __future__ import annotations

import torch
from torch import nn

from algos.members import Members, member_mean, normal
from algos.networks import ContextMLP, encoder
from algos.policies.base import Policy, PolicySample


def jacobian_clamping_loss(x: torch.Tensor, x_perturbed: torch.Tensor, direction: torch.Tensor, step: float,
                           eta: float, members: Members | None = None) -> torch.Tensor:
    """E[min(0, ||x' - x||^2 / (step^2 ||v||^2) - eta)^2] with x' = g(eps + step * v).

    The ratio is a finite-difference estimate of ||J v||^2 / ||v||^2, a random squared singular value of the
    noise-to-action Jacobian J; the penalty is zero once every probed direction is stretched by at least eta, so
    it only pushes back where the map is collapsing toward a point mass (Kumar et al. 2020).
    `x` [..., d] broadcasts against `x_perturbed` [..., k, d]; `direction` is v, [..., k, e]. In a group
    (`members`), one mean per member, [G].
    """
    stretch = (x_perturbed - x).pow(2).sum(-1) / (step**2 * direction.pow(2).sum(-1))
    return member_mean(torch.clamp(stretch - eta, max=0.0).pow(2), members)


class ImplicitPolicy(Policy):
    """x = g(eps, s): a state encoder h(s), then an MLP over [h(s), eps] with eps ~ N(0, I_noise_dim).

    No density is available; an estimator supplies the entropy gradient (AR-DAE). b(s) = g(0, s) is `mode`.

    noise_dim: size of eps (10; 32 for Humanoid in the paper).
    hidden_dim, encoder_depth: width and number of Linear+activation layers of h(s).
    head_dim, head_depth: width and hidden layers of the MLP over [h(s), eps].
    activation: of every layer.
    output_init_std: std of the normal initialisation of the last layer's weights (the authors' code uses 1.0);
        None keeps PyTorch's default. How widely either starts the policy: `python -m scripts.init_spread`.
    jacobian_clamping: add the penalty of `penalty` to the actor loss.
    squash_before_clamping: measure the stretch on tanh(x), the bounded action, as the authors' code does, rather
        than on x.
    num_perturb: directions v per sample.
    perturb_step: finite-difference step xi.
    eta: lower bound on the squared singular values.
    weight_power, weight_rate, weight_max: penalty weight lambda = min(1 + rate * i^power, max) at actor update i
        (paper: 1 + i^nu / 1000, nu in [1.1, 1.3]; authors' code caps it at 1e5).
    members: a group of seeds (algos.policies.base.Policy); each member counts its own actor updates.
    """


    def __init__(self, obs_dim: int, act_dim: int, noise_dim: int = 10, hidden_dim: int = 256,
                 encoder_depth: int = 2, head_dim: int = 256, head_depth: int = 1, activation: str = "elu",
                 output_init_std: float | None = 1.0, jacobian_clamping: bool = True,
                 squash_before_clamping: bool = True, num_perturb: int = 10, perturb_step: float = 0.01,
                 eta: float = 0.1, weight_power: float = 1.1, weight_rate: float = 1e-3, weight_max: float = 1e5,
                 members: Members | None = None):
        super().__init__(obs_dim, act_dim, members)
        self.noise_dim = noise_dim
        self.encoder = encoder(obs_dim, hidden_dim, encoder_depth, activation, members)
        features = hidden_dim if encoder_depth > 0 else obs_dim
        self.head = ContextMLP(noise_dim, features, act_dim, head_dim, head_depth, activation, members)
        if output_init_std is not None:
            last = self.head.trunk[-1]
            nn.init.normal_(last.weight, std=output_init_std)
        self.jacobian_clamping = jacobian_clamping
        self.squash_before_clamping = squash_before_clamping
        self.num_perturb = num_perturb
        self.perturb_step = perturb_step
        self.eta = eta
        self.weight_power = weight_power
        self.weight_rate = weight_rate
        self.weight_max = weight_max
        # Counts actor updates for the penalty's growing weight; a buffer so a resumed run continues the schedule.
        shape = () if members is None else (members.size,)
        self.register_buffer("clamping_step", torch.zeros(shape, dtype=torch.long))

    def _state_features(self, obs: torch.Tensor, sample_axes: int) -> torch.Tensor:
        """The head's first-layer share of the state, computed once per state, with `sample_axes` singleton axes
        inserted before the feature axis so it broadcasts over the samples of that state."""
        projection = self.head.project_context(self.encoder(obs))
        return projection.reshape(*projection.shape[:-1], *([1] * sample_axes), projection.shape[-1])

    def sample(self, obs: torch.Tensor, num_samples: int | None = None) -> PolicySample:
        features = self._state_features(obs, 0 if num_samples is None else 1)
        sample_shape = obs.shape[:-1] if num_samples is None else (*obs.shape[:-1], num_samples)
        eps = normal(self.members, (*sample_shape, self.noise_dim), obs.device, obs.dtype)
        return PolicySample(x=self.head(eps, features), noise=eps)

    def transform(self, obs: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """g(eps, s) for given eps [*S, *sample_axes, noise_dim]."""
        return self.head(noise, self._state_features(obs, noise.dim() - obs.dim()))

    def mode(self, obs: torch.Tensor) -> torch.Tensor:
        """g(0, s): the image of the noise's mode, also the AR-DAE input offset b(s)."""
        eps = torch.zeros(*obs.shape[:-1], self.noise_dim, device=obs.device, dtype=obs.dtype)
        return self.head(eps, self._state_features(obs, 0))

    def clamping_weight(self) -> torch.Tensor:
        step = self.clamping_step.to(torch.float32)
        return torch.clamp(1.0 + self.weight_rate * step.pow(self.weight_power), max=self.weight_max)

    def penalty(self, obs: torch.Tensor, sample: PolicySample) -> tuple[torch.Tensor, dict] | None:
        """lambda_i * Jacobian-clamping loss at the actor's own samples; advances i (call once per actor update)."""
        if not self.jacobian_clamping:
            return None
        eps = sample.noise
        direction = normal(self.members, (*eps.shape[:-1], self.num_perturb, self.noise_dim), eps.device, eps.dtype)
        features = self._state_features(obs, eps.dim() - obs.dim() + 1)  # sample axes of eps, then directions
        x_perturbed = self.head(eps.unsqueeze(-2) + self.perturb_step * direction, features)
        x = sample.x.unsqueeze(-2)
        if self.squash_before_clamping:
            x, x_perturbed = torch.tanh(x), torch.tanh(x_perturbed)
        loss = jacobian_clamping_loss(x, x_perturbed, direction, self.perturb_step, self.eta, self.members)
        weight = self.clamping_weight()
        self.clamping_step += 1
        return weight * loss, {"train/jacobian_penalty": loss.detach(), "train/jacobian_weight": weight}

"""Tanh-squashed diagonal Gaussian policy, the SAC baseline."""

from __future__ import annotations

import torch

from algos.members import Members, normal_like
from algos.networks import mlp
from algos.normal import LOG_2PI, broadcast_to_samples, repeat_obs
from algos.policies.base import Policy, PolicySample

LOG_STD_MAPS = ("tanh", "clip")


def bounded_log_std(raw: torch.Tensor, log_std_min: float, log_std_max: float) -> torch.Tensor:
    """Squashes a raw network output smoothly into [log_std_min, log_std_max]: unlike a hard clip, the gradient
    never vanishes at the bounds."""
    return log_std_min + 0.5 * (log_std_max - log_std_min) * (torch.tanh(raw) + 1.0)


class GaussianPolicy(Policy):
    """x = mean(s) + std(s) * eps, with log-std bounded to [log_std_min, log_std_max].

    `log_std_map` says how: "tanh" (None here; CleanRL's) squashes the raw output smoothly, so a fresh network
    starts at the middle of the range and gradients never vanish at a bound; "clip" (conf/algo/sac_gaussian.yaml's
    default, with bounds -20 and 2, as the AR-DAE authors' code, Haarnoja et al. and Stable-Baselines3 have it)
    takes the raw output as the log-std and clamps it, so a fresh network starts near std 1.
    """

    exact_density = True

    def __init__(self, obs_dim: int, act_dim: int, hidden_dim: int = 256, depth: int = 2,
                 activation: str = "relu", log_std_min: float = -5.0, log_std_max: float = 2.0,
                 members: Members | None = None, *, log_std_map: str | None = None):
        super().__init__(obs_dim, act_dim, members)
        if log_std_map not in (None, *LOG_STD_MAPS):
            raise ValueError(f"log_std_map must be one of {LOG_STD_MAPS} or None (tanh), got {log_std_map!r}")
        self.net = mlp(obs_dim, 2 * act_dim, hidden_dim, depth, activation, members)
        self.log_std_min = log_std_min
        self.log_std_max = log_std_max
        self.clip_log_std = log_std_map == "clip"

    def _mean_log_std(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, raw = self.net(obs).chunk(2, dim=-1)
        if self.clip_log_std:
            return mean, raw.clamp(self.log_std_min, self.log_std_max)
        return mean, bounded_log_std(raw, self.log_std_min, self.log_std_max)

    def sample(self, obs: torch.Tensor, num_samples: int | None = None) -> PolicySample:
        mean, log_std = self._mean_log_std(obs)
        if num_samples is not None:
            mean, log_std = repeat_obs(mean, num_samples), repeat_obs(log_std, num_samples)
        eps = normal_like(self.members, mean)
        x = mean + torch.exp(log_std) * eps
        log_prob = (-0.5 * eps.pow(2) - log_std - 0.5 * LOG_2PI).sum(-1)
        return PolicySample(x=x, noise=eps, log_prob=log_prob)

    def mode(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(obs).chunk(2, dim=-1)[0]

    def transform(self, obs: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """mean(s) + std(s) * eps for given eps [*S, *sample_axes, d]."""
        mean, log_std = self._mean_log_std(obs)
        return broadcast_to_samples(mean, noise) + broadcast_to_samples(log_std, noise).exp() * noise

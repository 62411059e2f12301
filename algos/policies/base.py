"""The policy seam: every policy family samples pre-squash actions and says what an estimator needs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn


@dataclass
class PolicySample:
    """Reparameterized pre-squash actions and what produced them.

    `x` has shape [B, d] for one sample per state or [B, n, d] for n samples per state. `noise` is the base noise
    the sample was pushed forward from (Gaussian eps, flow z, implicit eps), same leading shape as `x`.
    `log_prob` is the exact log-density of `x` where the family gives it cheaply, else None. `extras` holds
    family-specific intermediates an estimator needs (the flow's pre-noise end point), named by the family.
    """

    x: torch.Tensor
    noise: torch.Tensor
    log_prob: torch.Tensor | None = None
    extras: dict[str, torch.Tensor] | None = None


class Policy(nn.Module):
    """Base class: `family` names the policy kind so estimators can say whether they fit it."""

    family: ClassVar[str] = ""

    def __init__(self, obs_dim: int, act_dim: int):
        super().__init__()
        self.obs_dim = obs_dim
        self.act_dim = act_dim
        self.noise_dim = act_dim  # size of the base noise `transform` takes; families with their own set it

    def sample(self, obs: torch.Tensor, num_samples: int | None = None) -> PolicySample:
        """Draw pre-squash actions; with `num_samples` the result has a sample axis after the batch axis."""
        raise NotImplementedError

    def mode(self, obs: torch.Tensor) -> torch.Tensor:
        """A deterministic pre-squash action for evaluation (the mean, or the image of zero noise)."""
        raise NotImplementedError

    def transform(self, obs: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """The pre-squash action for given base noise [*S, *sample_axes, noise_dim], before any noise the family
        adds afterwards (`noise_std`); lets an estimator probe the policy's spread with noise it chooses."""
        raise NotImplementedError(f"{type(self).__name__} does not expose its noise-to-action map")

    def exact_log_prob(self, obs: torch.Tensor, sample: PolicySample) -> torch.Tensor | None:
        """The exact, differentiable log-density of `sample.x`, or None where the family has none.

        Families whose density costs extra work (the Euler flow's Jacobians) compute it here, only when an
        estimator asks; the rest return what `sample` already carries.
        """
        return sample.log_prob

    def penalty(self, obs: torch.Tensor, sample: PolicySample) -> tuple[torch.Tensor, dict] | None:
        """An extra term for the actor loss (e.g. Jacobian clamping), or None where the family has none."""
        return None


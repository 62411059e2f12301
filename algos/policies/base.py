"""The policy seam: every policy family samples pre-squash actions and says what an estimator needs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from algos.members import Members


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


# What a policy can offer an estimator. Every policy samples, gives a mode and maps chosen base noise to actions.
SAMPLES = "samples"
EXACT_DENSITY = "exact_density"            # log pi(x given s) exactly, differentiably
NOISY_PUSHFORWARD = "noisy_pushforward"    # x = transform(z) + sigma * e, sigma = `noise_std` > 0, and each sample
                                           # carries transform(z) as extras[PUSHFORWARD_END]: p(z, x) is known
PUSHFORWARD_END = "x_end"  # PolicySample.extras key of transform(z), the point before the added noise
CAPABILITIES = {SAMPLES: "a policy that samples and gives a mode",
                EXACT_DENSITY: "a policy with an exact log-density",
                NOISY_PUSHFORWARD: "a policy that adds Gaussian noise after pushing its base noise forward (a known "
                                   "joint density of noise and action)"}


class Policy(nn.Module):
    """Base class. `capabilities()` declares what the policy offers estimators (EXACT_DENSITY, ...); estimators
    state what they require, and a pairing is refused by that, not by the kind of policy.

    `members` (algos.members) makes the policy a group of seeds: every parameter and tensor gains a leading member
    axis G (obs [G, B, o] -> x [G, B, d]) and each member draws its noise from its own stream; None is one seed,
    drawing from torch's global generator."""

    exact_density: ClassVar[bool] = False

    def __init__(self, obs_dim: int, act_dim: int, members: Members | None = None):
        super().__init__()
        self.obs_dim = obs_dim
        self.act_dim = act_dim
        self.members = members
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

    def capabilities(self) -> frozenset[str]:
        return frozenset({SAMPLES} | ({EXACT_DENSITY} if self.exact_density else set()))

    def lacks(self, capability: str) -> str:
        """Why this policy does not offer `capability`, for the refusal message."""
        return f"{type(self).__name__} is not one"

    def exact_log_prob(self, obs: torch.Tensor, sample: PolicySample) -> torch.Tensor | None:
        """The exact, differentiable log-density of `sample.x`, or None where the family has none.

        Families whose density costs extra work (the Euler flow's Jacobians) compute it here, only when an
        estimator asks; the rest return what `sample` already carries.
        """
        return sample.log_prob

    def penalty(self, obs: torch.Tensor, sample: PolicySample) -> tuple[torch.Tensor, dict] | None:
        """An extra term for the actor loss (e.g. Jacobian clamping), or None where the family has none."""
        return None


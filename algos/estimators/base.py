"""The entropy-estimator seam: what SAC asks of any way of getting log pi(x given s)."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from algos.normal import repeat_obs
from algos.optim import Adam
from algos.policies.base import CAPABILITIES, SAMPLES, Policy, PolicySample


class EntropyEstimator(nn.Module):
    """Gives SAC the log-density term of pre-squash actions x; the SAC core adds the tanh correction.

    `requires` names the policy capability (algos.policies.base) the estimator needs; the runner refuses a policy
    that lacks it before training starts. The estimator holds the policy it serves, because bounds and auxiliary
    networks need to run it (draw more samples, push noise through it). A group policy (`policy.members`, see
    algos.members) makes a group estimator: its networks, state and noise gain the policy's member axis.
    """

    requires: ClassVar[str] = SAMPLES

    def __init__(self, policy: Policy):
        super().__init__()
        # Kept outside the module tree so the policy's parameters are not counted as the estimator's own.
        self.__dict__["policy"] = policy
        self.members = policy.members

    @classmethod
    def refusal(cls, policy: Policy) -> str | None:
        """Why this estimator cannot serve `policy`, or None when it can. Checked before training starts."""
        if cls.requires not in policy.capabilities():
            return f"{cls.__name__} needs {CAPABILITIES[cls.requires]}: {policy.lacks(cls.requires)}"
        return None

    # Convention for every method: `obs` has the leading shape of `sample.x` (use repeat_obs for [B, n, d]).

    def log_prob(self, obs: torch.Tensor, sample: PolicySample) -> torch.Tensor:
        """An estimate of log pi(x given s) per sample, used as a value (critic target, diagnostics)."""
        raise NotImplementedError

    def actor_log_prob(self, obs: torch.Tensor, sample: PolicySample) -> torch.Tensor:
        """A term whose gradient w.r.t. the policy parameters is that of log pi(x given s).

        Its value may be a surrogate; by default it is the value estimate itself.
        """
        return self.log_prob(obs, sample)

    def target_shift(self, bonus: torch.Tensor) -> torch.Tensor | float:
        """What to subtract from the critic target, given its entropy bonus per transition (gamma * (1 - done) *
        alpha * (-log pi')); called once per update. Zero: SAC's own target."""
        return 0.0

    def optimizers(self) -> dict[str, Adam]:
        """The optimizers of any auxiliary network, by name, so checkpoints can save them."""
        return {}

    def update(self, obs: torch.Tensor, sample: PolicySample) -> dict[str, torch.Tensor]:
        """Train any auxiliary network on the actor step's states and samples; returns detached metrics."""
        return {}

    @torch.no_grad()
    def diagnostics(self, obs: torch.Tensor, num_samples: int) -> dict:
        """Entropy of the pre-squash action per state from `num_samples` draws, keyed estimate/lower/upper/exact.

        Returned as (log-density estimates [B, n], samples x [B, n, d]) pairs so the caller can apply the tanh
        correction once for every key; see algos.diagnostics. A value that is a scalar tensor instead is a check of
        the estimator's own, logged as it is.
        """
        sample = self.policy.sample(obs, num_samples)
        return {"estimate": (self.log_prob(repeat_obs(obs, num_samples), sample), sample.x)}

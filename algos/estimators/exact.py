"""The exact estimator: the policy's own log-density (Gaussian, normalizing flow, deterministic Euler flow)."""

from __future__ import annotations

import torch

from algos.estimators.base import EntropyEstimator
from algos.members import member_mean
from algos.normal import repeat_obs
from algos.policies.base import EXACT_DENSITY, PolicySample


class ExactEstimator(EntropyEstimator):
    """Uses the policy's exact log-density (Policy.exact_log_prob); gradients flow by the change of variables.

    The flow family fits only without added noise: then the Euler map is a bijection and its log-density follows
    from the Jacobians; with noise its density is an intractable integral over z.
    """

    requires = EXACT_DENSITY

    def log_prob(self, obs: torch.Tensor, sample: PolicySample) -> torch.Tensor:
        log_prob = self.policy.exact_log_prob(obs, sample)
        if log_prob is None:
            raise ValueError(f"{type(self.policy).__name__} returned no exact log-density")
        return log_prob

    @torch.no_grad()
    def diagnostics(self, obs: torch.Tensor, num_samples: int) -> dict:
        """The exact value is its own reference: reported under both names so the k-NN check can compare. For the
        Euler flow also `sign_change_fraction`, the share of samples where an Euler step reverses orientation
        (FlowPolicy.sign_changed): the value rests on invertibility, so a folded map shows up in the logs instead of
        silently; the share whose value is wrong can be larger (a lower bound, not a measure)."""
        sample = self.policy.sample(obs, num_samples)
        log_prob = self.log_prob(repeat_obs(obs, num_samples), sample)
        report = {"estimate": (log_prob, sample.x), "exact": (log_prob, sample.x)}
        if hasattr(self.policy, "sign_changed"):
            flags = self.policy.sign_changed(obs, sample.noise).float()
            report["sign_change_fraction"] = member_mean(flags, self.members)
        return report

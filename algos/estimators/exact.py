"""The exact estimator: the policy's own log-density (Gaussian, normalizing flow)."""

from __future__ import annotations

import torch

from algos.estimators.base import EntropyEstimator
from algos.policies.base import PolicySample


class ExactEstimator(EntropyEstimator):
    """Uses the log-density the policy returns with its sample; gradients flow by the change of variables."""

    families = ("gaussian", "nf")

    def log_prob(self, obs: torch.Tensor, sample: PolicySample) -> torch.Tensor:
        if sample.log_prob is None:
            raise ValueError(f"{type(self.policy).__name__} returned no exact log-density")
        return sample.log_prob

    @torch.no_grad()
    def diagnostics(self, obs: torch.Tensor, num_samples: int) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        sample = self.policy.sample(obs, num_samples)
        log_prob = sample.log_prob
        # The exact value is its own reference: report it under both names so the k-NN check can compare.
        return {"estimate": (log_prob, sample.x), "exact": (log_prob, sample.x)}

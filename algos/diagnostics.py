"""Entropy diagnostics of the squashed action on a fixed batch of states, computed off the training hot path."""

from __future__ import annotations

import torch

from algos.estimators.base import EntropyEstimator
from algos.squash import squashed_log_prob


@torch.no_grad()
def entropy_report(estimator: EntropyEstimator, obs: torch.Tensor, num_samples: int) -> dict[str, float]:
    """Mean entropy per state of a = tanh(x), for every log-density the estimator offers (estimate, bounds,
    exact), under `entropy/<name>` keys."""
    report = {}
    for name, (log_prob_x, x) in estimator.diagnostics(obs, num_samples).items():
        report[f"entropy/{name}"] = float(-squashed_log_prob(log_prob_x, x).mean())
    return report

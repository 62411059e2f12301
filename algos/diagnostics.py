"""Entropy diagnostics of the squashed action on a fixed batch of states, computed off the training hot path."""

from __future__ import annotations

import torch

from algos.estimators.base import EntropyEstimator
from algos.knn_reference import KNN_DEFAULT, squashed_knn_entropy
from algos.squash import squashed_log_prob


@torch.no_grad()
def entropy_report(estimator: EntropyEstimator, obs: torch.Tensor, num_samples: int, knn_k: int = 3,
                   knn_method: str = KNN_DEFAULT) -> dict[str, float]:
    """Mean entropy per state of a = tanh(x), for every log-density the estimator offers (estimate, bounds,
    exact), under `entropy/<name>` keys, plus the sample-only k-NN estimate and the comparisons that tell how far
    each number can be trusted.

    entropy/knn: k-NN with `knn_k` neighbours by `knn_method` (algos.knn_reference.METHODS) on the estimate's own
    pre-tanh draws x, plus the mean tanh log-Jacobian (algos.knn_reference.squashed_knn_entropy; the same draws, so
    knn_error measures the estimator, not sampling noise between two batches). entropy/reference: the exact
    entropy where the estimator has one, else entropy/knn. entropy/knn_error: knn - exact, where exact exists.
    entropy/gap_upper: upper - lower, where both exist (it bounds the true gap of the lower bound from above).
    Scalars the estimator adds (e.g. entropy/sign_change_fraction of the exact Euler flow) pass through.
    """
    diagnostics = estimator.diagnostics(obs, num_samples)
    report = {}
    for name, value in diagnostics.items():
        if not isinstance(value, tuple):  # a scalar check of the estimator's own (e.g. sign_change_fraction)
            report[f"entropy/{name}"] = float(value)
            continue
        log_prob_x, x = value
        report[f"entropy/{name}"] = float(-squashed_log_prob(log_prob_x, x).mean())
    report["entropy/knn"] = float(squashed_knn_entropy(diagnostics["estimate"][1], knn_k, knn_method).mean())
    report["entropy/reference"] = report.get("entropy/exact", report["entropy/knn"])
    if "entropy/exact" in report:
        report["entropy/knn_error"] = report["entropy/knn"] - report["entropy/exact"]
    if "entropy/upper" in report and "entropy/lower" in report:
        report["entropy/gap_upper"] = report["entropy/upper"] - report["entropy/lower"]
    return report

"""The k-NN reference entropy of squashed actions, by a named method: the diagnostics' sample-only check."""

from __future__ import annotations

import torch

from algos.knn import knn_entropy
from algos.knn_local import local_gaussian_entropy
from algos.squash import tanh_log_det

# whiten / scale / none: Kozachenko-Leonenko after that affine map (algos.knn.affine_standardize); min: the smaller
# of the whitened and the unwhitened estimate; local: one ellipsoid per sample (algos.knn_local); local_min: the
# smaller of local and unwhitened. Each over-states where its model of the neighbourhood fails (unequal spread,
# curvature, the gap between modes that global whitening squeezes), so the smaller of two fails only where both
# do. docs/estimators.md has their biases on known answers.
METHODS = ("whiten", "scale", "none", "min", "local", "local_min")
SMALLER_OF = {"min": ("whiten", "none"), "local_min": ("local", "none")}
KNN_DEFAULT = "local_min"  # the smallest largest bias over the study's cases (docs/estimators.md)


def knn_reference(samples: torch.Tensor, k: int = 3, method: str = KNN_DEFAULT) -> torch.Tensor:
    """Entropy of each batch entry's samples [B, N, d] -> [B] by `method` (one of METHODS)."""
    if method in SMALLER_OF:
        first, second = SMALLER_OF[method]
        return torch.minimum(knn_reference(samples, k, first), knn_reference(samples, k, second))
    if method == "local":
        return local_gaussian_entropy(samples, k)
    if method in METHODS:
        return knn_entropy(samples, k, affine=method)
    raise ValueError(f"method must be one of {METHODS}, got {method!r}")


def squashed_knn_entropy(x: torch.Tensor, k: int = 3, method: str = KNN_DEFAULT) -> torch.Tensor:
    """Entropy of a = tanh(x) from pre-tanh samples x [B, N, d] -> [B]: k-NN on x plus E[sum log(1 - tanh(x)^2)].

    H(tanh x) = H(x) + E[log|det d tanh / dx|] holds exactly, and x has no boundary, whereas k-NN on the squashed
    samples over-states the entropy near the faces of the cube, where the density piles up against a wall.
    """
    return knn_reference(x, k, method) + tanh_log_det(x).mean(-1)

"""Kozachenko-Leonenko k-nearest-neighbour entropy: a reference that needs only samples, for every policy."""

from __future__ import annotations

import math

import torch

from algos.squash import tanh_log_det


def log_unit_ball_volume(dim: int) -> float:
    """log V_d, V_d = pi^(d/2) / Gamma(d/2 + 1), the volume of the Euclidean unit ball in d dimensions."""
    return 0.5 * dim * math.log(math.pi) - math.lgamma(0.5 * dim + 1.0)


def knn_entropy(samples: torch.Tensor, k: int = 3, min_distance: float = 1e-12) -> torch.Tensor:
    """H = psi(N) - psi(k) + log V_d + (d / N) sum_i log r_i per batch entry, from samples [B, N, d] -> [B].

    r_i is the distance from sample i to its k-th nearest other sample. Distances are computed in float64 and
    without the matmul shortcut, because near-duplicate samples (actions saturated by tanh) make the shortcut's
    cancellation error dominate log r_i.

    k: neighbour order; larger k lowers the variance and raises the bias.
    min_distance: floor on r_i so that exact duplicates give a finite (very low) entropy instead of -inf.
    """
    num, dim = samples.shape[-2], samples.shape[-1]
    if num <= k:
        raise ValueError(f"the k-NN estimate needs more than k={k} samples per state, got {num}")
    points = samples.double()
    dist = torch.cdist(points, points, compute_mode="donot_use_mm_for_euclid_dist")
    dist.diagonal(dim1=-2, dim2=-1).fill_(math.inf)  # a sample is not its own neighbour
    kth = dist.topk(k, dim=-1, largest=False).values[..., -1].clamp_min(min_distance)
    digamma_n, digamma_k = torch.special.digamma(points.new_tensor([float(num), float(k)]))
    entropy = digamma_n - digamma_k + log_unit_ball_volume(dim) + dim * kth.log().mean(-1)
    return entropy.to(samples.dtype)


def squashed_knn_entropy(x: torch.Tensor, k: int = 3) -> torch.Tensor:
    """Entropy of a = tanh(x) from pre-tanh samples x [B, N, d] -> [B]: k-NN on x plus E[sum log(1 - tanh(x)^2)].

    H(tanh x) = H(x) + E[log|det d tanh / dx|] holds exactly, and x has no boundary, whereas k-NN on the squashed
    samples over-states the entropy near the faces of the cube, where the density piles up against a wall.
    """
    return knn_entropy(x, k) + tanh_log_det(x).mean(-1)

"""Kozachenko-Leonenko k-nearest-neighbour entropy: a reference that needs only samples, for every policy."""

from __future__ import annotations

import math

import torch



def log_unit_ball_volume(dim: int) -> float:
    """log V_d, V_d = pi^(d/2) / Gamma(d/2 + 1), the volume of the Euclidean unit ball in d dimensions."""
    return 0.5 * dim * math.log(math.pi) - math.lgamma(0.5 * dim + 1.0)


AFFINE = ("whiten", "scale", "none")


def affine_standardize(samples: torch.Tensor, affine: str = "whiten", jitter: float = 1e-9
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """(y, log|det dx/dy|) with y an affine map of each batch entry's samples [B, N, d] and x the samples.

    k-NN uses one ball radius for every direction, so at finite N its bias grows with how unequal the spread of the
    samples is across directions. H(x) = H(y) + log|det dx/dy| holds exactly for any fixed invertible affine map,
    so estimating H(y) on samples of unit spread and adding the log-determinant back removes that bias.
    "whiten": y = C^-1/2 (x - mean) with C the per-entry sample covariance (via the correlation matrix's Cholesky
    factor, so a dimension's scale never sets another's jitter); "scale": divide each dimension by its sample std;
    "none": y = x. The map depends on the samples, which costs a term of order 1/N that the study measures.
    jitter: added to the correlation matrix's diagonal, so that perfectly correlated samples stay invertible.
    """
    if affine not in AFFINE:
        raise ValueError(f"affine must be one of {AFFINE}, got {affine!r}")
    if affine == "none":
        return samples, samples.new_zeros(samples.shape[:-2])
    centred = samples - samples.mean(-2, keepdim=True)
    std = centred.pow(2).mean(-2, keepdim=True).sqrt().clamp_min(torch.finfo(samples.dtype).tiny)
    scaled, log_det = centred / std, std.log().sum(-1).squeeze(-1)
    if affine == "scale":
        return scaled, log_det
    correlation = scaled.transpose(-1, -2) @ scaled / samples.shape[-2]
    correlation = correlation + jitter * torch.eye(samples.shape[-1], dtype=samples.dtype, device=samples.device)
    factor = torch.linalg.cholesky(correlation)
    whitened = torch.linalg.solve_triangular(factor, scaled.transpose(-1, -2), upper=False).transpose(-1, -2)
    return whitened, log_det + factor.diagonal(dim1=-2, dim2=-1).log().sum(-1)


def pairwise_distances(points: torch.Tensor) -> torch.Tensor:
    """Euclidean distances [B, N, N] between each entry's samples, inf on the diagonal (a sample is not its own
    neighbour). Computed without the matmul shortcut: near-duplicate samples (actions saturated by tanh) make its
    cancellation error dominate log r."""
    dist = torch.cdist(points, points, compute_mode="donot_use_mm_for_euclid_dist")
    dist.diagonal(dim1=-2, dim2=-1).fill_(math.inf)
    return dist


def kl_constant(num: int, k: int, dim: int) -> float:
    """psi(N) - psi(k) + log V_d, the part of the Kozachenko-Leonenko estimate that does not depend on the data."""
    digamma_n, digamma_k = torch.special.digamma(torch.tensor([float(num), float(k)], dtype=torch.float64))
    return float(digamma_n - digamma_k) + log_unit_ball_volume(dim)


def knn_entropy(samples: torch.Tensor, k: int = 3, min_distance: float = 1e-12, affine: str = "whiten"
                ) -> torch.Tensor:
    """H = psi(N) - psi(k) + log V_d + (d / N) sum_i log r_i per batch entry, from samples [B, N, d] -> [B].

    r_i is the distance from sample i to its k-th nearest other sample, after `affine_standardize` (whose
    log-determinant is added back), in float64.

    k: neighbour order; larger k lowers the variance and raises the bias.
    min_distance: floor on r_i so that exact duplicates give a finite (very low) entropy instead of -inf.
    affine: "whiten" (default), "scale" or "none", the map of `affine_standardize`.
    """
    num, dim = samples.shape[-2], samples.shape[-1]
    if num <= k:
        raise ValueError(f"the k-NN estimate needs more than k={k} samples per state, got {num}")
    points, log_det = affine_standardize(samples.double(), affine)
    kth = pairwise_distances(points).topk(k, dim=-1, largest=False).values[..., -1].clamp_min(min_distance)
    entropy = kl_constant(num, k, dim) + dim * kth.log().mean(-1) + log_det
    return entropy.to(samples.dtype)

"""k-NN entropy with a local ellipsoid per sample, for densities that bend or thin out within a neighbourhood."""

from __future__ import annotations

import functools
import math

import torch

from algos.knn import affine_standardize, kl_constant, pairwise_distances

LOCAL_NEIGHBOURS = 16
# Standard normal points drawn to measure the local estimate's own offset, spread over entries of N samples each.
CALIBRATION_POINTS = 2**14


def local_neighbours(num: int, dim: int) -> int:
    """Neighbours whose spread around a sample sets its ellipsoid: LOCAL_NEIGHBOURS, or 2d where that is more (more
    than d keeps the ellipsoid full-rank), and at most N - 1."""
    return min(num - 1, max(LOCAL_NEIGHBOURS, 2 * dim))


def local_ellipsoid_entropy(samples: torch.Tensor, k: int = 3, neighbours: int | None = None,
                           min_distance: float = 1e-12, jitter: float = 1e-9) -> torch.Tensor:
    """Kozachenko-Leonenko with sample i's ball replaced by an ellipsoid of unit-determinant shape, fitted to its
    `neighbours` nearest samples (default `local_neighbours`): samples [B, N, d] -> [B].

    One ball radius assumes the density is flat across the ball. On a thin curved density (a banana) the ball
    around a sample holds mostly empty space, so its k-th neighbour is far and the estimate too high, even after
    global whitening, which removes only the overall shape. Here the shape is M_i = C_i / |C_i|^(1/d), with C_i the
    second moment of the differences to the `neighbours` nearest samples (after global whitening), and r_i is
    the k-th smallest Mahalanobis distance under M_i among them; the ellipsoid {y : |y|_M <= r_i} has volume
    V_d r_i^d, as the ball of the same radius does (the geometric k-NN idea of Lord, Sun and Bollt 2018,
    "Geometric k-nearest neighbor estimation of entropy and mutual information"). The shape is fitted to the same
    samples it measures, so it shrinks toward them: this raw estimate is low by about a nat in 6-D, which
    `local_gaussian_entropy` removes.
    """
    num, dim = samples.shape[-2], samples.shape[-1]
    neighbours = local_neighbours(num, dim) if neighbours is None else neighbours
    if num <= neighbours or neighbours <= max(k, dim):
        raise ValueError(f"the local k-NN estimate needs max(k, d) < neighbours < N samples, got k={k}, d={dim}, "
                         f"neighbours={neighbours}, N={num}: raise diagnostics.num_samples")
    points, log_det = affine_standardize(samples.double(), "whiten")
    index = pairwise_distances(points).topk(neighbours, dim=-1, largest=False).indices      # [B, N, K]
    near = torch.gather(points.unsqueeze(-3).expand(*points.shape[:-2], num, num, dim), -2,
                        index.unsqueeze(-1).expand(*index.shape, dim))                     # [B, N, K, d]
    diffs = near - points.unsqueeze(-2)
    second_moment = diffs.transpose(-1, -2) @ diffs / neighbours
    eye = torch.eye(dim, dtype=points.dtype, device=points.device)
    factor = torch.linalg.cholesky(second_moment + jitter * eye)
    whitened = torch.linalg.solve_triangular(factor, diffs.transpose(-1, -2), upper=False)  # [B, N, d, K]
    mahalanobis = whitened.pow(2).sum(-2).sqrt()
    kth = mahalanobis.topk(k, dim=-1, largest=False).values[..., -1].clamp_min(min_distance)
    half_log_det = factor.diagonal(dim1=-2, dim2=-1).log().sum(-1)                          # log |C_i|^(1/2)
    entropy = kl_constant(num, k, dim) + (dim * kth.log() + half_log_det).mean(-1) + log_det
    return entropy.to(samples.dtype)


@functools.lru_cache(maxsize=64)
def local_offset(num: int, dim: int, k: int, neighbours: int | None = None) -> float:
    """Mean error of `local_ellipsoid_entropy` on standard normal samples of N = num in d = dim, from a private
    generator of fixed seed (no training random stream is touched), cached per size."""
    generator = torch.Generator().manual_seed(0)
    entries = max(4, CALIBRATION_POINTS // num)
    normal = torch.randn(entries, num, dim, generator=generator, dtype=torch.float64)
    truth = 0.5 * dim * (1.0 + math.log(2.0 * math.pi))
    return float(local_ellipsoid_entropy(normal, k, neighbours).mean()) - truth


def local_gaussian_entropy(samples: torch.Tensor, k: int = 3, neighbours: int | None = None) -> torch.Tensor:
    """`local_ellipsoid_entropy` less its offset on a standard normal of the same N and d (`local_offset`): the
    shape fit's shrinkage depends on k, the neighbour count and d, not on the density, so one Gaussian measures it."""
    num, dim = samples.shape[-2], samples.shape[-1]
    return local_ellipsoid_entropy(samples, k, neighbours) - local_offset(num, dim, k, neighbours)

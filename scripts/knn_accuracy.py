"""Known-answer study of the k-NN reference of squashed actions: Gaussians of known entropy, isotropic,
anisotropic and correlated, under each of the reference's affine maps (part of scripts.estimator_accuracy)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from algos.knn import knn_entropy
from algos.knn_reference import squashed_knn_entropy
from algos.squash import tanh_log_det

NUM_STATES = 32
# Per-dimension stds of the anisotropic cases: a 12x spread, as a fresh policy's heads give.
ANISOTROPIC_STDS = (0.08, 0.15, 0.3, 0.5, 0.7, 0.96)


def squashed_gaussian_entropy(scale_tril: torch.Tensor) -> float:
    """H(tanh x), x ~ N(0, L L^T): H(x) + sum_i E[log(1 - tanh(x_i)^2)], each term a 1-D expectation over x_i's
    marginal N(0, C_ii), by quadrature."""
    cov = (scale_tril @ scale_tril.T).double()
    dim = cov.shape[-1]
    entropy = 0.5 * dim * math.log(2 * math.pi * math.e) + 0.5 * torch.logdet(cov).item()
    for std in cov.diagonal().sqrt().tolist():
        grid = torch.linspace(-12.0, 12.0, 200_001, dtype=torch.float64) * std
        density = torch.exp(-0.5 * (grid / std) ** 2) / (std * math.sqrt(2 * math.pi))
        entropy += torch.trapezoid(density * tanh_log_det(grid.unsqueeze(-1)), grid).item()
    return entropy


def equicorrelated_tril(stds: tuple[float, ...], rho: float) -> torch.Tensor:
    """Cholesky factor of diag(stds) R diag(stds), R with ones on the diagonal and rho elsewhere."""
    dim = len(stds)
    correlation = torch.full((dim, dim), rho, dtype=torch.float64).fill_diagonal_(1.0)
    std = torch.diag(torch.tensor(stds, dtype=torch.float64))
    return torch.linalg.cholesky(std @ correlation @ std)


@dataclass
class KNNCase:
    """x ~ N(0, L L^T) with L = scale_tril; `label` names it in the table."""

    label: str
    scale_tril: torch.Tensor
    num_samples: int

    @classmethod
    def isotropic(cls, dim: int, std: float, num_samples: int) -> "KNNCase":
        return cls(f"{dim}-D iso std {std:g}", std * torch.eye(dim, dtype=torch.float64), num_samples)

    @classmethod
    def anisotropic(cls, num_samples: int, rho: float = 0.0) -> "KNNCase":
        shape = f"correlated rho {rho:g}" if rho else "anisotropic"
        label = f"{len(ANISOTROPIC_STDS)}-D {shape}, stds {ANISOTROPIC_STDS[0]:g}-{ANISOTROPIC_STDS[-1]:g}"
        return cls(label, equicorrelated_tril(ANISOTROPIC_STDS, rho), num_samples)


def knn_cases(quick: bool) -> list[KNNCase]:
    shaped = [KNNCase.anisotropic(256), KNNCase.anisotropic(256, rho=0.9)]
    if quick:
        return [KNNCase.isotropic(6, 0.7, 256), *shaped]
    return [KNNCase.isotropic(6, 0.7, 256), KNNCase.isotropic(6, 0.7, 2000), KNNCase.isotropic(1, 0.7, 256),
            KNNCase.isotropic(6, 2.0, 256), KNNCase.isotropic(17, 0.7, 2000), *shaped,
            KNNCase.anisotropic(256, rho=-0.15), KNNCase.anisotropic(2000, rho=0.9)]


def knn_errors(case: KNNCase, k: int = 3, seed: int = 0) -> dict[str, float]:
    """Mean over NUM_STATES draws of each estimate minus the exact entropy of tanh(x): the pre-tanh k-NN under
    each affine map (plus the tanh log-Jacobian), and k-NN on the squashed samples themselves."""
    torch.manual_seed(seed)
    dim = case.scale_tril.shape[-1]
    x = torch.randn(NUM_STATES, case.num_samples, dim, dtype=torch.float64) @ case.scale_tril.T
    truth = squashed_gaussian_entropy(case.scale_tril)
    errors = {affine: float(squashed_knn_entropy(x, k, affine).mean()) - truth
              for affine in ("whiten", "scale", "none")}
    errors["tanh"] = float(knn_entropy(torch.tanh(x), k, affine="none").mean()) - truth
    return errors


def markdown(results: list[tuple[KNNCase, dict[str, float]]]) -> list[str]:
    lines = [f"k-NN (k = 3) entropy of a = tanh(x), x ~ N(0, C), minus the exact value (quadrature), mean over "
             f"{NUM_STATES} states:", "",
             "| x | samples | whitened | per-dim scaled | raw pre-tanh | k-NN on tanh(x) |",
             "| --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {case.label} | {case.num_samples} | {e['whiten']:+.3f} | {e['scale']:+.3f} | {e['none']:+.3f} | "
              f"{e['tanh']:+.3f} |" for case, e in results]
    return lines

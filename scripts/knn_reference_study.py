"""Bias of each k-NN reference method (algos.knn_reference.METHODS) on 6-D densities of known entropy: Gaussians of
every shape, squashed ones, curved "bananas" and two-mode mixtures, at N = 256 and N = 2000 samples per state.

    python -m scripts.knn_reference_study            # the table of docs/estimators.md and the cost per evaluation
    python -m scripts.knn_reference_study --quick    # 2 repetitions, N = 256 only
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from algos.knn_reference import METHODS, knn_reference, squashed_knn_entropy
from algos.squash import tanh_log_det

DIM = 6
STATES = {256: 32, 2000: 8}           # states per repetition at each sample size (the diagnostics use 32 x 256)
TRUTH_SAMPLES = 2_000_000             # Monte Carlo draws for the terms without a closed form
ANISOTROPIC_STDS = (0.08, 0.15, 0.3, 0.5, 0.7, 0.96)


def gaussian_entropy(stds: torch.Tensor) -> float:
    return 0.5 * len(stds) * math.log(2 * math.pi * math.e) + float(stds.log().sum())


@dataclass
class Case:
    """x = sample(n, generator) of shape [n, d]; `base_entropy` is H(x) when exact, else None (then `log_density`
    gives it by Monte Carlo); `squash` estimates H(tanh x) instead, adding E[sum log(1 - tanh(x)^2)]."""

    label: str
    sample: Callable[[int, torch.Generator], torch.Tensor]
    base_entropy: float | None = None
    log_density: Callable[[torch.Tensor], torch.Tensor] | None = None
    squash: bool = False

    def truth(self) -> float:
        """The exact entropy, by Monte Carlo with TRUTH_SAMPLES draws where no closed form exists."""
        generator = torch.Generator().manual_seed(12345)
        x = self.sample(TRUTH_SAMPLES, generator)
        entropy = self.base_entropy if self.base_entropy is not None else float(-self.log_density(x).mean())
        return entropy + float(tanh_log_det(x).mean()) if self.squash else entropy


def gaussian(label: str, stds, rho: float = 0.0, squash: bool = False) -> Case:
    """N(0, diag(stds) R diag(stds)), R with 1 on the diagonal and rho elsewhere."""
    stds = torch.tensor(stds, dtype=torch.float64)
    correlation = torch.full((DIM, DIM), rho, dtype=torch.float64).fill_diagonal_(1.0)
    factor = torch.linalg.cholesky(torch.diag(stds) @ correlation @ torch.diag(stds))
    entropy = 0.5 * DIM * math.log(2 * math.pi * math.e) + float(factor.diagonal().log().sum())
    return Case(label, lambda n, g: torch.randn(n, DIM, generator=g, dtype=torch.float64) @ factor.T, entropy,
                squash=squash)


def banana(label: str, stds, bend: float, pairs: int, squash: bool = False) -> Case:
    """x = N(0, diag(stds)) with x_{2j+1} += bend (x_{2j}^2 - std_{2j}^2) for the first `pairs` pairs: a map of unit
    Jacobian (triangular, ones on the diagonal), so H(x) is the base Gaussian's."""
    stds = torch.tensor(stds, dtype=torch.float64)

    def sample(n: int, generator: torch.Generator) -> torch.Tensor:
        x = torch.randn(n, DIM, generator=generator, dtype=torch.float64) * stds
        for j in range(pairs):
            x[:, 2 * j + 1] += bend * (x[:, 2 * j] ** 2 - stds[2 * j] ** 2)
        return x
    return Case(label, sample, gaussian_entropy(stds), squash=squash)


def mixture(label: str, shift: float, std: float, weight: float, squash: bool = False) -> Case:
    """weight N(-shift e_1, std^2 I) + (1 - weight) N(+shift e_1, std^2 I); its entropy from the exact density."""
    centre = torch.zeros(DIM, dtype=torch.float64)
    centre[0] = shift
    log_weights = torch.tensor([math.log(weight), math.log(1 - weight)], dtype=torch.float64)

    def sample(n: int, generator: torch.Generator) -> torch.Tensor:
        sign = torch.where(torch.rand(n, 1, generator=generator, dtype=torch.float64) < weight, -1.0, 1.0)
        return sign * centre + std * torch.randn(n, DIM, generator=generator, dtype=torch.float64)

    def log_density(x: torch.Tensor) -> torch.Tensor:
        components = -torch.stack([x + centre, x - centre]).pow(2).sum(-1) / (2 * std**2)
        norm = -DIM * math.log(std * math.sqrt(2 * math.pi))
        return torch.logsumexp(components + log_weights.unsqueeze(-1), 0) + norm
    return Case(label, sample, log_density=log_density, squash=squash)


def cases() -> list[Case]:
    return [
        gaussian("Gaussian iso std 1", [1.0] * DIM),
        gaussian("Gaussian stds 0.08-0.96, tanh", ANISOTROPIC_STDS, squash=True),
        gaussian("Gaussian stds 0.08-0.96 rho 0.9, tanh", ANISOTROPIC_STDS, rho=0.9, squash=True),
        gaussian("Gaussian iso std 2, tanh", [2.0] * DIM, squash=True),
        banana("banana b 1, stds 1, 2 pairs", [1.0] * DIM, 1.0, 2),
        banana("banana b 1, stds 1/0.3, 2 pairs", [1.0, 0.3] * 3, 1.0, 2),
        banana("banana b 1, stds 0.7/0.15, 2 pairs, tanh", [0.7, 0.15] * 3, 1.0, 2, squash=True),
        banana("banana b 1, stds 1/0.1, 3 pairs", [1.0, 0.1] * 3, 1.0, 3),
        mixture("mixture +-2, std 0.5, 1:1", 2.0, 0.5, 0.5),
        mixture("mixture +-1, std 0.5, 3:1, tanh", 1.0, 0.5, 0.75, squash=True),
    ]


def estimate(case: Case, method: str, samples: torch.Tensor, k: int) -> torch.Tensor:
    """The reference's entropy per state of x, or of tanh(x) for a squashed case, from samples [B, N, d]."""
    return squashed_knn_entropy(samples, k, method) if case.squash else knn_reference(samples, k, method)


def biases(case: Case, num: int, repetitions: int, k: int = 3) -> dict[str, list[float]]:
    """Per method, the mean error over STATES[num] states of each repetition (fresh draws per repetition)."""
    truth = case.truth()
    generator = torch.Generator().manual_seed(num)
    out: dict[str, list[float]] = {method: [] for method in METHODS}
    for _ in range(repetitions):
        x = torch.stack([case.sample(num, generator) for _ in range(STATES[num])])
        for method in METHODS:
            values = torch.cat([estimate(case, method, chunk, k) for chunk in x.split(4)])
            out[method].append(float(values.mean()) - truth)
    return out


def cost(method: str, states: int = 32, num: int = 256, repeats: int = 5) -> float:
    """Median seconds of one diagnostics call's reference (states x num samples, d = 6), calibration cached."""
    x = torch.randn(states, num, DIM, generator=torch.Generator().manual_seed(1))
    squashed_knn_entropy(x, 3, method)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        squashed_knn_entropy(x, 3, method)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 repetitions, N = 256 only")
    parser.add_argument("--repetitions", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    sizes = (256,) if args.quick else (256, 2000)
    repetitions = 2 if args.quick else args.repetitions
    worst = {(method, num): 0.0 for method in METHODS for num in sizes}
    errors: dict[str, list[float]] = {method: [] for method in METHODS}
    print(f"k-NN (k = 3) reference minus the exact entropy, nats, mean +- std over {repetitions} repetitions "
          f"(each the mean over {', '.join(f'{STATES[n]} states at N = {n}' for n in sizes)}):\n")
    print("| case | N | " + " | ".join(METHODS) + " |")
    print("| --- | --- | " + " | ".join("---" for _ in METHODS) + " |")
    for case in cases():
        for num in sizes:
            result = biases(case, num, repetitions)
            cells = []
            for method in METHODS:
                mean = statistics.fmean(result[method])
                worst[method, num] = max(worst[method, num], abs(mean))
                errors[method].append(abs(mean))
                cells.append(f"{mean:+.3f} +- {statistics.stdev(result[method]):.3f}")
            print(f"| {case.label} | {num} | " + " | ".join(cells) + " |", flush=True)
    for num in sizes:
        print(f"| largest abs bias | {num} | " + " | ".join(f"{worst[m, num]:.3f}" for m in METHODS) + " |")
    # the smallest largest bias over every case and size; a tie goes to the smaller next largest, and so on
    winner = min(METHODS, key=lambda m: sorted(errors[m], reverse=True))
    print(f"\nsmallest largest abs bias (ties broken by the next largest): {winner}")
    print("\nseconds per diagnostics call (32 states x 256 samples, d = 6, one thread, median of 5): "
          + ", ".join(f"{method} {cost(method):.3f}" for method in METHODS))


if __name__ == "__main__":
    main()

"""1-D score-error study (Lim et al. 2020, AR-DAE, Section 4.2 and Appendix D.1): how well a regular DAE, a
residual DAE and AR-DAE recover d/dx log p of a two-Gaussian mixture, against the optimal DAE's closed form.

    python -m scripts.score_error --quick --out runs/score_error.png
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from algos.estimators.ar_dae import ar_dae_loss, input_gradient
from algos.networks import mlp

MIXTURE_MEANS = (-2.0, 2.0)   # two equally weighted components (Appendix D.1)
MIXTURE_STD = 0.5
PAPER_SIGMAS = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
QUICK_SIGMAS = (0.003, 0.03, 0.3)

ScoreFn = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class Budget:
    """Training budget of every model. Paper (Appendix D.1): 3 hidden layers of 256 softplus units, 10k Adam steps
    of 256 samples, lr 1e-3 halved every 1k steps, 10 sigmas per sample for AR-DAE with delta = 0.05."""

    iterations: int = 10_000
    hidden_dim: int = 256
    depth: int = 3
    batch_size: int = 256
    lr: float = 1e-3
    halve_every: int = 1_000
    ar_dae_delta: float = 0.05
    ar_dae_sigmas: int = 10
    eval_samples: int = 1_000


# Not the paper's budget: small nets and a larger step so the study runs in about half a minute.
QUICK = Budget(iterations=600, hidden_dim=64, lr=3e-3, halve_every=200)


def sample_mixture(n: int) -> torch.Tensor:
    means = torch.tensor(MIXTURE_MEANS)
    return (means[torch.randint(len(MIXTURE_MEANS), (n, 1))] + MIXTURE_STD * torch.randn(n, 1))


def smoothed_score(x: torch.Tensor, sigma: float = 0.0) -> torch.Tensor:
    """d/dx log (p * N(0, sigma^2))(x). At sigma = 0 the true score; at sigma > 0 the optimal DAE f*(x; sigma),
    since by Tweedie's formula the minimizer of E||u + sigma f(x + sigma u)||^2 is the smoothed density's score."""
    var = MIXTURE_STD**2 + sigma**2
    means = torch.tensor(MIXTURE_MEANS)
    log_components = -0.5 * (x - means) ** 2 / var  # equal weights and variances: constants cancel
    responsibilities = torch.softmax(log_components, dim=-1)
    return (responsibilities * (means - x) / var).sum(-1, keepdim=True)


def _train(loss_fn: Callable[[torch.Tensor], torch.Tensor], params, budget: Budget) -> None:
    optim = torch.optim.Adam(params, lr=budget.lr)
    schedule = torch.optim.lr_scheduler.StepLR(optim, step_size=budget.halve_every, gamma=0.5)
    for _ in range(budget.iterations):
        loss = loss_fn(sample_mixture(budget.batch_size))
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        schedule.step()


def train_regular_dae(sigma: float, budget: Budget) -> ScoreFn:
    """r(x + sigma u) reconstructs x; the score estimate is (r(x) - x) / sigma^2, a ratio of small numbers."""
    net = mlp(1, 1, budget.hidden_dim, budget.depth, "softplus")
    _train(lambda x: (net(x + sigma * torch.randn_like(x)) - x).pow(2).mean(), net.parameters(), budget)
    return lambda x: (net(x) - x) / sigma**2


def _scalar_score(net: torch.nn.Module, y: torch.Tensor, extra: torch.Tensor | None, create_graph: bool):
    """d psi / dy for psi = net([y, extra]), also under no_grad (evaluation needs the input gradient too)."""
    with torch.enable_grad():
        y = y.detach().requires_grad_(True)
        inputs = y if extra is None else torch.cat([y, extra], dim=-1)
        return input_gradient(net(inputs), y, create_graph)


def train_residual_dae(sigma: float, budget: Budget) -> ScoreFn:
    """f = d psi / dx trained on the rescaled residual loss at one fixed sigma."""
    net = mlp(1, 1, budget.hidden_dim, budget.depth, "softplus")

    def loss(x: torch.Tensor) -> torch.Tensor:
        u = torch.randn_like(x)
        return ar_dae_loss(u, sigma, _scalar_score(net, x + sigma * u, None, True))

    _train(loss, net.parameters(), budget)
    return lambda x: _scalar_score(net, x, None, False)


def train_ar_dae(budget: Budget) -> Callable[[torch.Tensor, float], torch.Tensor]:
    """f(x; sigma) = d psi(x, sigma) / dx, one model for every sigma ~ N(0, delta^2); used at any sigma."""
    net = mlp(2, 1, budget.hidden_dim, budget.depth, "softplus")

    def loss(x: torch.Tensor) -> torch.Tensor:
        x = x.repeat_interleave(budget.ar_dae_sigmas, dim=0)
        sigma = budget.ar_dae_delta * torch.randn_like(x)
        u = torch.randn_like(x)
        return ar_dae_loss(u, sigma, _scalar_score(net, x + sigma * u, sigma, True))

    _train(loss, net.parameters(), budget)
    return lambda x, sigma: _scalar_score(net, x, torch.full_like(x, sigma), False)


def expected_error(score_fn: ScoreFn, x: torch.Tensor) -> float:
    """E_p |d/dx log p(x) - f(x)| over the given samples of p."""
    with torch.no_grad():
        return float((smoothed_score(x) - score_fn(x)).abs().mean())


def run_study(sigmas: tuple[float, ...], budget: Budget, seed: int = 0) -> dict[str, list[float]]:
    """Expected absolute score error per method and sigma. regDAE and resDAE are trained once per sigma; AR-DAE
    is trained once and evaluated at f(x; sigma) for each sigma (at sigma = 0 in practice, the last column)."""
    torch.manual_seed(seed)
    x = sample_mixture(budget.eval_samples)
    ar_dae = train_ar_dae(budget)
    errors = {"regDAE": [], "resDAE": [], "AR-DAE": [], "optimal f*": []}
    for sigma in sigmas:
        errors["regDAE"].append(expected_error(train_regular_dae(sigma, budget), x))
        errors["resDAE"].append(expected_error(train_residual_dae(sigma, budget), x))
        errors["AR-DAE"].append(expected_error(lambda v, s=sigma: ar_dae(v, s), x))
        errors["optimal f*"].append(expected_error(lambda v, s=sigma: smoothed_score(v, s), x))
    errors["AR-DAE (sigma=0)"] = [expected_error(lambda v: ar_dae(v, 0.0), x)] * len(sigmas)
    return errors


def markdown_table(sigmas: tuple[float, ...], errors: dict[str, list[float]]) -> str:
    lines = ["| method | " + " | ".join(f"sigma={s:g}" for s in sigmas) + " |",
             "| --- | " + " | ".join("---" for _ in sigmas) + " |"]
    lines += [f"| {name} | " + " | ".join(f"{e:.3g}" for e in row) + " |" for name, row in errors.items()]
    return "\n".join(lines)


def plot(sigmas: tuple[float, ...], errors: dict[str, list[float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from scripts.plots import save_figure

    fig, ax = plt.subplots(figsize=(5, 3.5))
    for name, row in errors.items():
        ax.plot(sigmas, row, marker="o", label=name, linestyle="--" if "sigma=0" in name else "-")
    ax.set(xscale="log", yscale="log", xlabel="sigma", ylabel="E|d/dx log p - f|", title="1-D MoG score error")
    ax.legend(fontsize=8)
    save_figure(fig, path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small nets, 600 steps, 3 sigmas (about a minute)")
    parser.add_argument("--out", type=Path, default=Path("runs/score_error/score_error.png"), help="PNG path")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    sigmas, budget = (QUICK_SIGMAS, QUICK) if args.quick else (PAPER_SIGMAS, Budget())
    errors = run_study(sigmas, budget, args.seed)
    print(markdown_table(sigmas, errors))
    plot(sigmas, errors, args.out)
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()

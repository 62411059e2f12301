"""Known-answer study of AR-DAE, its log Z and the squashed k-NN reference, on Gaussian policies of known density.

The estimators whose accuracy depends on their settings: AR-DAE (scale-free, scale-free with its score centred per
state, and the paper's fixed scale), log Z by importance sampling, and the k-NN reference of squashed actions
(scripts.knn_accuracy); every error is against the exact value.

    python -m scripts.estimator_accuracy --out runs/estimator_accuracy      # Markdown table + PNG, a few minutes
    python -m scripts.estimator_accuracy --quick                            # fewer cells and updates
    python -m scripts.estimator_accuracy --paper                            # and the paper's psi sizes (slow)
    python -m scripts.estimator_accuracy --quick --precision bf16           # AR-DAE and log Z under bf16 autocast

AR-DAE runs at the shipped CPU-sized config (conf/algo/per_task/sac_ar_dae/inverted_pendulum.yaml) for the number
of psi updates a run does in its first 10k environment steps (10k minus the 1k warm-up, one psi update per SAC
update), on batches of `STATE_BATCH` fresh states instead of 256 (the known policies are amortized over states
just the same; a smaller batch keeps the study to minutes on one CPU thread). `--precision` trains and evaluates
AR-DAE and log Z at that matmul precision (algos.precision; the exact values and the k-NN stay float32). The study
runs on the CPU, where tf32 is float32; bf16 autocast rounds as it does on a GPU.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from algos.estimators.ar_dae import ARDAEEstimator, importance_log_normalizer
from algos.normal import broadcast_to_samples, repeat_obs
from algos.precision import PRECISIONS, matmul_precision
from algos.policies.base import Policy, PolicySample
from scripts.knn_accuracy import knn_cases, knn_errors
from scripts.knn_accuracy import markdown as knn_markdown

OBS_DIM = 4
STATE_BATCH = 16
EVAL_STATES, EVAL_SAMPLES = 64, 64
# The shipped CPU-sized AR-DAE (InvertedPendulum / InvertedDoublePendulum configs) and its update count.
SHIPPED = dict(hidden_dim=64, depth=3, state_encoder_depth=1, num_actions=16, num_proposal=16, lr=3e-4,
               delta_scale=0.1, num_sigmas=1, num_updates=1)
SHIPPED_UPDATES = 10_000 - 1_000
# The paper's Table 7 psi (conf/entropy/ar_dae.yaml) and an update count a CPU affords with it.
PAPER = dict(hidden_dim=256, depth=5, state_encoder_depth=5, num_actions=128, num_proposal=100, lr=3e-4,
             delta_scale=0.1, num_sigmas=1, num_updates=1)
PAPER_UPDATES = 1_500
WIDTHS = (1e-3, 1e-2, 0.1, 0.3, 1.0)
PROPOSAL_SIZES = (16, 100, 1000)


class KnownGaussianPolicy(Policy):
    """An 'implicit' policy with a known law: x = A s + L(s) eps, L(s) = diag(std(s)) (I + N(s)) with N(s)
    strictly lower-triangular. std(s) = width * exp(log_std_shift + 0.3 tanh(W s)) and N(s) = 0.5 tanh(U s)
    when `full_covariance`, else std = width * exp(log_std_shift) and N = 0. A and log_std_shift are the
    parameters whose entropy gradient is checked: d E[log pi] / d log_std_shift = -1 per dimension, d / dA = 0.
    """

    family = "implicit"

    def __init__(self, act_dim: int, width: float, full_covariance: bool = False, seed: int = 0):
        super().__init__(OBS_DIM, act_dim)
        gen = torch.Generator().manual_seed(seed)
        self.weight = nn.Parameter(torch.randn(act_dim, OBS_DIM, generator=gen) / math.sqrt(OBS_DIM))
        self.log_std_shift = nn.Parameter(torch.zeros(act_dim))
        self.width = width
        self.full_covariance = full_covariance
        self.register_buffer("std_mix", torch.randn(act_dim, OBS_DIM, generator=gen) / math.sqrt(OBS_DIM))
        self.register_buffer("tril_mix", torch.randn(act_dim, act_dim, OBS_DIM, generator=gen) / math.sqrt(OBS_DIM))

    def mode(self, obs: torch.Tensor) -> torch.Tensor:
        return obs @ self.weight.T

    def scale_tril(self, obs: torch.Tensor) -> torch.Tensor:
        log_std = self.log_std_shift + math.log(self.width)
        if not self.full_covariance:
            return torch.diag_embed(log_std.exp().expand(*obs.shape[:-1], self.act_dim))
        log_std = log_std + 0.3 * torch.tanh(obs @ self.std_mix.T)
        lower = torch.tril(0.5 * torch.tanh(torch.einsum("ijo,...o->...ij", self.tril_mix, obs)), diagonal=-1)
        eye = torch.eye(self.act_dim, dtype=obs.dtype)
        return log_std.exp().unsqueeze(-1) * (eye + lower)

    def transform(self, obs: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        mean = broadcast_to_samples(self.mode(obs), noise)
        tril = broadcast_to_samples(self.scale_tril(obs), noise, trailing=2)
        return mean + (tril @ noise.unsqueeze(-1)).squeeze(-1)

    def sample(self, obs: torch.Tensor, num_samples: int | None = None) -> PolicySample:
        shape = obs.shape[:-1] if num_samples is None else (*obs.shape[:-1], num_samples)
        eps = torch.randn(*shape, self.act_dim, dtype=obs.dtype)
        return PolicySample(x=self.transform(obs, eps), noise=eps)

    def log_prob(self, obs: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Exact log pi(x given s); obs [*S, o] with x [*S, *sample_axes, d]."""
        mean = broadcast_to_samples(self.mode(obs), x)
        tril = broadcast_to_samples(self.scale_tril(obs), x, trailing=2)
        return torch.distributions.MultivariateNormal(mean, scale_tril=tril).log_prob(x)

    def score(self, obs: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            return torch.autograd.grad(self.log_prob(obs.detach(), x).sum(), x)[0]


@dataclass
class Case:
    """One known policy: act_dim, width (the std before any state dependence), full_covariance."""

    dim: int
    width: float
    full_covariance: bool = False

    @property
    def label(self) -> str:
        return f"{self.dim}-D {'full cov' if self.full_covariance else 'iso'} std {self.width:g}"


@dataclass
class ARDAEResult:
    case: Case
    standardize: str
    score_error: float
    log_prob_bias: float
    log_prob_mae: float
    gradient_cosine: float
    extras: dict = field(default_factory=dict)
    center_score: bool = False

    @property
    def variant(self) -> str:
        return f"{self.standardize}, centred" if self.center_score else self.standardize


def train_ar_dae(policy: Policy, standardize: str, updates: int, seed: int, settings: dict) -> ARDAEEstimator:
    torch.manual_seed(seed)
    estimator = ARDAEEstimator(policy, standardize=standardize, **settings)
    for _ in range(updates):
        estimator.update(torch.randn(STATE_BATCH, OBS_DIM), None)
    return estimator


def evaluate_ar_dae(estimator: ARDAEEstimator, policy: KnownGaussianPolicy, seed: int) -> tuple[float, ...]:
    """(score relative error, mean log pi error, mean |log pi error|, cosine of the entropy gradient with the
    analytic one) on fresh states and samples."""
    torch.manual_seed(seed + 1)
    obs = torch.randn(EVAL_STATES, OBS_DIM)
    with torch.autocast("cpu", enabled=False):  # the samples and the truth in float32 at every precision
        sample = policy.sample(obs, EVAL_SAMPLES)
        with torch.no_grad():
            true_score = policy.score(obs, sample.x)
            exact = policy.log_prob(obs, sample.x)
    obs_rep = repeat_obs(obs, EVAL_SAMPLES)
    with torch.no_grad():
        estimate = estimator.log_prob(obs_rep, PolicySample(sample.x.detach(), sample.noise)).float()
    _, score, _ = estimator.score(obs, sample.x)
    score = score.float()
    score_error = float((score - true_score).norm(dim=-1).mean() / true_score.norm(dim=-1).mean())
    # The path derivative of E[log pi] with the estimated score, against the analytic gradient, with respect to
    # (A / width, log_std_shift): the mean measured in units of the policy's std, so that every width weighs the
    # mean's (true: zero) and the spread's gradient alike.
    params = [policy.weight, policy.log_std_shift]
    grad_weight, grad_log_std = torch.autograd.grad((score.detach() * sample.x).sum(-1).mean(), params)
    flat = torch.cat([policy.width * grad_weight.flatten(), grad_log_std])
    flat_analytic = torch.cat([torch.zeros(grad_weight.numel()), -torch.ones_like(grad_log_std)])
    cosine = float(torch.nn.functional.cosine_similarity(flat, flat_analytic, dim=0))
    error = estimate - exact
    return score_error, float(error.mean()), float(error.abs().mean()), cosine


def ar_dae_cell(case: Case, standardize: str, updates: int, seed: int = 0, settings: dict | None = None,
                centred_too: bool = False) -> list[ARDAEResult]:
    """One trained psi, evaluated as trained and, with `centred_too`, with center_score on: centring changes
    what psi's output is turned into, not psi's training, so both rows share one psi."""
    policy = KnownGaussianPolicy(case.dim, case.width, case.full_covariance, seed)
    estimator = train_ar_dae(policy, standardize, updates, seed, settings or SHIPPED)
    results = []
    for centred in (False, True) if centred_too else (False,):
        estimator.center_score = centred
        results.append(ARDAEResult(case, standardize, *evaluate_ar_dae(estimator, policy, seed), center_score=centred))
    return results


def log_z_bias(case: Case, standardize: str, num_proposal: int, num_states: int = 256, seed: int = 0
               ) -> tuple[float, float]:
    """(mean, std over states) of the importance-sampling log Z of the exact, normalized density seen through the
    estimator's standardization and proposal: the truth is 0, so the mean is the bias that log pi inherits."""
    torch.manual_seed(seed)
    policy = KnownGaussianPolicy(case.dim, case.width, case.full_covariance, seed)
    estimator = ARDAEEstimator(policy, hidden_dim=8, depth=1, state_encoder_depth=0, standardize=standardize,
                               num_proposal=num_proposal)
    obs = torch.randn(num_states, OBS_DIM)
    offset, spread = estimator.offset_and_spread(obs)

    def density_of_y(y: torch.Tensor) -> torch.Tensor:  # y [S, n, d] -> log p_y(y) = log p_x(b + spread y) + log|J|
        x = offset.unsqueeze(-2) + spread.unsqueeze(-2) * y
        return policy.log_prob(obs, x) + spread.log().sum(-1, keepdim=True)

    with torch.no_grad():
        log_z = importance_log_normalizer(density_of_y, (num_states,), case.dim, num_proposal,
                                          estimator.proposal_std)
    return float(log_z.mean()), float(log_z.std())


def ar_dae_cases(quick: bool) -> list[Case]:
    if quick:
        return [Case(1, 1e-3), Case(1, 1.0), Case(2, 0.3, True)]
    return ([Case(1, w) for w in WIDTHS] + [Case(6, w) for w in (1e-3, 0.1, 1.0)]
            + [Case(2, 0.3, True), Case(17, 0.1)])


def run(quick: bool, updates: int, seed: int, paper: bool = False, precision: str = "fp32") -> dict:
    with matmul_precision(precision, torch.device("cpu")):
        ar_dae = [result for case in ar_dae_cases(quick) for standardize in ("scale_free", "fixed")
                  for result in ar_dae_cell(case, standardize, updates, seed,
                                            centred_too=standardize == "scale_free")]
        paper_cases = [Case(6, 0.1)] if paper else []
        paper_cells = [result for case in paper_cases
                       for result in ar_dae_cell(case, "scale_free", PAPER_UPDATES, seed, PAPER, centred_too=True)]
        log_z_cases = [Case(6, 0.1)] if quick else [Case(6, 0.1), Case(6, 1e-3), Case(17, 0.1), Case(6, 0.3, True)]
        log_z = {(case.label, standardize, n): log_z_bias(case, standardize, n, seed=seed)
                 for case in log_z_cases for standardize in ("scale_free", "fixed") for n in PROPOSAL_SIZES}
    knn = [(case, knn_errors(case, seed=seed)) for case in knn_cases(quick)]
    return {"ar_dae": ar_dae, "paper": paper_cells, "log_z": log_z, "knn": knn, "updates": updates,
            "precision": precision}


def ar_dae_rows(results: list[ARDAEResult]) -> list[str]:
    return ["| policy | standardize | score rel. error | log pi error (nats) | mean abs log pi error | grad cosine |",
            "| --- | --- | --- | --- | --- | --- |",
            *(f"| {r.case.label} | {r.variant} | {r.score_error:.3f} | {r.log_prob_bias:+.3f} | "
              f"{r.log_prob_mae:.3f} | {r.gradient_cosine:.3f} |" for r in results)]


def markdown(results: dict) -> str:
    lines = [f"AR-DAE at the shipped CPU-sized config after {results['updates']} psi updates, matmuls in "
             f"{results['precision']} (log pi includes log Z at the shipped n_Z = 16):", "",
             *ar_dae_rows(results["ar_dae"])]
    if results["paper"]:
        lines += ["", f"AR-DAE at the paper's Table 7 psi (256 wide, 5 + 5 layers, n_a = 128, n_Z = 100) after "
                  f"{PAPER_UPDATES} psi updates:", "", *ar_dae_rows(results["paper"])]
    lines += ["", "log Z of the exact density by importance sampling (truth 0; mean +- std over 256 states):", "",
              "| policy | proposal | " + " | ".join(f"n_Z = {n}" for n in PROPOSAL_SIZES) + " |",
              "| --- | --- | " + " | ".join("---" for _ in PROPOSAL_SIZES) + " |"]
    for label, standardize in dict.fromkeys((k[0], k[1]) for k in results["log_z"]):
        cells = [results["log_z"][(label, standardize, n)] for n in PROPOSAL_SIZES]
        name = "1.5 x spread (scale_free)" if standardize == "scale_free" else "N(g(0,s), e^-2 I) (fixed)"
        lines.append(f"| {label} | {name} | " + " | ".join(f"{m:+.3f} +- {s:.3f}" for m, s in cells) + " |")
    lines += ["", *knn_markdown(results["knn"])]
    return "\n".join(lines)


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from scripts.plots import save_figure

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for standardize, marker in (("scale_free", "o"), ("fixed", "x")):
        for dim in (1, 6):
            rows = [r for r in results["ar_dae"] if r.standardize == standardize and r.case.dim == dim
                    and not r.case.full_covariance and not r.center_score]
            if not rows:
                continue
            widths = [r.case.width for r in rows]
            label = f"{standardize}, {dim}-D"
            axes[0].plot(widths, [r.score_error for r in rows], marker=marker, label=label)
            axes[1].plot(widths, [abs(r.log_prob_bias) for r in rows], marker=marker, label=label)
    axes[0].set(xscale="log", yscale="log", xlabel="policy std", ylabel="score relative error")
    axes[1].set(xscale="log", yscale="log", xlabel="policy std", ylabel="|log pi error| (nats)")
    for ax in axes:
        ax.axhline(0.25, color="grey", linestyle=":")
        ax.legend(fontsize=7)
    fig.suptitle(f"AR-DAE on known Gaussians, shipped CPU config, {results['updates']} updates")
    save_figure(fig, path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="three AR-DAE cases, fewer updates")
    parser.add_argument("--updates", type=int, default=None, help=f"psi updates (default {SHIPPED_UPDATES})")
    parser.add_argument("--out", type=Path, default=Path("runs/estimator_accuracy"), help="folder for .md and .png")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--paper", action="store_true",
                        help=f"also two cases at the paper's psi sizes, {PAPER_UPDATES} updates (slow on a CPU)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32",
                        help="matmul precision of AR-DAE's training and of log Z (algos.precision)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    updates = args.updates or (2_000 if args.quick else SHIPPED_UPDATES)
    results = run(args.quick, updates, args.seed, args.paper, args.precision)
    table = markdown(results)
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "estimator_accuracy.md").write_text(table + "\n")
    plot(results, args.out / "estimator_accuracy.png")
    print(f"\nwrote {args.out / 'estimator_accuracy.md'} and {args.out / 'estimator_accuracy.png'}")


if __name__ == "__main__":
    main()

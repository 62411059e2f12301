"""Learning curves of a sweep folder, one PNG per task, algorithms as lines (Lim et al. 2020, AR-DAE, Figure 6 style),
and one aggregate figure per sweep (Agarwal et al. 2021, Deep RL at the edge of the statistical precipice).

    python -m scripts.plots runs/paper_table1 [--out DIR] [--reference ALGO]

Each seed's curve is smoothed with a Savitzky-Golay filter (window 7, order 2, as the paper's Appendix G.3 says),
kept within the range of that seed's returns; the line is the interquartile mean over seeds (the mean at 3 seeds)
and the band its 95% percentile bootstrap interval over seeds. The legend gives the number of seeds, and the step
after which fewer seeds remain when some stopped early (unfinished runs are drawn as far as they got).
aggregate.png: per algorithm, the IQM of the maximum average return over every (task, seed), each divided by the
reference's mean on its task, with its stratified bootstrap interval; beside it, performance profiles (the share
of runs above each normalized score) with their bands.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on clusters and CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy.signal import savgol_filter  # noqa: E402

from scripts.interval_tables import normalized, pick_reference  # noqa: E402
from scripts.intervals import CONFIDENCE, aggregate_interval, iqm_interval, performance_profile  # noqa: E402
from scripts.sweep_results import (ALGO_ORDER, TASK_ORDER, Run, SweepError, algo_label, find_runs,  # noqa: E402
                                   group_runs, ordered, print_written)

SMOOTH_WINDOW = 7      # evaluation points in the Savitzky-Golay window (paper)
SMOOTH_ORDER = 2       # polynomial order of the filter (paper)
CURVE_RESAMPLES = 2000  # bootstrap resamples per evaluation step of a curve (a long run has hundreds of steps)
PROFILE_POINTS = 60     # thresholds of a performance profile


def smooth(values: np.ndarray) -> np.ndarray:
    """Savitzky-Golay with the paper's window, shrunk to the longest odd window a short curve allows.

    A curve too short for any window above the order (fewer than 3 points) is returned as it is.
    The polynomial fit at a curve's ends can overshoot (a return curve that is never negative dipping below 0), so
    the result is clipped to the range of the values.
    """
    window = min(SMOOTH_WINDOW, len(values) if len(values) % 2 else len(values) - 1)
    if window <= SMOOTH_ORDER:
        return values.astype(float)
    return np.clip(savgol_filter(values.astype(float), window, SMOOTH_ORDER), values.min(), values.max())


def curve_band(runs: list[Run]) -> pd.DataFrame:
    """Per evaluation step: the IQM of the smoothed seed curves, its bootstrap interval over the seeds that
    reached the step (the IQM itself where one seed did: no band), and how many seeds reached it."""
    curves = pd.DataFrame({run.seed: pd.Series(smooth(run.curve["return_mean"].to_numpy()),
                                               index=run.curve["step"].to_numpy()) for run in runs}).sort_index()
    rows = []
    for step, values in curves.iterrows():
        interval = iqm_interval(values.dropna().to_numpy(), CURVE_RESAMPLES)
        low, high = (interval.estimate, interval.estimate) if np.isnan(interval.low) else (interval.low, interval.high)
        rows.append((step, interval.estimate, low, high, int(values.count())))
    return pd.DataFrame(rows, columns=["step", "iqm", "low", "high", "seeds"]).set_index("step")


def legend_label(algo: str, stats: pd.DataFrame) -> str:
    """`SAC (2 seeds)`, or `SAC (2 seeds; 1 after step 2000)` where some seeds' curves end earlier."""
    counts = stats["seeds"]
    text = f"{algo_label(algo)} ({counts.max()} seed{'s' if counts.max() > 1 else ''}"
    drops = counts[counts.diff() < 0]
    for step, count in drops.items():
        previous = counts.index[counts.index.get_loc(step) - 1]
        text += f"; {count} after step {previous}"
    return text + ")"


def plot_task(task: str, by_algo: dict[str, list[Run]], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6, 4))
    for algo in ordered(by_algo, ALGO_ORDER):
        stats = curve_band(by_algo[algo])
        steps = stats.index.to_numpy()
        (line,) = ax.plot(steps, stats["iqm"], label=legend_label(algo, stats))
        ax.fill_between(steps, stats["low"], stats["high"], color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_title(task)
    ax.set_xlabel("environment steps")
    ax.set_ylabel(f"average return (IQM, {CONFIDENCE:.0%} bootstrap band)")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    save_figure(fig, path)
    return path


def plot_aggregate(groups: dict[tuple[str, str], list[Run]], path: Path, reference: str | None = None) -> Path:
    """IQM with its interval per algorithm, and performance profiles, of the max average return over every
    (task, seed), divided by the reference's mean on its task."""
    algos = ordered({a for _, a in groups}, ALGO_ORDER)
    if reference is not None and reference not in algos:
        raise SweepError(f"--reference {reference}: no such algorithm; the sweep has {', '.join(algos)}")
    reference = pick_reference(algos, reference)
    scores = {key: [float(run.curve["return_mean"].max()) for run in runs] for key, runs in groups.items()}
    norm = normalized(scores, reference)
    per_algo = {a: [v for (_, algo), v in norm.items() if algo == a] for a in algos}
    per_algo = {a: v for a, v in per_algo.items() if v}
    top = max(float(np.max(np.concatenate(v))) for v in per_algo.values())
    thresholds = np.linspace(0.0, top * 1.05, PROFILE_POINTS)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 0.5 * len(per_algo) + 2.5))
    for i, (algo, per_task) in enumerate(per_algo.items()):
        interval = aggregate_interval(per_task)
        low, high = (interval.estimate,) * 2 if np.isnan(interval.low) else (interval.low, interval.high)
        left.errorbar(interval.estimate, i, xerr=[[interval.estimate - low], [high - interval.estimate]],
                      fmt="o", color=f"C{i}", capsize=4)
        profile = performance_profile(per_task, thresholds, CURVE_RESAMPLES)
        share = np.array([p.estimate for p in profile])
        lows = np.array([p.estimate if np.isnan(p.low) else p.low for p in profile])
        highs = np.array([p.estimate if np.isnan(p.high) else p.high for p in profile])
        right.plot(thresholds, share, color=f"C{i}", label=algo_label(algo))
        right.fill_between(thresholds, lows, highs, color=f"C{i}", alpha=0.2, linewidth=0)
    left.set_yticks(range(len(per_algo)), [algo_label(a) for a in per_algo])
    left.invert_yaxis()
    unit = f"max average return / {algo_label(reference)}'s mean per task"
    left.set_xlabel(f"IQM of {unit}")
    left.set_title(f"IQM, {CONFIDENCE:.0%} stratified bootstrap interval")
    right.set_xlabel(unit)
    right.set_ylabel("share of runs above")
    right.set_title("performance profiles")
    for ax in (left, right):
        ax.grid(alpha=0.3)
    right.legend(loc="best", fontsize="small")
    tasks = ordered({t for t, _ in groups}, TASK_ORDER)
    fig.suptitle(f"{', '.join(tasks)}: {max(len(r) for r in groups.values())} seeds")
    save_figure(fig, path)
    return path


def save_figure(fig, path: Path) -> None:
    """Lay out, write as PNG (making the folder) and free the figure: every script's last step with a plot."""
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_sweep(sweep_dir: Path, out_dir: Path, reference: str | None = None) -> list[Path]:
    groups = group_runs(find_runs(sweep_dir))
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for task in ordered({task for task, _ in groups}, TASK_ORDER):
        by_algo = {algo: runs for (t, algo), runs in groups.items() if t == task}
        paths.append(plot_task(task, by_algo, out_dir / f"{task}.png"))
    return paths + [plot_aggregate(groups, out_dir / "aggregate.png", reference)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sweep_dir", type=Path, help="a sweep folder, e.g. runs/paper_table1")
    parser.add_argument("--out", type=Path, help="where the PNGs go (default: <sweep folder>/plots)")
    parser.add_argument("--reference", help="the algorithm the aggregate figure divides each task's scores by "
                        "(default: sb3_sac when present, else the first in the paper's order)")
    args = parser.parse_args(argv)
    return print_written(lambda: plot_sweep(args.sweep_dir, args.out or args.sweep_dir / "plots", args.reference))


if __name__ == "__main__":
    sys.exit(main())

"""Learning curves of a sweep folder, one PNG per task, algorithms as lines (Lim et al. 2020, AR-DAE, Figure 6 style).

    python -m scripts.plots runs/paper_table1 [--out DIR]

Each seed's curve is smoothed with a Savitzky-Golay filter (window 7, order 2, as the paper's Appendix G.3 says),
kept within the range of that seed's returns; the line is the mean over seeds and the band one standard error of
that mean. The legend gives the number of seeds, and the step after which fewer seeds remain when some stopped
early (unfinished runs are drawn as far as they got).
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

from scripts.sweep_results import (ALGO_ORDER, TASK_ORDER, Run, algo_label, find_runs, group_runs,  # noqa: E402
                                   ordered, print_written)

SMOOTH_WINDOW = 7      # evaluation points in the Savitzky-Golay window (paper)
SMOOTH_ORDER = 2       # polynomial order of the filter (paper)


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


def mean_and_stderr(runs: list[Run]) -> pd.DataFrame:
    """Per evaluation step: mean of the smoothed seed curves, its standard error, and how many seeds reached it."""
    curves = pd.DataFrame({run.seed: pd.Series(smooth(run.curve["return_mean"].to_numpy()),
                                               index=run.curve["step"].to_numpy()) for run in runs})
    count = curves.count(axis=1)
    stderr = (curves.std(axis=1, ddof=1) / np.sqrt(count)).fillna(0.0)  # one seed: no band
    return pd.DataFrame({"mean": curves.mean(axis=1), "stderr": stderr, "seeds": count}).sort_index()


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
        stats = mean_and_stderr(by_algo[algo])
        steps = stats.index.to_numpy()
        (line,) = ax.plot(steps, stats["mean"], label=legend_label(algo, stats))
        ax.fill_between(steps, stats["mean"] - stats["stderr"], stats["mean"] + stats["stderr"],
                        color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_title(task)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("average return")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    save_figure(fig, path)
    return path


def save_figure(fig, path: Path) -> None:
    """Lay out, write as PNG (making the folder) and free the figure: every script's last step with a plot."""
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_sweep(sweep_dir: Path, out_dir: Path) -> list[Path]:
    groups = group_runs(find_runs(sweep_dir))
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for task in ordered({task for task, _ in groups}, TASK_ORDER):
        by_algo = {algo: runs for (t, algo), runs in groups.items() if t == task}
        paths.append(plot_task(task, by_algo, out_dir / f"{task}.png"))
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sweep_dir", type=Path, help="a sweep folder, e.g. runs/paper_table1")
    parser.add_argument("--out", type=Path, help="where the PNGs go (default: <sweep folder>/plots)")
    args = parser.parse_args(argv)
    return print_written(lambda: plot_sweep(args.sweep_dir, args.out or args.sweep_dir / "plots"))


if __name__ == "__main__":
    sys.exit(main())

"""The validation sweep's report: a results table, return and entropy curves, and copies of the raw logs, written
into one folder that the docs can link to and anyone can recompute the table from.

    python -m scripts.validation_report runs/validation [--out docs/validation] [--preamble FILE]

Writes into the out folder (default: beside the sweep folder, `<sweep folder>-report`; the tracked
docs/validation is written only when `--out docs/validation` says so, as `make validate` does):
  README.md                                     the preamble (verbatim, if given), the results table, the
                                                intervals (IQM, bootstrap intervals, P(improvement)) and the figures
  returns_<task>.png                            return curves per algorithm, as scripts.plots draws them
  aggregate.png                                 IQM intervals and performance profiles over tasks (scripts.plots)
  entropy_<task>.png                            per algorithm that logs them: entropy estimate, bounds and reference
  runs/<task>/<label>/seed<n>/{eval,train}.csv  each run's raw logs
"""

from __future__ import annotations

import argparse
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import stats

from runner.metrics import EVAL_FILE, TRAIN_FILE
from scripts import interval_tables
from scripts.interval_tables import interval_table, pick_reference
from scripts.plots import plot_aggregate, plot_task, save_figure
from scripts.sweep_results import (ALGO_ORDER, TASK_ORDER, Run, SweepError, algo_label, find_runs, group_runs,
                                   ordered, print_written, read_curve)
from scripts.tables import STD_DDOF, seed_statistic

REPORT_SUFFIX = "-report"  # the default out folder is the sweep folder's name with this appended, beside it
RATE_COLUMN = "time/env_steps_per_s"
RETURN_DECIMALS, MINUTE_DECIMALS, RATE_DECIMALS = 1, 1, 0
# Entropy columns drawn, with their line styles; an algorithm logs only some of them (sb3_sac none).
ENTROPY_STYLES = {"entropy/estimate": {"color": "C0"},
                  "entropy/lower": {"color": "C1", "linestyle": "--"},
                  "entropy/upper": {"color": "C2", "linestyle": "--"},
                  "entropy/reference": {"color": "black", "linestyle": ":"}}
TABLE_HEADER = ("| task | algorithm | seeds | max average return | final return | final step "
                "| wall time per run (min) | env steps/s |\n"
                "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
TABLE_NOTES = f"""\
Per seed, from its eval.csv (a step logged twice by a resumed run keeps its last row): *max average return* is
the largest `return_mean` over its evaluations and *final return* the `return_mean` of its last evaluation;
the cells are the mean ± standard deviation over seeds (ddof={STD_DDOF}). *Final step* is the last evaluation's
step, min–max when the seeds differ. From each seed's train.csv, whose rows carry the env-steps rate since the
previous row of the same process: *wall time* = the sum over rows of (step − previous row's step) /
`{RATE_COLUMN}`, the first row counted from step 0, in minutes, and *env steps/s* = the steps so counted / that
wall time; both are means over seeds. The time after the last train row is not counted, and for a resumed run
the sum is approximate (a step going back adds nothing; the time lost to the interruption is not counted).
`(n=k)`: only k seeds have a train.csv.
"""


@dataclass(frozen=True)
class RunSummary:
    """The table's per-seed numbers; steps and seconds are None without a usable train.csv."""
    max_return: float
    final_return: float
    final_step: int
    steps: float | None
    seconds: float | None


def row_intervals(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per train row: the env steps since the previous row (the first from step 0; a resume that stepped back
    adds none) and the seconds they took at the row's rate."""
    intervals = np.diff(frame["step"].to_numpy(float), prepend=0.0).clip(min=0.0)
    rates = frame[RATE_COLUMN].to_numpy(float)
    return intervals, np.divide(intervals, rates, out=np.zeros_like(intervals), where=intervals > 0)


def train_time(path: Path) -> tuple[float, float] | None:
    """(env steps, seconds) a train.csv accounts for: each row's steps since the previous row over its rate."""
    if not path.exists():
        return None
    frame = pd.read_csv(path)
    if frame.empty or RATE_COLUMN not in frame:
        return None
    intervals, seconds = row_intervals(frame)
    return float(intervals.sum()), float(seconds.sum())


def summarize(run: Run) -> RunSummary:
    """One seed's row inputs: its return statistics from the curve and its time from train.csv."""
    returns = run.curve["return_mean"]
    timing = train_time(run.folder / TRAIN_FILE)
    steps, seconds = timing if timing and timing[1] > 0 else (None, None)
    return RunSummary(float(returns.max()), float(returns.iloc[-1]), int(run.curve["step"].iloc[-1]), steps, seconds)


def mean_std_text(values: list[float], decimals: int) -> str:
    """`mean ± std` over seeds, with the std scripts/tables.py uses, so the two scripts' numbers agree."""
    cell = seed_statistic(values)
    return f"{cell.mean:.{decimals}f} ± {cell.std:.{decimals}f}"


def final_step_text(steps: list[int]) -> str:
    """The one final step, or min–max when the seeds stopped at different steps."""
    low, high = min(steps), max(steps)
    return str(high) if low == high else f"{low}–{high}"


def mean_text(values: list[float], n_seeds: int, decimals: int) -> str:
    """Mean over the seeds that have the value, `(n=k)` when some lack it, `–` when none has it."""
    if not values:
        return "–"
    text = f"{np.mean(values):.{decimals}f}"
    return text + (f" (n={len(values)})" if len(values) < n_seeds else "")


def table_row(task: str, algo: str, runs: list[Run]) -> str:
    """One Markdown row from the seeds of one (task, algorithm)."""
    summaries = [summarize(run) for run in runs]
    timed = [s for s in summaries if s.seconds is not None]
    cells = [task, algo_label(algo), str(len(runs)),
             mean_std_text([s.max_return for s in summaries], RETURN_DECIMALS),
             mean_std_text([s.final_return for s in summaries], RETURN_DECIMALS),
             final_step_text([s.final_step for s in summaries]),
             mean_text([s.seconds / 60 for s in timed], len(runs), MINUTE_DECIMALS),
             mean_text([s.steps / s.seconds for s in timed], len(runs), RATE_DECIMALS)]
    return "| " + " | ".join(cells) + " |"


def results_table(runs: list[Run]) -> str:
    """A `## Results` header, one row per (task, algorithm) in the paper's order, then how each column is computed.
    Kept apart from the README so a caller can put its own text above it."""
    groups = group_runs(runs)
    rows = [table_row(task, algo, groups[(task, algo)])
            for task in ordered({t for t, _ in groups}, TASK_ORDER)
            for algo in ordered({a for t, a in groups if t == task}, ALGO_ORDER)]
    return "## Results\n\n" + TABLE_HEADER + "\n" + "\n".join(rows) + "\n\n" + TABLE_NOTES


REFERENCE = "sb3_sac"
REFERENCE_HEADER = ("| task | algorithm | mean max average return | SB3 SAC's mean − 2 SE | margin "
                    "| at least the bar | Welch p |\n| --- | --- | ---: | ---: | ---: | --- | ---: |")


def reference_bar(max_returns: list[float]) -> float | None:
    """The reference's mean max return minus two standard errors of that mean (sample std, ddof=1, over the
    square root of the seed count); None with fewer than two seeds."""
    if len(max_returns) < 2:
        return None
    values = np.asarray(max_returns, dtype=float)
    return float(values.mean() - 2 * values.std(ddof=1) / np.sqrt(len(values)))


def welch_p(ours: list[float], reference: list[float]) -> float | None:
    """Two-sided p-value of Welch's t-test for equal means (unequal variances); None unless both sides have two
    seeds or more and some spread. Tells a miss of the bar that seed noise explains from one it does not."""
    if min(len(ours), len(reference)) < 2 or (np.ptp(ours) == 0 and np.ptp(reference) == 0):
        return None
    return float(stats.ttest_ind(ours, reference, equal_var=False).pvalue)


def reference_check(runs: list[Run]) -> str:
    """Each algorithm's mean max average return against the SB3 reference's mean minus two standard errors, per
    task that has the reference; empty when no task has it."""
    groups = group_runs(runs)
    rows = []
    for task in ordered({t for t, _ in groups}, TASK_ORDER):
        if (task, REFERENCE) not in groups:
            continue
        reference = [summarize(run).max_return for run in groups[(task, REFERENCE)]]
        bar = reference_bar(reference)
        for algo in ordered({a for t, a in groups if t == task and a != REFERENCE}, ALGO_ORDER):
            ours = [summarize(run).max_return for run in groups[(task, algo)]]
            mean = float(np.mean(ours))
            cells = [task, algo_label(algo), f"{mean:.{RETURN_DECIMALS}f}"]
            cells += (["–", "–", "–"] if bar is None else [f"{bar:.{RETURN_DECIMALS}f}",
                                                            f"{mean - bar:+.{RETURN_DECIMALS}f}",
                                                            "yes" if mean >= bar else "no"])
            p_value = welch_p(ours, reference)
            cells.append("–" if p_value is None else f"{p_value:.2f}")
            rows.append("| " + " | ".join(cells) + " |")
    if not rows:
        return ""
    return ("## Against SB3 SAC\n\n" + REFERENCE_HEADER + "\n" + "\n".join(rows) + "\n\n"
            "The bar is SB3 SAC's mean max average return over its seeds minus two standard errors of that mean "
            "(sample std over the square root of the seed count); `–` where the reference has fewer than two seeds. "
            "*Welch p*: the two-sided p-value of Welch's t-test that the algorithm's and SB3 SAC's max average "
            "returns have the same mean; a miss with a large p is one that seed noise explains at these seed counts "
            "(`–` where either side has fewer than two seeds).\n")


INTERVAL_STATISTICS = {"max_average_return": ("Max average return", lambda s: s.max_return),
                       "final_return": ("Final return", lambda s: s.final_return)}


def interval_section(runs: list[Run]) -> str:
    """Per statistic of the results table: each cell's IQM with its 95% bootstrap interval over seeds, the
    aggregate over tasks, and P(algorithm > SB3 SAC) (the first column where the sweep has no SB3 SAC)."""
    groups = group_runs(runs)
    tasks = ordered({t for t, _ in groups}, TASK_ORDER)
    algos = ordered({a for _, a in groups}, ALGO_ORDER)
    reference = pick_reference(algos)
    parts = ["## Intervals", "",
             "Interval estimates over seeds (Agarwal et al. 2021, Deep RL at the edge of the statistical precipice; "
             "scripts/intervals.py, docs/intervals.md): the interquartile mean (at 3 seeds the mean) and its 95% "
             "percentile bootstrap interval over seeds; the aggregate row pools every (task, seed) divided by "
             f"{algo_label(reference)}'s mean on its task and resamples seeds within each task. P(row > "
             f"{algo_label(reference)}) is the chance that a seed of the row beats a seed of the reference on the "
             "same task (ties half); an interval wholly below 0.5 is a difference the resampling does not explain.",
             ""]
    for statistic, (title, pick) in INTERVAL_STATISTICS.items():
        scores = {key: [pick(summarize(run)) for run in group] for key, group in groups.items()}
        table = interval_table(statistic, title, tasks, algos, scores, reference)
        parts.append(interval_tables.to_markdown(table, RETURN_DECIMALS))
    return "\n".join(parts)


def read_entropy(run: Run) -> pd.DataFrame:
    """step and the drawn entropy columns the run's eval.csv has, one row per step (the last of a repeated one)."""
    path = run.folder / EVAL_FILE
    present = [column for column in ENTROPY_STYLES if column in pd.read_csv(path, nrows=0).columns]
    return read_curve(path, ("step", *present))


def plotted_columns(frames: list[pd.DataFrame]) -> list[str]:
    """The entropy columns some seed has a value in, in ENTROPY_STYLES order."""
    return [column for column in ENTROPY_STYLES if any(column in f and f[column].notna().any() for f in frames)]


def seed_band(frames: list[pd.DataFrame], column: str) -> pd.DataFrame:
    """Per step: mean and std (ddof=STD_DDOF) over the seeds with a value there."""
    values = pd.DataFrame({i: f.set_index("step")[column] for i, f in enumerate(frames) if column in f})
    band = pd.DataFrame({"mean": values.mean(axis=1), "std": values.std(axis=1, ddof=STD_DDOF).fillna(0.0)})
    return band.dropna(subset=["mean"]).sort_index()


def entropy_panels(by_algo: dict[str, list[Run]]) -> dict[str, tuple[list[pd.DataFrame], list[str]]]:
    """algo -> (its seeds' entropy frames, the columns to draw), for the algorithms that log any, in paper order."""
    panels = {}
    for algo in ordered(by_algo, ALGO_ORDER):
        frames = [read_entropy(run) for run in by_algo[algo]]
        columns = plotted_columns(frames)
        if columns:
            panels[algo] = (frames, columns)
    return panels


def plot_entropy(task: str, by_algo: dict[str, list[Run]], path: Path) -> Path | None:
    """One subplot per algorithm that logs entropy; None (no file) when none does."""
    panels = entropy_panels(by_algo)
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.5), squeeze=False)
    for ax, (algo, (frames, columns)) in zip(axes[0], panels.items()):
        for column in columns:
            band = seed_band(frames, column)
            steps = band.index.to_numpy()
            ax.plot(steps, band["mean"], label=column.removeprefix("entropy/"), **ENTROPY_STYLES[column])
            if len(frames) > 1:
                ax.fill_between(steps, band["mean"] - band["std"], band["mean"] + band["std"],
                                color=ENTROPY_STYLES[column]["color"], alpha=0.2, linewidth=0)
        ax.set_title(f"{algo_label(algo)} ({len(frames)} seeds)")
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize="small")
    axes[0][0].set_ylabel("entropy (nats)")
    fig.supxlabel("environment steps")
    fig.suptitle(task)
    save_figure(fig, path)
    return path


def copy_logs(run: Run, out_dir: Path) -> list[Path]:
    """The run's eval.csv and train.csv under out_dir/runs/<task>/<label>/seed<n>/, unchanged."""
    folder = out_dir / "runs" / run.task / run.algo / f"seed{run.seed}"
    folder.mkdir(parents=True, exist_ok=True)
    copied = []
    for name in (EVAL_FILE, TRAIN_FILE):
        if (run.folder / name).exists():
            copied.append(Path(shutil.copyfile(run.folder / name, folder / name)))
    return copied


def figure_section(figures: list[Path], out_dir: Path, sweep_dir: Path) -> str:
    """Markdown links to the figures and the copied logs, relative to the README."""
    lines = ["## Figures", "",
             "Returns: interquartile mean over seeds of each seed's smoothed curve (the mean at 3 seeds), band its "
             "95% bootstrap interval over seeds; aggregate: the IQM of the max average return over tasks and "
             "performance profiles, each seed's score divided by the reference's mean on its task "
             "(scripts/plots.py). Entropy: mean over seeds, band ± one standard deviation.", ""]
    for path in figures:
        lines += [f"![{path.stem}]({path.relative_to(out_dir).as_posix()})", ""]
    lines += ["## Raw logs", "",
              f"[runs/](runs/) holds each run's eval.csv and train.csv as `{sweep_dir.as_posix()}` had them; "
              f"`python -m scripts.validation_report {out_dir.as_posix()}/runs --out <another folder>` recomputes "
              "the table from them."]
    return "\n".join(lines) + "\n"


def readme_text(preamble: str, table: str, figures: str) -> str:
    """The preamble verbatim, then the table, then the figures, a blank line between parts."""
    parts = [preamble.rstrip("\n")] if preamble.strip() else []
    return "\n\n".join(parts + [table.rstrip("\n"), figures.rstrip("\n")]) + "\n"


def check_out_dir(sweep_dir: Path, out_dir: Path) -> None:
    """Out inside the sweep would make its copies read as runs next time; the sweep inside out, copy logs onto
    themselves."""
    sweep, out = sweep_dir.resolve(), out_dir.resolve()
    if out.is_relative_to(sweep) or sweep.is_relative_to(out):
        raise SweepError(f"--out {out_dir} and the sweep folder {sweep_dir} overlap; pick an out folder apart from it")


def write_report(sweep_dir: Path, out_dir: Path, preamble: str = "") -> list[Path]:
    """Every file of the report; returns their paths, README.md first."""
    check_out_dir(sweep_dir, out_dir)
    runs = find_runs(sweep_dir)
    groups = group_runs(runs)
    out_dir.mkdir(parents=True, exist_ok=True)
    figures = []
    for task in ordered({task for task, _ in groups}, TASK_ORDER):
        by_algo = {algo: task_runs for (t, algo), task_runs in groups.items() if t == task}
        figures.append(plot_task(task, by_algo, out_dir / f"returns_{task}.png"))
        entropy = plot_entropy(task, by_algo, out_dir / f"entropy_{task}.png")
        if entropy is not None:
            figures.append(entropy)
    figures.append(plot_aggregate(groups, out_dir / "aggregate.png"))
    copies = [path for run in sorted(runs, key=lambda r: (r.task, r.algo, r.seed)) for path in copy_logs(run, out_dir)]
    readme = out_dir / "README.md"
    tables = results_table(runs) + "\n" + reference_check(runs) + "\n" + interval_section(runs)
    readme.write_text(readme_text(preamble, tables, figure_section(figures, out_dir, sweep_dir)))
    return [readme, *figures, *copies]


def default_out(sweep_dir: Path) -> Path:
    """Beside the sweep, never a tracked file: a report of any sweep would otherwise overwrite the docs' one."""
    sweep = sweep_dir.resolve()
    return sweep.parent / f"{sweep.name}{REPORT_SUFFIX}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sweep_dir", type=Path, help="a sweep folder, e.g. runs/validation")
    parser.add_argument("--out", type=Path, help=f"the report's folder (default: <sweep folder>{REPORT_SUFFIX}, "
                        "beside it; the docs' copy is docs/validation)")
    parser.add_argument("--preamble", type=Path, help="a Markdown file whose text opens README.md, verbatim")
    args = parser.parse_args(argv)
    out = args.out or default_out(args.sweep_dir)
    return print_written(lambda: write_report(args.sweep_dir, out,
                                              args.preamble.read_text() if args.preamble else ""),
                         errors=(SweepError, OSError))


if __name__ == "__main__":
    sys.exit(main())

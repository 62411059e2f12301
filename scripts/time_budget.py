"""Where a long run's wall time went: per block of env steps, minutes, env steps/s, the shares spent in
evaluations and in checkpoints, and the peak memory, read from the run's train.csv.

    python -m scripts.time_budget RUN_FOLDER [RUN_FOLDER ...] [--block 100000]

Each train row says how fast the env steps since the previous row went (`time/env_steps_per_s`) and how many of
those seconds went to evaluations (`time/eval_s`) and checkpoints (`time/checkpoint_s`); `memory/peak_rss_mb` is
the process's peak so far. A row counts toward the block its step falls in. Rows written before a run logged the
phase columns count toward the wall time but not toward the shares, and a block's share says over how many of its
minutes it was measured. The members of a group log the group's time, so one member's folder says it for all.
Time before the first row of each process (building, loading a checkpoint) and after the last is not counted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from runner.metrics import TRAIN_FILE
from scripts.sweep_results import SweepError
from scripts.validation_report import RATE_COLUMN, row_intervals

PHASES = {"eval": "time/eval_s", "checkpoint": "time/checkpoint_s"}
MEMORY = {"host": "memory/peak_rss_mb", "device": "memory/peak_device_mb"}
HEADER = ("| env steps | wall time (min) | env steps/s | in evaluation | in checkpoints | peak host memory (MB) |\n"
          "| --- | ---: | ---: | ---: | ---: | ---: |")


def read_train(folder: Path) -> pd.DataFrame:
    """The run's train rows, with each row's steps and seconds since the previous row."""
    path = folder / TRAIN_FILE
    if not path.is_file():
        raise SweepError(f"{folder} has no {TRAIN_FILE}; pass a run folder (…/<algo>/seed<n>)")
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise SweepError(f"{path} has no rows with {RATE_COLUMN} yet") from None
    if frame.empty or RATE_COLUMN not in frame:
        raise SweepError(f"{path} has no rows with {RATE_COLUMN} yet")
    frame["interval_steps"], frame["interval_s"] = row_intervals(frame)
    return frame


def block_budget(rows: pd.DataFrame) -> dict[str, float]:
    """One block's figures: wall seconds, steps/s, each phase's share of the seconds of the rows that log it (NaN
    when none do) and how many seconds those rows cover, and the largest peak memory logged in it (each process
    logs its own; NaN when not logged)."""
    seconds = float(rows["interval_s"].sum())
    budget = {"seconds": seconds, "steps_per_s": float(rows["interval_steps"].sum()) / seconds if seconds else np.nan}
    columns = list(PHASES.values())
    timed = rows.dropna(subset=columns) if set(columns) <= set(rows) else rows.iloc[:0]
    timed_s = float(timed["interval_s"].sum())
    budget["timed_seconds"] = timed_s
    for phase, column in PHASES.items():
        budget[phase] = float(timed[column].sum()) / timed_s if timed_s else np.nan
    for memory, column in MEMORY.items():
        budget[f"peak_{memory}_mb"] = float(rows[column].max()) if column in rows and rows[column].notna().any() \
            else np.nan
    return budget


def budgets(frame: pd.DataFrame, block: int) -> list[tuple[int, int, dict[str, float]]]:
    """(first step, last step, figures) per block of `block` env steps that has rows, then the whole run's."""
    index = (frame["step"].to_numpy() - 1) // block
    out = [(int(b) * block, (int(b) + 1) * block, block_budget(frame[index == b])) for b in np.unique(index)]
    return out + [(0, int(frame["step"].max()), block_budget(frame))]


def share_text(budget: dict[str, float], phase: str) -> str:
    if np.isnan(budget[phase]):
        return "–"
    partial = budget["timed_seconds"] < 0.99 * budget["seconds"]
    return f"{100 * budget[phase]:.2f}%" + (f" (of {budget['timed_seconds'] / 60:.0f} min)" if partial else "")


def steps_text(steps: int) -> str:
    return f"{steps // 1000}k" if steps % 1000 == 0 else str(steps)


def table(frame: pd.DataFrame, block: int) -> str:
    """The Markdown table of `budgets`, its last row the whole run's."""
    rows = budgets(frame, block)
    lines = [HEADER]
    for k, (first, last, budget) in enumerate(rows):
        label = "whole run" if k == len(rows) - 1 else f"{steps_text(first)}–{steps_text(last)}"
        memory = "–" if np.isnan(budget["peak_host_mb"]) else f"{budget['peak_host_mb']:.0f}"
        if not np.isnan(budget["peak_device_mb"]):
            memory += f" (device {budget['peak_device_mb']:.0f})"
        lines.append(f"| {label} | {budget['seconds'] / 60:.1f} | {budget['steps_per_s']:.1f} | "
                     f"{share_text(budget, 'eval')} | {share_text(budget, 'checkpoint')} | {memory} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_folders", type=Path, nargs="+", help="run folders (…/<algo>/seed<n>)")
    parser.add_argument("--block", type=int, default=100_000, help="env steps per row of the table (default 100000)")
    args = parser.parse_args(argv)
    if args.block <= 0:
        print(f"error: --block must be a positive number of env steps, got {args.block}", file=sys.stderr)
        return 2
    try:
        tables = [(folder, table(read_train(folder), args.block)) for folder in args.run_folders]
    except (SweepError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for folder, text in tables:
        print(f"{folder}\n\n{text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The paper's result tables from a sweep folder: maximum and normalized average return (Lim et al. 2020,
AR-DAE, Appendix G.3).

    python -m scripts.tables runs/paper_table1 [--paper] [--format md|latex|csv] [--out DIR] [--decimals N]
                                               [--include-unfinished] [--reference ALGO]

Per seed, from the evaluation curve in eval.csv (return_mean = the average return of one evaluation):
  maximum average return     = max over evaluation points of return_mean   (Tables 1 and 3)
  normalized average return  = mean over evaluation points of return_mean  (Table 4, "approximately the area under
                               the learning curve")
then mean and standard deviation of those per-seed numbers over seeds. Rows are tasks, columns algorithms.
Each statistic's table is followed by its intervals (scripts/interval_tables.py): the interquartile mean of every
cell with a 95% bootstrap interval over seeds, an aggregate row over tasks, and the probability of improvement over
a reference algorithm (--reference; SB3 SAC when the sweep has it, else its first column). With --paper, each
paper mean is marked inside or outside our interval for that cell.
A run that has not reached the total_steps of its config.yaml is left out and named on stderr with its last step:
its maximum is not yet the run's, and its mean covers another budget. --include-unfinished counts it anyway.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scripts import interval_tables, paper_numbers
from scripts.interval_tables import IntervalTable, interval_table, pick_reference
from scripts.paper_numbers import PAPER_TASK_LABELS
from scripts.sweep_results import (ALGO_ORDER, TASK_ORDER, Run, SweepError, algo_label, find_runs, group_runs,
                                   ordered, unfinished_note)

# The paper says "one standard deviation over five random seeds" without saying which. We use the population std
# (ddof=0, numpy's default, which the authors' numpy code most likely used); the sample std (ddof=1) is larger by
# sqrt(n/(n-1)), 1.118 for five seeds.
STD_DDOF = 0

STATISTICS = {  # key -> (title, per-seed reduction of the return_mean curve)
    "max_average_return": ("Maximum average return", np.max),
    "normalized_average_return": ("Normalized average return", np.mean),
}
PAPER_STATISTICS = {"max_average_return": (paper_numbers.MAX_AVERAGE_RETURN, "Tables 1 and 3"),
                    "normalized_average_return": (paper_numbers.NORMALIZED_AVERAGE_RETURN, "Table 4")}
FILE_SUFFIXES = {"md": "md", "latex": "tex", "csv": "csv"}


@dataclass(frozen=True)
class Cell:
    mean: float
    std: float
    n_seeds: int


@dataclass(frozen=True)
class Table:
    statistic: str               # a key of STATISTICS
    source: str                  # "ours" or "paper"
    title: str
    rows: list[tuple[str, str]]  # (task key, row label)
    algos: list[str]
    cells: dict[tuple[str, str], Cell]


def seed_statistic(per_seed: list[float]) -> Cell:
    values = np.asarray(per_seed, dtype=float)
    return Cell(float(values.mean()), float(values.std(ddof=STD_DDOF)), len(values))


def seed_scores(runs: list[Run], statistic: str) -> dict[tuple[str, str], list[float]]:
    """(task, algo) -> one number per seed: the statistic's reduction of each seed's return_mean curve."""
    reduce = STATISTICS[statistic][1]
    return {key: [float(reduce(run.curve["return_mean"])) for run in group] for key, group in group_runs(runs).items()}


def measured_tables(runs: list[Run]) -> list[Table]:
    groups = group_runs(runs)
    tasks = ordered({task for task, _ in groups}, TASK_ORDER)
    algos = ordered({algo for _, algo in groups}, ALGO_ORDER)
    tables = []
    for statistic, (title, _) in STATISTICS.items():
        cells = {key: seed_statistic(values) for key, values in seed_scores(runs, statistic).items()}
        tables.append(Table(statistic, "ours", title, [(t, t) for t in tasks], algos, cells))
    return tables


def measured_intervals(runs: list[Run], with_paper: bool, reference: str | None = None) -> list[IntervalTable]:
    """Per statistic, the intervals of every cell, the aggregate row and P(improvement) over the reference; with
    the paper's mean per cell where with_paper and the paper has that cell."""
    groups = group_runs(runs)
    tasks = ordered({task for task, _ in groups}, TASK_ORDER)
    algos = ordered({algo for _, algo in groups}, ALGO_ORDER)
    if reference is not None and reference not in algos:
        raise SweepError(f"--reference {reference}: no such column; the sweep has {', '.join(algos)}")
    reference = pick_reference(algos, reference)
    out = []
    for statistic, (title, _) in STATISTICS.items():
        numbers = PAPER_STATISTICS[statistic][0]
        paper = {(t, a): float(numbers[t][a][0]) for t, a in groups if with_paper and a in numbers.get(t, {})}
        out.append(interval_table(statistic, title, tasks, algos, seed_scores(runs, statistic), reference, paper))
    return out


def paper_table(statistic: str) -> Table:
    numbers, which = PAPER_STATISTICS[statistic]
    rows = [(task, f"{label} (ours: {task})" if task not in paper_numbers.RLLAB_TASKS else f"{label} (paper only)")
            for task, label in paper_numbers.PAPER_TASK_LABELS.items()]
    cells = {(task, algo): Cell(float(m), float(s), 5) for task, by_algo in numbers.items()
             for algo, (m, s) in by_algo.items()}
    title = f"{STATISTICS[statistic][0]}, paper ({which}, gym -v2)"
    return Table(statistic, "paper", title, rows, list(paper_numbers.PAPER_ALGOS), cells)


def beside_paper(ours: Table) -> Table:
    """Ours with the paper's numbers beside them: each task's row of ours is followed by the paper's row for it,
    columns are our variants and the paper's (SAC-AR-DAE w/o jc is `sac_ar_dae-jc-off` in both)."""
    paper = paper_table(ours.statistic)
    paper_rows = dict(paper.rows)
    our_rows = dict(ours.rows)
    rows, cells = [], {}
    for task in ordered(set(our_rows) | set(paper_rows), TASK_ORDER):
        if task in our_rows:
            rows.append((task, f"{our_rows[task]} (ours)"))
            cells.update({(task, a): c for (t, a), c in ours.cells.items() if t == task})
        if task in paper_rows:
            key = f"{task}@paper"
            rows.append((key, f"{PAPER_TASK_LABELS[task]} (paper)"))
            cells.update({(key, a): c for (t, a), c in paper.cells.items() if t == task})
    algos = ordered(set(ours.algos) | set(paper.algos), ALGO_ORDER)
    title = f"{ours.title}, ours beside the paper's ({PAPER_STATISTICS[ours.statistic][1]}, gym -v2)"
    return Table(ours.statistic, "ours+paper", title, rows, algos, cells)


def _caption(table: Table) -> str:
    if table.source == "ours+paper":
        n = max(c.n_seeds for (task, _), c in table.cells.items() if not task.endswith("@paper"))
        return (f"{table.title}: ours mean ± population standard deviation over {n} seeds, the paper's mean ± "
                "one standard deviation over 5 seeds")
    seeds = {cell.n_seeds for cell in table.cells.values()}
    n = max(seeds) if seeds else 0
    spread = "population standard deviation" if table.source == "ours" else "one standard deviation"
    return f"{table.title}: mean ± {spread} over {n} seeds"


def _cell_text(table: Table, key: tuple[str, str], decimals: int, pm: str) -> str | None:
    cell = table.cells.get(key)
    if cell is None:
        return None
    text = f"{cell.mean:.{decimals}f}{pm}{cell.std:.{decimals}f}"
    most = max(c.n_seeds for (task, _), c in table.cells.items() if not task.endswith("@paper")) \
        if not key[0].endswith("@paper") else cell.n_seeds
    return text + (f" (n={cell.n_seeds})" if cell.n_seeds < most else "")


def to_markdown(table: Table, decimals: int) -> str:
    lines = [f"**{_caption(table)}**", "",
             "| Task | " + " | ".join(algo_label(a) for a in table.algos) + " |",
             "| --- |" + " ---: |" * len(table.algos)]
    for task, label in table.rows:
        cells = [_cell_text(table, (task, a), decimals, " ± ") or "–" for a in table.algos]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _latex_escape(text: str) -> str:
    for char in "\\&%$#_{}":
        text = text.replace(char, "\\" + char)
    return text


def to_latex(table: Table, decimals: int) -> str:
    caption = _latex_escape(_caption(table)).replace("±", "$\\pm$")
    lines = ["\\begin{table}[t]", "\\centering", f"\\caption{{{caption}.}}",
             "\\begin{tabular}{l" + "r" * len(table.algos) + "}", "\\toprule",
             "Task & " + " & ".join(_latex_escape(algo_label(a)) for a in table.algos) + " \\\\", "\\midrule"]
    for task, label in table.rows:
        cells = [_cell_text(table, (task, a), decimals, " $\\pm$ ") or "--" for a in table.algos]
        lines.append(_latex_escape(label) + " & " + " & ".join(cells) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}", "\\end{table}"]
    return "\n".join(lines) + "\n"


def to_csv(tables: list[Table], intervals: list[IntervalTable] = ()) -> str:
    """Long format, full precision: one line per (source, statistic, task, algo); the intervals' lines carry the
    IQM (or the probability of improvement) in `mean`, and their bounds."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["source", "statistic", "task", "algo", "mean", "std", "n_seeds", "ci_low", "ci_high",
                     "paper_inside_ours"])
    for table in tables:
        for task, _ in table.rows:
            source, plain_task = ("paper", task[:-len("@paper")]) if task.endswith("@paper") else (
                "ours" if table.source == "ours+paper" else table.source, task)
            for algo in table.algos:
                cell = table.cells.get((task, algo))
                if cell is not None:
                    writer.writerow([source, table.statistic, plain_task, algo, cell.mean, cell.std, cell.n_seeds,
                                     "", "", ""])
    for table in intervals:
        for source, statistic, task, algo, estimate, low, high, inside in interval_tables.csv_rows(table):
            writer.writerow([source, statistic, task, algo, estimate, "", "", low, high, inside])
    return out.getvalue()


def render(tables: list[Table], fmt: str, decimals: int, intervals: list[IntervalTable] = ()) -> str:
    """Each statistic's mean ± std table, then its intervals (same statistic order)."""
    if fmt == "csv":
        return to_csv(tables, intervals)
    by_statistic = {table.statistic: table for table in intervals}
    parts = []
    for table in tables:
        if fmt == "md":
            parts.append(to_markdown(table, decimals))
            if table.statistic in by_statistic:
                parts.append(interval_tables.to_markdown(by_statistic[table.statistic], decimals))
        else:
            parts.append(to_latex(table, decimals))
            if table.statistic in by_statistic:
                parts.append(interval_tables.to_latex(by_statistic[table.statistic], decimals, _latex_text))
    return "\n".join(parts)


def _latex_text(text: str) -> str:
    return _latex_escape(text).replace("±", "$\\pm$").replace("÷", "/").replace("–", "--")


def build_tables(sweep_dir: Path, with_paper: bool, include_unfinished: bool = False,
                 reference: str | None = None) -> tuple[list[Table], list[IntervalTable]]:
    runs = find_runs(sweep_dir)
    note = unfinished_note(runs, include_unfinished, "--include-unfinished")
    if note is not None:
        print(note, file=sys.stderr)
    counted = runs if include_unfinished else [run for run in runs if run.finished]
    if not counted:
        raise SweepError(f"no run under {sweep_dir} has finished; --include-unfinished counts the unfinished ones")
    ours = measured_tables(counted)
    intervals = measured_intervals(counted, with_paper, reference)
    return ([beside_paper(table) for table in ours] if with_paper else ours), intervals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sweep_dir", type=Path, help="a sweep folder, e.g. runs/paper_table1")
    parser.add_argument("--paper", action="store_true", help="also print the paper's numbers (Tables 1/3 and 4)")
    parser.add_argument("--format", choices=list(FILE_SUFFIXES), default="md", help="what to print (default md)")
    parser.add_argument("--out", type=Path, help="also write tables.md, tables.tex and tables.csv into this folder")
    parser.add_argument("--decimals", type=int, default=0, help="digits after the point (the paper uses 0)")
    parser.add_argument("--include-unfinished", action="store_true",
                        help="count runs that have not reached their total_steps (left out by default)")
    parser.add_argument("--reference", help="the column the aggregate row normalizes by and P(improvement) "
                        "compares with (default: sb3_sac when present, else the first column)")
    args = parser.parse_args(argv)
    try:
        tables, intervals = build_tables(args.sweep_dir, args.paper, args.include_unfinished, args.reference)
    except SweepError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(render(tables, args.format, args.decimals, intervals), end="")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        for fmt, suffix in FILE_SUFFIXES.items():
            path = args.out / f"tables.{suffix}"
            path.write_text(render(tables, fmt, args.decimals, intervals))
            print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

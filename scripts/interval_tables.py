"""The interval side of scripts.tables: per statistic, each cell's interquartile mean with its 95% bootstrap
interval over seeds, an aggregate row over tasks, and the probability that each algorithm improves on a reference
one (scripts/intervals.py computes them; docs/intervals.md says how to read them)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scripts.intervals import CONFIDENCE, Interval, aggregate_interval, iqm_interval, probability_of_improvement
from scripts.sweep_results import algo_label

AGGREGATE = "all tasks"
PREFERRED_REFERENCES = ("sb3_sac",)  # the independent implementation when a sweep has it, else the first column


@dataclass(frozen=True)
class IntervalTable:
    """One statistic's intervals: rows are tasks then the aggregate, columns algorithms; `paper` holds the
    paper's mean per (task, algo) where --paper asked for it, and `improvement` P(algo > reference) per task and
    over all tasks."""
    statistic: str
    title: str
    tasks: list[str]
    algos: list[str]
    reference: str
    cells: dict[tuple[str, str], Interval]          # (task or AGGREGATE, algo); the aggregate is normalized
    improvement: dict[tuple[str, str], Interval]    # (task or AGGREGATE, algo)
    paper: dict[tuple[str, str], float]


def pick_reference(algos: list[str], wanted: str | None = None) -> str:
    if wanted is not None:
        return wanted
    return next((a for a in PREFERRED_REFERENCES if a in algos), algos[0])


def normalized(scores: dict[tuple[str, str], list[float]], reference: str) -> dict[tuple[str, str], np.ndarray]:
    """Each task's scores over the reference's mean on that task, so tasks of different scales pool (1.0: the
    reference's mean); tasks without the reference are left out."""
    means = {task: float(np.mean(v)) for (task, algo), v in scores.items() if algo == reference}
    return {(task, algo): np.asarray(v, dtype=float) / means[task] for (task, algo), v in scores.items()
            if task in means and means[task] != 0}


def interval_table(statistic: str, title: str, tasks: list[str], algos: list[str],
                   scores: dict[tuple[str, str], list[float]], reference: str,
                   paper: dict[tuple[str, str], float] | None = None) -> IntervalTable:
    """Every interval of one statistic from the per-seed scores of each (task, algo)."""
    cells = {key: iqm_interval(values) for key, values in scores.items()}
    improvement = {}
    norm = normalized(scores, reference)
    for algo in algos:
        pooled_tasks = [t for t in tasks if (t, algo) in norm]
        if len(pooled_tasks) > 1:
            cells[(AGGREGATE, algo)] = aggregate_interval([norm[(t, algo)] for t in pooled_tasks])
        if algo == reference:
            continue
        shared = [t for t in tasks if (t, algo) in scores and (t, reference) in scores]
        for task in shared:
            improvement[(task, algo)] = probability_of_improvement([scores[(task, algo)]], [scores[(task, reference)]])
        if len(shared) > 1:
            improvement[(AGGREGATE, algo)] = probability_of_improvement([scores[(t, algo)] for t in shared],
                                                                        [scores[(t, reference)] for t in shared])
    return IntervalTable(statistic, title, tasks, algos, reference, cells, improvement, paper or {})


def interval_text(interval: Interval | None, decimals: int) -> str:
    if interval is None:
        return "–"
    if np.isnan(interval.low):
        return f"{interval.estimate:.{decimals}f} [–]"
    return f"{interval.estimate:.{decimals}f} [{interval.low:.{decimals}f}, {interval.high:.{decimals}f}]"


def paper_text(table: IntervalTable, task: str, algo: str, decimals: int) -> str:
    """The paper's mean and whether it lies in our interval for that cell."""
    mean = table.paper.get((task, algo))
    if mean is None:
        return "–"
    ours = table.cells.get((task, algo))
    where = "no interval of ours" if ours is None or np.isnan(ours.low) else (
        "inside" if ours.covers(mean) else "outside")
    return f"{mean:.{decimals}f} ({where})"


def rows(table: IntervalTable, decimals: int) -> list[tuple[str, list[str]]]:
    """(row label, cells) of the IQM table: each task, its paper row where there is one, then the aggregate."""
    out = []
    for task in table.tasks:
        out.append((task, [interval_text(table.cells.get((task, a)), decimals) for a in table.algos]))
        if any((task, a) in table.paper for a in table.algos):
            out.append((f"{task}: paper's mean", [paper_text(table, task, a, decimals) for a in table.algos]))
    if any((AGGREGATE, a) in table.cells for a in table.algos):
        out.append((f"{AGGREGATE}, ÷ {algo_label(table.reference)}'s mean per task",
                    [interval_text(table.cells.get((AGGREGATE, a)), 2) for a in table.algos]))
    return out


def improvement_rows(table: IntervalTable) -> list[tuple[str, list[str]]]:
    """(algorithm, cells per task and over all tasks) of P(algo > reference)."""
    columns = [*table.tasks, AGGREGATE]
    return [(algo_label(algo), [interval_text(table.improvement.get((c, algo)), 2) for c in columns])
            for algo in table.algos if algo != table.reference and any((c, algo) in table.improvement for c in columns)]


def captions(table: IntervalTable) -> tuple[str, str]:
    level = f"{CONFIDENCE:.0%}"
    iqm = (f"{table.title}: interquartile mean over seeds [{level} stratified percentile bootstrap interval]; "
           f"`{AGGREGATE}`: the IQM of every seed's score over {algo_label(table.reference)}'s mean on its task")
    if table.paper:
        iqm += "; `paper's mean`: inside or outside our interval"
    improvement = (f"{table.title}: probability of improvement P(row > {algo_label(table.reference)}) "
                   f"[{level} interval], per task and over all tasks")
    return iqm, improvement


def to_markdown(table: IntervalTable, decimals: int) -> str:
    iqm_caption, improvement_caption = captions(table)
    lines = [f"**{iqm_caption}**", "", "| Task | " + " | ".join(algo_label(a) for a in table.algos) + " |",
             "| --- |" + " ---: |" * len(table.algos)]
    lines += [f"| {label} | " + " | ".join(cells) + " |" for label, cells in rows(table, decimals)]
    improvement = improvement_rows(table)
    if improvement:
        lines += ["", f"**{improvement_caption}**", "", "| Algorithm | " + " | ".join([*table.tasks, AGGREGATE]) + " |",
                  "| --- |" + " ---: |" * (len(table.tasks) + 1)]
        lines += [f"| {label} | " + " | ".join(cells) + " |" for label, cells in improvement]
    return "\n".join(lines) + "\n"


def to_latex(table: IntervalTable, decimals: int, escape) -> str:
    iqm_caption, improvement_caption = captions(table)
    parts = []
    for caption, header, body in (
            (iqm_caption, [algo_label(a) for a in table.algos], rows(table, decimals)),
            (improvement_caption, [*table.tasks, AGGREGATE], improvement_rows(table))):
        if not body:
            continue
        lines = ["\\begin{table}[t]", "\\centering", f"\\caption{{{escape(caption)}.}}",
                 "\\begin{tabular}{l" + "r" * len(header) + "}", "\\toprule",
                 " & ".join(escape(h) for h in ["", *header]) + " \\\\", "\\midrule"]
        lines += [" & ".join(escape(c) for c in [label, *cells]) + " \\\\" for label, cells in body]
        lines += ["\\bottomrule", "\\end{tabular}", "\\end{table}"]
        parts.append("\n".join(lines) + "\n")
    return "\n".join(parts)


def csv_rows(table: IntervalTable) -> list[list]:
    """Long-format rows (source, statistic, task, algo, estimate, ci_low, ci_high, paper_inside)."""
    out = []
    for (task, algo), cell in table.cells.items():
        statistic = table.statistic if task != AGGREGATE else f"{table.statistic}/normalized_by_{table.reference}"
        inside = "" if (task, algo) not in table.paper or np.isnan(cell.low) else cell.covers(table.paper[(task, algo)])
        out.append(["ours", statistic + "/iqm", task, algo, cell.estimate, cell.low, cell.high, inside])
    for (task, algo), cell in table.improvement.items():
        out.append(["ours", f"{table.statistic}/p_improvement_over_{table.reference}", task, algo, cell.estimate,
                    cell.low, cell.high, ""])
    return out

"""scripts.tables and scripts.plots on hand-made eval.csv files whose statistics are worked out by hand below."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scripts import plots, tables

REPO = Path(__file__).resolve().parents[1]
HEADER = "step,return_mean,return_std,episodes,eval_mode,entropy/estimate\n"

# (task, algo, seed) -> [(step, return_mean), ...]. Per seed: max and mean of return_mean.
CURVES = {
    ("hopper", "sac_gaussian", 0): [(10, 100), (20, 300), (30, 200)],             # max 300, mean 200
    ("hopper", "sac_gaussian", 1): [(10, 200), (20, 999), (20, 400), (30, 600)],  # resumed: step 20 keeps 400;
                                                                                  # max 600, mean 400
    ("hopper", "sac_gaussian", 2): [(10, 0), (20, 0), (30, 300)],                 # max 300, mean 100
    ("hopper", "sac_nf", 0): [(10, 1000), (20, 2000)],                            # max 2000, mean 1500
    ("hopper", "sac_nf", 1): [(10, 3000), (20, 1000)],                            # max 3000, mean 2000
    ("walker2d", "sac_gaussian", 1): [(10, 250)],                                 # max 250, mean 250
}
# Named only by its config.yaml: its folder says nothing about task, algo or seed.
CONFIG_NAMED = ("walker2d", "sac_gaussian", 0, [(10, 50), (20, 150)])             # max 150, mean 100

# Population std (ddof=0) over seeds:
#   hopper/SAC     max  [300, 600, 300]  -> 400 ± sqrt(20000) = 141.42;  mean [200, 400, 100] -> 233.33 ± 124.72
#   hopper/SAC-NF  max  [2000, 3000]     -> 2500 ± 500;                   mean [1500, 2000]     -> 1750 ± 250
#   walker2d/SAC   max  [150, 250]       -> 200 ± 50;                     mean [100, 250]       -> 175 ± 75


def write_eval(folder: Path, points: list[tuple[int, float]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rows = "".join(f"{step},{ret},1.0,10,mean_action,0.5\n" for step, ret in points)
    (folder / "eval.csv").write_text(HEADER + rows)


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    root = tmp_path / "paper_table1"
    for (task, algo, seed), points in CURVES.items():
        write_eval(root / task / algo / f"seed{seed}", points)
    task, algo, seed, points = CONFIG_NAMED
    folder = root / "renamed" / "by_hand"
    write_eval(folder, points)
    (folder / "config.yaml").write_text(f"env:\n  name: {task}\nalgo:\n  name: {algo}\nseed: {seed}\n")
    write_eval(root / "hopper" / "sac_ar_dae" / "seed0", [])      # no evaluation yet: skipped, no column
    write_eval(root / ".submitit" / "1_0" / "x" / "seed0", [(10, 1e9)])  # hidden folders are never runs
    return root


def cells_of(table: tables.Table) -> dict:
    return {key: (round(c.mean, 2), round(c.std, 2), c.n_seeds) for key, c in table.cells.items()}


def test_both_statistics_to_the_digit(sweep: Path) -> None:
    best, normalized = tables.measured_tables(tables.find_runs(sweep))
    assert best.statistic == "max_average_return" and normalized.statistic == "normalized_average_return"
    assert cells_of(best) == {("hopper", "sac_gaussian"): (400.0, 141.42, 3), ("hopper", "sac_nf"): (2500.0, 500.0, 2),
                              ("walker2d", "sac_gaussian"): (200.0, 50.0, 2)}
    assert cells_of(normalized) == {("hopper", "sac_gaussian"): (233.33, 124.72, 3),
                                    ("hopper", "sac_nf"): (1750.0, 250.0, 2),
                                    ("walker2d", "sac_gaussian"): (175.0, 75.0, 2)}
    assert best.rows == [("hopper", "hopper"), ("walker2d", "walker2d")]
    assert best.algos == ["sac_gaussian", "sac_nf"]


def test_markdown(sweep: Path, capsys) -> None:
    assert tables.main([str(sweep)]) == 0
    text = capsys.readouterr().out
    assert "**Maximum average return: mean ± population standard deviation over 3 seeds**" in text
    assert "| Task | SAC | SAC-NF |" in text
    assert "| hopper | 400 ± 141 | 2500 ± 500 (n=2) |" in text
    assert "| walker2d | 200 ± 50 (n=2) | – |" in text
    assert "| hopper | 233 ± 125 | 1750 ± 250 (n=2) |" in text
    assert "| walker2d | 175 ± 75 (n=2) | – |" in text
    assert tables.main([str(sweep), "--decimals", "2"]) == 0
    assert "| hopper | 400.00 ± 141.42 | 2500.00 ± 500.00 (n=2) |" in capsys.readouterr().out


def test_latex(sweep: Path, capsys) -> None:
    assert tables.main([str(sweep), "--format", "latex"]) == 0
    text = capsys.readouterr().out
    assert text.count("\\begin{tabular}{lrr}") == 4  # per statistic: mean ± std, then the IQM table
    assert "hopper & 400 [300, 600] & 2500 [2000, 3000] \\\\" in text
    assert "Task & SAC & SAC-NF \\\\" in text
    assert "hopper & 400 $\\pm$ 141 & 2500 $\\pm$ 500 (n=2) \\\\" in text
    assert "walker2d & 175 $\\pm$ 75 (n=2) & -- \\\\" in text
    assert "\\caption{Normalized average return: mean $\\pm$ population standard deviation over 3 seeds.}" in text


def test_csv_and_out_folder(sweep: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "tables"
    assert tables.main([str(sweep), "--format", "csv", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["tables.csv", "tables.md", "tables.tex"]
    assert (out / "tables.csv").read_text() == printed
    every = list(csv.DictReader(printed.splitlines()))
    rows = [r for r in every if r["ci_low"] == ""]  # the mean ± std lines
    assert len(rows) == 6
    intervals = {(r["statistic"], r["task"], r["algo"]): r for r in every if r["ci_low"] != ""}
    iqm = intervals[("max_average_return/iqm", "hopper", "sac_gaussian")]
    assert (float(iqm["mean"]), float(iqm["ci_low"]), float(iqm["ci_high"])) == (400.0, 300.0, 600.0)
    better = intervals[("max_average_return/p_improvement_over_sac_gaussian", "hopper", "sac_nf")]
    assert (float(better["mean"]), float(better["ci_low"]), float(better["ci_high"])) == (1.0, 1.0, 1.0)
    by_key = {(r["statistic"], r["task"], r["algo"]): r for r in rows}
    hopper = by_key[("max_average_return", "hopper", "sac_gaussian")]
    assert (hopper["source"], float(hopper["mean"]), hopper["n_seeds"]) == ("ours", 400.0, "3")
    assert float(hopper["std"]) == pytest.approx(np.sqrt(20000.0), rel=1e-12)
    walker = by_key[("normalized_average_return", "walker2d", "sac_gaussian")]
    assert (float(walker["mean"]), float(walker["std"])) == (175.0, 75.0)


def test_paper_numbers_beside_ours(sweep: Path, capsys) -> None:
    assert tables.main([str(sweep), "--paper"]) == 0
    text = capsys.readouterr().out
    assert "| Task | SAC | SAC-NF | SAC-AR-DAE | SAC-AR-DAE (w/o jc) |" in text
    # Each task of ours is followed by the paper's row for it; the paper's other tasks follow in Table 1's order.
    assert ("| hopper (ours) | 400 ± 141 | 2500 ± 500 (n=2) | – | – |\n"
            "| Hopper-v2 (paper) | 3563 ± 119 | 3521 ± 129 | 3556 ± 127 | 3634 ± 45 |\n") in text
    assert ("| walker2d (ours) | 175 ± 75 (n=2) | – | – | – |\n"
            "| Walker-v2 (paper) | 3023 ± 271 | 3317 ± 455 | 3036 ± 271 | 3094 ± 209 |\n") in text
    assert "| HalfCheetah-v2 (paper) | 9695 ± 879 | 9325 ± 775 | 10907 ± 664 | 10677 ± 374 |" in text
    assert "| Humanoid (rllab) (paper) | 6099 ± 8071 | 3442 ± 3736 | 10739 ± 10335 | 761 ± 413 |" in text
    assert text.index("| HalfCheetah-v2 (paper)") < text.index("| hopper (ours)")
    assert text.index("Maximum average return, ours beside") < text.index("Normalized average return, ours beside")


def test_intervals_beside_each_cell_and_the_paper_inside_or_outside(sweep: Path, capsys) -> None:
    """Hand-made: hopper/SAC's max returns [300, 600, 300] resample to means between 300 and 600, each end with a
    chance above 2.5% (8/27 and 1/27), so the interval is exactly [300, 600]; the paper's 3563 lies outside."""
    assert tables.main([str(sweep), "--paper"]) == 0
    text = capsys.readouterr().out
    assert "| hopper | 400 [300, 600] | 2500 [2000, 3000] |" in text
    assert "| hopper: paper's mean | 3563 (outside) | 3521 (outside) |" in text
    assert "| walker2d | 200 [150, 250] | – |" in text
    assert "| SAC-NF | 1.00 [1.00, 1.00] | – | – |" in text          # P(SAC-NF > SAC): every pair, every resample
    assert "| hopper | 233 [100, 400] | 1750 [1500, 2000] |" in text  # normalized: per-seed means [200, 400, 100]
    assert tables.main([str(sweep), "--reference", "sac_nf"]) == 0
    assert "P(row > SAC-NF)" in capsys.readouterr().out
    assert tables.main([str(sweep), "--reference", "sb3"]) == 1
    assert capsys.readouterr().err.splitlines()[-1] == \
        "error: --reference sb3: no such column; the sweep has sac_gaussian, sac_nf"


def test_folder_without_eval_files(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "scripts.tables", str(tmp_path)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr.startswith("error: no eval.csv") and proc.stderr.count("\n") == 1


def test_smoothing_handles_short_curves() -> None:
    for n in range(1, 10):
        quadratic = np.arange(n, dtype=float) ** 2
        assert np.allclose(plots.smooth(quadratic), quadratic)  # order 2 keeps a parabola, at any window


def test_one_png_per_task_and_one_aggregate(sweep: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "curves"
    assert plots.main([str(sweep), "--out", str(out)]) == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(out / "hopper.png"), str(out / "walker2d.png"), str(out / "aggregate.png")]
    for path in printed:
        assert Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_unfinished_runs_are_named_and_left_out_unless_asked(tmp_path: Path, capsys) -> None:
    root = tmp_path / "sweep"
    for seed, points in ((0, [(1000, 100), (2000, 200), (3000, 300)]), (1, [(1000, 50), (2000, 60)])):
        folder = root / "hopper" / "sac_gaussian" / f"seed{seed}"
        write_eval(folder, points)
        (folder / "config.yaml").write_text("total_steps: 3000\n")

    def cells(*flags: str) -> tuple[set, str]:
        assert tables.main([str(root), "--format", "csv", *flags]) == 0
        captured = capsys.readouterr()
        rows = csv.DictReader(captured.out.splitlines())
        return {(r["statistic"], round(float(r["mean"]), 2), int(r["n_seeds"])) for r in rows if r["n_seeds"]}, \
            captured.err

    counted, note = cells()
    assert note.strip() == ("note: 1 unfinished run(s), left out (--include-unfinished counts them): "
                            "hopper/sac_gaussian/seed1 at step 2000 of 3000")
    assert counted == {("max_average_return", 300.0, 1), ("normalized_average_return", 200.0, 1)}
    counted, note = cells("--include-unfinished")
    assert "counted (--include-unfinished): hopper/sac_gaussian/seed1 at step 2000 of 3000" in note
    assert counted == {("max_average_return", 180.0, 2), ("normalized_average_return", 127.5, 2)}


def test_plots_say_where_seeds_end_and_smooth_within_the_data() -> None:
    import pandas as pd

    returns = np.array([0, 0, 0, 0, 0, 0, 50, 300, 310, 300.0])  # Savitzky-Golay alone dips to -21 here
    smoothed = plots.smooth(returns)
    assert smoothed.min() >= 0.0 and smoothed.max() <= 310.0
    steps = np.arange(1, 11) * 100
    runs = [tables.Run("hopper", "sac_gaussian", seed, Path("."), pd.DataFrame({"step": steps[:n],
                                                                               "return_mean": returns[:n]}))
            for seed, n in ((0, 10), (1, 6))]
    stats = plots.curve_band(runs)
    assert plots.legend_label("sac_gaussian", stats) == "SAC (2 seeds; 1 after step 600)"
    late = stats.loc[1000]  # one seed left: the line is its curve and there is no band
    assert late["low"] == late["iqm"] == late["high"] == pytest.approx(smoothed[-1])
    early = stats.loc[600]  # two seeds: the band spans their two smoothed values (resamples of 2 points)
    both = sorted([plots.smooth(returns)[5], plots.smooth(returns[:6])[5]])
    assert (early["low"], early["high"]) == pytest.approx(both)
    assert plots.legend_label("sac_gaussian", plots.curve_band(runs[:1])) == "SAC (1 seed)"

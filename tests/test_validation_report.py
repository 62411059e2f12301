"""scripts.validation_report on a hand-made sweep whose table numbers are worked out by hand below."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from scipy import stats

from scripts import validation_report as report
from scripts.sweep_results import find_runs, group_runs

REPO = Path(__file__).resolve().parents[1]
EVAL_COLUMNS = ["step", "return_mean", "return_std", "episodes", "eval_mode", "length_mean"]
ENTROPY = {  # label -> the entropy columns its eval.csv has
    "sac_gaussian": ["entropy/estimate", "entropy/exact", "entropy/reference"],
    "sac_flow_vi": ["entropy/estimate", "entropy/lower", "entropy/upper", "entropy/reference", "entropy/knn"],
    "sb3_sac": [],
}
_ = None  # an empty cell: no entropy diagnostics at that evaluation

# (task, label, seed) -> eval rows (step, return_mean, *entropy values in ENTROPY[label]'s order).
EVALS = {
    ("hopper", "sac_gaussian", 0): [(1000, 10, _, _, _), (2000, 30, 1.0, 1.0, 1.5), (3000, 20, 2.0, 2.0, 2.5)],
    # resumed: step 2000 is logged twice and keeps its last row (return 50, estimate 3.0)
    ("hopper", "sac_gaussian", 1): [(1000, 20, _, _, _), (2000, 90, 9.0, 9.0, 9.0), (2000, 50, 3.0, 3.0, 3.5),
                                    (3000, 40, 4.0, 4.0, 4.5)],
    # entropy/upper is empty in every row: not drawn
    ("hopper", "sac_flow_vi", 0): [(1000, 5, 0.1, 0.0, _, 0.2, 0.1), (2000, 15, 0.3, 0.2, _, 0.4, 0.3),
                                   (3000, 25, 0.5, 0.4, _, 0.6, 0.5)],
    ("hopper", "sac_flow_vi", 1): [(1000, 35, 0.2, 0.1, _, 0.3, 0.2), (2000, 15, 0.4, 0.3, _, 0.5, 0.4)],
    ("hopper", "sb3_sac", 0): [(1000, 2), (2000, 6), (3000, 4)],
    ("hopper", "sb3_sac", 1): [(1000, 4), (2000, 2), (3000, 8)],
    ("walker2d", "sac_gaussian", 0): [(1000, 7, 0.5, 0.5, 0.5), (2000, 3, 0.25, 0.25, 0.25)],
    ("walker2d", "sb3_sac", 0): [(1000, 1), (2000, 2.5)],
}
# (task, label, seed) -> train rows (step, time/env_steps_per_s); runs not listed have no train.csv.
TRAINS = {
    ("hopper", "sac_gaussian", 0): [(1000, 20), (2000, 20), (3000, 20)],  # 50+50+50 = 150 s, 3000/150 = 20/s
    ("hopper", "sac_gaussian", 1): [(1000, 10), (2000, 10), (2000, 40), (3000, 20)],  # the resume's repeated row
                                                                                     # adds 0: 100+100+0+50 = 250 s,
                                                                                     # 3000/250 = 12/s
    ("hopper", "sac_flow_vi", 0): [(1000, 10), (2000, 10), (3000, 10)],   # 300 s, 10/s
    ("hopper", "sac_flow_vi", 1): [(1000, 4), (2000, 4)],                 # 500 s, 4/s
    ("hopper", "sb3_sac", 0): [(1000, 100), (2000, 100), (3000, 100)],    # 30 s, 100/s
    ("walker2d", "sac_gaussian", 0): [(1000, 25), (2000, 25)],            # 80 s, 25/s
}
# Per seed: max and final (last step's) return_mean; mean ± population std (ddof=0) over seeds:
#   hopper/SAC          max [30, 50] -> 40 ± 10     final [20, 40] -> 30 ± 10   steps 3000, 3000
#                       time (150 + 250)/2 = 200 s = 3.33 min; rate (20 + 12)/2 = 16
#   hopper/SAC-Flow-VI  max [25, 35] -> 30 ± 5      final [25, 15] -> 20 ± 5    steps 3000, 2000 -> 2000–3000
#                       time (300 + 500)/2 = 400 s = 6.67 min; rate (10 + 4)/2 = 7
#   hopper/SB3 SAC      max [6, 8] -> 7 ± 1         final [4, 8] -> 6 ± 2       steps 3000, 3000
#                       only seed 0 has a train.csv: 30 s = 0.5 min, 100/s (n=1)
#   walker2d/SAC        one seed: max 7, final 3, step 2000, 80 s = 1.33 min, 25/s
#   walker2d/SB3 SAC    one seed: max 2.5, final 2.5, step 2000, no train.csv
TABLE_ROWS = """\
| hopper | SAC | 2 | 40.0 ± 10.0 | 30.0 ± 10.0 | 3000 | 3.3 | 16 |
| hopper | SAC-Flow-VI | 2 | 30.0 ± 5.0 | 20.0 ± 5.0 | 2000–3000 | 6.7 | 7 |
| hopper | SB3 SAC | 2 | 7.0 ± 1.0 | 6.0 ± 2.0 | 3000 | 0.5 (n=1) | 100 (n=1) |
| walker2d | SAC | 1 | 7.0 ± 0.0 | 3.0 ± 0.0 | 2000 | 1.3 | 25 |
| walker2d | SB3 SAC | 1 | 2.5 ± 0.0 | 2.5 ± 0.0 | 2000 | – | – |
"""


def write_csv(path: Path, columns: list[str], rows: list[list]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [",".join(columns)] + [",".join("" if v is None else str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    root = tmp_path / "validation"
    for (task, label, seed), rows in EVALS.items():
        folder = root / task / label / f"seed{seed}"
        write_csv(folder / "eval.csv", EVAL_COLUMNS + ENTROPY[label],
                  [[step, ret, 1.0, 10, "mean_action", 100, *entropy] for step, ret, *entropy in rows])
    for (task, label, seed), rows in TRAINS.items():
        write_csv(root / task / label / f"seed{seed}" / "train.csv",
                  ["step", "updates", "train/alpha", "time/env_steps_per_s", "time/updates_per_s"],
                  [[step, step // 2, 0.2, rate, rate / 2] for step, rate in rows])
    return root


def test_table_to_the_digit(sweep: Path) -> None:
    text = report.results_table(find_runs(sweep))
    assert text.startswith("## Results\n\n| task | algorithm | seeds | max average return | final return | final step "
                           "| wall time per run (min) | env steps/s |\n| --- | --- | ---: |")
    assert TABLE_ROWS in text
    assert "approximate" in text and "time/env_steps_per_s" in text


# Against SB3 SAC: hopper's reference max [6, 8], mean 7, sample std sqrt(2), SE sqrt(2)/sqrt(2) = 1 -> bar 5;
# walker2d's reference has one seed: no bar, no test.
# Welch, by hand: SAC [30, 50] against [6, 8]: variances of the means 200/2 + 2/2 = 101, t = 33 / sqrt(101),
# Welch-Satterthwaite df = 101^2 / ((200/2)^2 / 1 + (2/2)^2 / 1) = 10201 / 10001 -> p = 0.184;
# Flow-VI [25, 35]: 50/2 + 1 = 26, t = 23 / sqrt(26), df = 26^2 / (25^2 + 1) = 676 / 626 -> p = 0.125.
REFERENCE_ROWS = """\
| hopper | SAC | 40.0 | 5.0 | +35.0 | yes | 0.18 |
| hopper | SAC-Flow-VI | 30.0 | 5.0 | +25.0 | yes | 0.12 |
| walker2d | SAC | 7.0 | – | – | – | – |
"""


def test_reference_check_to_the_digit(sweep: Path) -> None:
    text = report.reference_check(find_runs(sweep))
    assert text.startswith("## Against SB3 SAC\n\n| task | algorithm | mean max average return |")
    assert REFERENCE_ROWS in text
    assert report.reference_bar([6.0, 8.0]) == pytest.approx(5.0)
    assert report.reference_bar([100.0, 300.0, 200.0]) == pytest.approx(200.0 - 2 * 100.0 / 3 ** 0.5)
    assert report.reference_bar([6.0]) is None
    assert report.welch_p([30.0, 50.0], [6.0, 8.0]) == pytest.approx(
        2 * stats.t.sf(33 / 101 ** 0.5, 10201 / 10001))
    assert report.welch_p([30.0, 50.0], [6.0]) is None and report.welch_p([1.0, 1.0], [2.0, 2.0]) is None


def test_train_time(tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    assert report.train_time(path) is None
    # Resumed from an older checkpoint: the step going back (2000 -> 1500) adds nothing, 1500 -> 2500 counts.
    write_csv(path, ["step", "time/env_steps_per_s"], [[1000, 10], [2000, 5], [1500, 5], [2500, 10]])
    assert report.train_time(path) == (3000.0, 100 + 200 + 0 + 100)


def test_entropy_panels(sweep: Path) -> None:
    groups = group_runs(find_runs(sweep))
    hopper = report.entropy_panels({algo: runs for (task, algo), runs in groups.items() if task == "hopper"})
    assert {algo: columns for algo, (_, columns) in hopper.items()} == {  # no sb3_sac, no empty upper, no knn
        "sac_gaussian": ["entropy/estimate", "entropy/reference"],
        "sac_flow_vi": ["entropy/estimate", "entropy/lower", "entropy/reference"]}
    # SAC estimate: step 1000 empty in both seeds; 2000 [1, 3] (the resume's last row) -> 2 ± 1; 3000 [2, 4] -> 3 ± 1
    band = report.seed_band(hopper["sac_gaussian"][0], "entropy/estimate")
    assert band.index.tolist() == [2000, 3000]
    assert band["mean"].tolist() == [2.0, 3.0] and band["std"].tolist() == [1.0, 1.0]
    walker = report.entropy_panels({"sb3_sac": groups[("walker2d", "sb3_sac")]})
    assert walker == {}


def test_report_folder(sweep: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "docs" / "validation"
    preamble = tmp_path / "preamble.md"
    preamble.write_text("# Validation\n\nWhat was run, *verbatim*.\n")
    assert report.main([str(sweep), "--out", str(out), "--preamble", str(preamble)]) == 0
    printed = [Path(line) for line in capsys.readouterr().out.splitlines()]
    figures = [out / f"{kind}_{task}.png" for task in ("hopper", "walker2d") for kind in ("returns", "entropy")]
    figures.append(out / "aggregate.png")
    copies = [out / "runs" / path.relative_to(sweep) for path in sorted(sweep.rglob("*.csv"))]
    assert printed[0] == out / "README.md" and printed[1:6] == figures
    assert sorted(printed[6:]) == sorted(copies) and len(copies) == len(EVALS) + len(TRAINS)
    for path in figures:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 1000
    for copy in copies:
        assert copy.read_bytes() == (sweep / copy.relative_to(out / "runs")).read_bytes()
    readme = (out / "README.md").read_text()
    assert readme.startswith("# Validation\n\nWhat was run, *verbatim*.\n\n## Results\n")
    assert TABLE_ROWS in readme and REFERENCE_ROWS in readme
    # Intervals of the max returns: two seeds resample to their mean or either value, each end with chance 1/4
    assert "| hopper | 40.0 [30.0, 50.0] | 30.0 [25.0, 35.0] | 7.0 [6.0, 8.0] |" in readme
    assert "| SAC | 1.00 [1.00, 1.00] | 1.00 [–] | 1.00 [–] |" in readme  # P(SAC > SB3 SAC): every pair
    assert "![aggregate](aggregate.png)" in readme
    assert "![entropy_hopper](entropy_hopper.png)" in readme and "![returns_walker2d](returns_walker2d.png)" in readme


def test_copies_recompute_the_table(sweep: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    report.write_report(sweep, out)
    again = report.results_table(find_runs(out / "runs"))
    assert TABLE_ROWS in again


def test_out_inside_the_sweep(sweep: Path, capsys) -> None:
    assert report.main([str(sweep), "--out", str(sweep / "report")]) == 1
    assert capsys.readouterr().err.startswith("error: --out")


def test_folder_without_runs(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = subprocess.run([sys.executable, "-m", "scripts.validation_report", str(empty),
                           "--out", str(tmp_path / "out")], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr.startswith("error: no eval.csv") and proc.stderr.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_default_out_is_beside_the_sweep_not_the_tracked_docs(sweep: Path, tmp_path: Path, monkeypatch,
                                                              capsys) -> None:
    monkeypatch.chdir(tmp_path)  # where a relative docs/validation would be written
    assert report.main([str(sweep)]) == 0
    printed = [Path(line) for line in capsys.readouterr().out.splitlines()]
    out = sweep.resolve().parent / f"{sweep.name}-report"
    assert printed[0] == out / "README.md" and (out / "README.md").exists()
    assert not (tmp_path / "docs").exists()

"""The Stable-Baselines3 reference: matched to our SAC's settings, written in our run-folder layout, read by the
tables as one more column."""

from __future__ import annotations

from pathlib import Path

from scripts import sb3_reference, tables
from tests.helpers import read_csv

TINY_SB3 = ["env=inverted_pendulum", "total_steps=400", "warmup_steps=200", "eval_every=200", "eval_episodes=1",
            "log_every=100", "sac.batch_size=32"]


def test_settings_match_our_sac():
    cfg = sb3_reference.composed(["experiment=validation", "env=hopper", "seed=1"])
    settings = sb3_reference.sb3_settings(cfg)
    assert settings["policy_kwargs"] == {"net_arch": {"pi": [256, 256], "qf": [256, 256]}, "n_critics": 2}
    assert (settings["learning_starts"], settings["batch_size"], settings["ent_coef"]) == (5000, 256, 0.05)
    assert (settings["learning_rate"], settings["gamma"], settings["tau"]) == (3e-4, 0.99, 0.005)
    assert (settings["train_freq"], settings["gradient_steps"], settings["buffer_size"]) == (1, 1, 50000)
    tuned = sb3_reference.sb3_settings(sb3_reference.composed(["sac.autotune_alpha=true", "sac.alpha=0.2"]))
    assert tuned["ent_coef"] == "auto_0.2"


def test_the_presets_sweep_is_run_one_task_and_seed_at_a_time():
    points = sb3_reference.sweep_points(["experiment=validation"])
    pairs = sorted((p[-2], p[-1]) for p in points)
    assert pairs == sorted((f"env={e}", f"seed={s}") for e in ("hopper", "halfcheetah") for s in range(3))
    assert sb3_reference.sweep_points(["experiment=validation", "env=hopper", "seed=2"]) == [
        ["experiment=validation", "env=hopper", "seed=2"]]


def test_reference_run_writes_our_layout_and_is_skipped_once_finished(tmp_path: Path, capsys):
    args = [*TINY_SB3, "experiment_name=ref", f"run_root={tmp_path}"]
    assert sb3_reference.main(args) == 0
    folder = tmp_path / "ref" / "inverted_pendulum" / "sb3_sac" / "seed0"
    rows = read_csv(folder / "eval.csv")
    assert [int(r["step"]) for r in rows] == [200, 400]
    assert list(rows[0]) == ["step", "return_mean", "return_std", "episodes", "eval_mode", "length_mean"]
    assert all(float(r["return_mean"]) > 0 for r in rows)  # InvertedPendulum pays 1 per step alive
    assert [int(r["updates"]) for r in read_csv(folder / "train.csv")] == [100, 200]

    before = (folder / "eval.csv").read_bytes()
    assert sb3_reference.main(args) == 0
    assert "done already" in capsys.readouterr().out and (folder / "eval.csv").read_bytes() == before

    table = tables.build_tables(tmp_path / "ref", with_paper=False)[0][0]
    assert table.algos == ["sb3_sac"] and tables.algo_label("sb3_sac") == "SB3 SAC"


def test_unfinished_reference_run_starts_over_and_keeps_the_old_files(tmp_path: Path, capsys):
    folder = tmp_path / "ref" / "inverted_pendulum" / "sb3_sac" / "seed0"
    folder.mkdir(parents=True)
    (folder / "eval.csv").write_text("step,return_mean\n200,5.0\n")
    assert sb3_reference.main([*TINY_SB3, "experiment_name=ref", f"run_root={tmp_path}"]) == 0
    assert "starts over" in capsys.readouterr().err
    assert (folder / ".previous" / "0" / "eval.csv").read_text() == "step,return_mean\n200,5.0\n"
    assert [int(r["step"]) for r in read_csv(folder / "eval.csv")] == [200, 400]


def test_bad_override_is_one_line(capsys):
    assert sb3_reference.main(["env=nowhere"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err

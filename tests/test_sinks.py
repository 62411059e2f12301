"""The metric sinks beside the CSV record: one console line per evaluation, TensorBoard files that TensorBoard's
own reader reads back as the CSV rows, also after a restart; W&B runs of several folders open in one process."""

from __future__ import annotations

import pytest
import wandb

from runner.sinks import WandbSink
from runner.wandb_records import find_run_files, read_history
from tests.helpers import TINY, folder_for, read_csv, train_in_process

RUN = [*TINY, "total_steps=1500", "eval_every=500", "experiment_name=sinks"]


def test_console_prints_one_line_per_evaluation(run_root, capsys):
    assert train_in_process(*RUN, "logger=disabled", run_root=run_root) == (0, "")
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("eval step")]
    rows = read_csv(folder_for(*RUN, "logger=disabled", run_root=run_root) / "eval.csv")
    assert len(lines) == len(rows) == 3
    for line, row in zip(lines, rows):
        assert line.startswith(f"eval step {row['step']}/1500  return {float(row['return_mean']):.1f} ± ")
        assert "entropy est " in line and " ref " in line
    assert all(line.endswith(" steps/s") for line in lines[1:])  # a rate needs a previous evaluation


def scalars(folder) -> dict[str, list[tuple[int, float]]]:
    event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    accumulator = event_accumulator.EventAccumulator(str(folder))
    accumulator.Reload()
    return {tag: [(e.step, e.value) for e in accumulator.Scalars(tag)] for tag in accumulator.Tags()["scalars"]}


def test_tensorboard_files_hold_the_csv_rows_once_also_after_a_restart(run_root):
    assert train_in_process(*RUN, "logger=tensorboard", run_root=run_root) == (0, "")
    folder = folder_for(*RUN, "logger=tensorboard", run_root=run_root)
    evals, trains = read_csv(folder / "eval.csv"), read_csv(folder / "train.csv")
    expected = [(int(r["step"]), pytest.approx(float(r["return_mean"]))) for r in evals]
    assert scalars(folder / "tensorboard")["eval/return_mean"] == expected
    assert [s for s, _ in scalars(folder / "tensorboard")["train/critic_loss"]] == [int(r["step"]) for r in trains]

    (folder / "checkpoint.pt").unlink()  # a finished run is left alone: resume from the previous checkpoint
    assert train_in_process(*RUN, "logger=tensorboard", run_root=run_root) == (0, "")
    again = scalars(folder / "tensorboard")
    assert again["eval/return_mean"] == expected  # the history written again, the first writing purged
    assert len(list((folder / "tensorboard").glob("events.out.tfevents.*"))) == 2


def test_wandb_runs_of_several_folders_open_at_once_each_get_their_own_rows(tmp_path):
    folders = [tmp_path / f"seed{n}" for n in range(3)]
    sinks = []
    for n, folder in enumerate(folders):
        folder.mkdir()
        sinks.append(WandbSink(folder, {"seed": n}, "offline", "entropy-sac-tests", None, "g", "sac", f"g/seed{n}",
                               []))
        sinks[-1].open([])
    assert all(sink.run is not None for sink in sinks)
    for step in (100, 200):
        for n, sink in enumerate(sinks):
            sink.log_eval({"step": step, "return_mean": 1000.0 * n + step})
    for sink in sinks:
        sink.close()
    wandb.teardown()  # finish() returns before the last run's file is written; a process's exit waits for it
    for n, folder in enumerate(folders):
        (run_file,) = find_run_files(folder)
        logged = {row["_step"]: row["eval/return_mean"] for row in read_history(run_file)}
        assert logged == {100: 1000.0 * n + 100, 200: 1000.0 * n + 200}

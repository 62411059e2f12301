"""`python -m runner.evaluate`: the final checkpoint, evaluated as the run evaluated it, gives the last eval.csv row
exactly (also in a group member's folder), with a video of its first episode; bad folders cost one line and exit 2.
A group records each member's videos in its own folder."""

from __future__ import annotations

import shutil
import subprocess
import sys

import imageio.v3 as iio
import numpy as np
import pytest
import torch

from runner.evaluate import Options, evaluate, main
from tests.helpers import REPO, TINY, composed_job, read_csv, run_folder, train_in_process

RUN = [*TINY, "total_steps=1000", "eval_every=500", "logger=disabled", "video_every=0"]


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    run_root = tmp_path_factory.mktemp("runs")
    assert train_in_process(*RUN, "experiment_name=evaluate", run_root=run_root) == (0, "")
    return run_folder(run_root, "evaluate")


def assert_reproduces_last_row(folder, result) -> None:
    last = read_csv(folder / "eval.csv")[-1]
    assert result.step == int(last["step"]) == 1000
    assert len(result.returns) == int(last["episodes"])
    assert float(np.mean(result.returns)) == float(last["return_mean"])  # exactly, not approximately
    assert float(np.std(result.returns)) == float(last["return_std"])
    assert float(np.mean(result.lengths)) == float(last["length_mean"])


def test_final_checkpoint_reproduces_the_last_eval_row_and_records_its_first_episode(single, capsys):
    assert main([str(single), "episodes=2"]) == 0
    printed = capsys.readouterr().out
    result = evaluate(Options(single, episodes=2, video=False))
    assert_reproduces_last_row(single, result)
    assert f"return: {np.mean(result.returns):.2f} ± {np.std(result.returns):.2f}" in printed
    assert f"episode lengths: {result.lengths[0]} {result.lengths[1]}" in printed
    frames = iio.imread(single / "videos" / "evaluate-step1000.mp4")
    assert len(frames) == result.lengths[0]  # the first episode, frame by frame


def test_a_group_members_folder_reproduces_its_last_eval_row(run_root):
    """Each member's folder also holds its own video of the recorded (second) evaluation."""
    args = [*RUN, "seeds=[0,1]", "sac.batch_size=64", "video_every=2", "experiment_name=evalgroup"]
    assert train_in_process(*args, run_root=run_root) == (0, "")
    members = [run_folder(run_root, "evalgroup", seed=seed) for seed in (0, 1)]
    assert_reproduces_last_row(members[1], evaluate(Options(members[1], episodes=2, video=False)))
    for member in members:
        assert [p.name for p in (member / "videos").iterdir()] == ["step1000.mp4"]
        assert len(iio.imread(member / "videos" / "step1000.mp4")) > 1


def test_previous_checkpoint_is_evaluated_at_its_own_step(single):
    result = evaluate(Options(single, episodes=1, video=False, checkpoint="previous"))
    state = torch.load(single / "checkpoint.prev.pt", weights_only=True)
    assert result.step == state["counters"]["step"] < 1000


def foreign_checkpoint(folder) -> None:
    """The checkpoint of another algorithm's agent, in the run's file."""
    from runner.build import build_agent

    with composed_job("algo=sac_nf", "env=inverted_pendulum") as cfg:
        agent = build_agent(cfg, 4, 1, torch.device("cpu"))
    torch.save({"agent": agent.state_dict(), "counters": {"step": 1000}}, folder / "checkpoint.pt")
    (folder / "checkpoint.prev.pt").unlink()


@pytest.mark.parametrize("damage, message", [
    (lambda folder: shutil.rmtree(folder), "no run folder at"),
    (lambda folder: (folder / "config.yaml").unlink(), "is not a run folder: it has no config.yaml"),
    (lambda folder: [p.unlink() for p in folder.glob("checkpoint*.pt")],
     "no readable checkpoint in {folder}: no checkpoint.pt; no checkpoint.prev.pt"),
    (lambda folder: [p.write_bytes(b"not a checkpoint") for p in folder.glob("checkpoint*.pt")],
     "no readable checkpoint in {folder}: checkpoint.pt cannot be read"),
    (foreign_checkpoint, "checkpoint.pt does not hold a checkpoint of this run's configuration"),
])
def test_a_folder_without_a_usable_checkpoint_is_refused_in_one_line(single, tmp_path, damage, message, capsys):
    folder = tmp_path / "copy"
    shutil.copytree(single, folder)
    damage(folder)
    assert main([str(folder), "video=false"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message.format(folder=folder) in err and err.count("\n") == 1


def test_the_command_line_refuses_a_bad_option_in_one_line(single):
    proc = subprocess.run([sys.executable, "-m", "runner.evaluate", str(single), "episodes=0"], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert (proc.returncode, proc.stderr) == (2, "error: episodes must be a positive integer, got '0'\n")

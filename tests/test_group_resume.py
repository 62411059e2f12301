"""A group killed half-way, even between two members' checkpoints, or stopped by SIGTERM, and started again ends with
every member exactly where the uninterrupted group ends (CPU): its checkpoints stand mid-episode, so this also
checks that each member's episode is rebuilt exactly."""

from __future__ import annotations

import os
import signal
import time

import pytest
import torch

from tests.helpers import TINY, folder_for, read_csv, run_cli, start
from tests.test_resume import wait_for

SEEDS = [0, 1, 2]
ARGS = [*TINY, "total_steps=1500", "warmup_steps=300", "eval_every=500", "log_every=200", "sac.batch_size=64",
        "checkpoint_every=500", "seeds=[0,1,2]", "logger=disabled"]


def folders(run_root, name: str) -> list:
    label = folder_for(*ARGS, f"experiment_name={name}", run_root=run_root).parent
    return [label / f"seed{seed}" for seed in SEEDS]


def step_of(path) -> int:
    return torch.load(path, weights_only=True)["counters"]["step"]


@pytest.fixture(scope="module")
def straight(tmp_path_factory) -> list[list[dict]]:
    """Each member's eval.csv of the uninterrupted group."""
    root = tmp_path_factory.mktemp("straight") / "runs"
    run_cli(*ARGS, "experiment_name=straight", run_root=root)
    return [read_csv(folder / "eval.csv") for folder in folders(root, "straight")]


def test_killed_between_members_checkpoints_resumes_every_member_exactly(run_root, straight):
    members = folders(run_root, "killed")
    proc = start(run_root, *ARGS, "experiment_name=killed")
    deadline = time.time() + 300
    while not (members[-1] / "checkpoint.prev.pt").exists():  # the second round of checkpoints is written
        assert proc.poll() is None and time.time() < deadline, "no second checkpoint"
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    step = step_of(members[0] / "checkpoint.pt")
    assert step == 1000  # killed before the end
    # As if the kill had come after member 0's newest checkpoint and before the others': they lose theirs.
    for folder in members[1:]:
        os.replace(folder / "checkpoint.prev.pt", folder / "checkpoint.pt")
    behind = step_of(members[1] / "checkpoint.pt")
    assert behind < step

    out = run_cli(*ARGS, "experiment_name=killed", run_root=run_root).stdout
    assert f"resumed from step {behind}" in out
    for folder, expected in zip(members, straight):
        assert read_csv(folder / "eval.csv") == expected, folder.name


def test_sigterm_checkpoints_every_member_and_the_group_resumes_exactly(run_root, straight):
    members = folders(run_root, "stopped")
    proc = start(run_root, *ARGS, "experiment_name=stopped")
    wait_for(proc, members[0] / "train.csv", "a train row")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    step = step_of(members[0] / "checkpoint.pt")
    assert [step_of(folder / "checkpoint.pt") for folder in members] == [step] * len(SEEDS)
    line = (f"stopped: SIGTERM at step {step} of 1500: checkpoints saved in {', '.join(map(str, members))}; the "
            "same command resumes from them")
    assert err.strip().splitlines() == ["SIGTERM: stopping at the next safe point (after this step) with a "
                                        "checkpoint; a second Ctrl-C (or SIGTERM) stops at once", line]
    assert f"resumed from step {step}" in run_cli(*ARGS, "experiment_name=stopped", run_root=run_root).stdout
    for folder, expected in zip(members, straight):
        assert read_csv(folder / "eval.csv") == expected, folder.name

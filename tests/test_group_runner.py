"""`seeds=[...]` through the real CLI: one folder per seed, each as a single run writes it; a member trains as the
single-seed run of its seed does; bad `seeds` cost one line; a single-seed command does not take over a member."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import yaml

from tests.helpers import REPO, TINY, read_csv, replay_rows, run_folder, snapshot, train_in_process

SEEDS = [0, 1, 2]
# Fewer and smaller updates than TINY: three members train in the time of one TINY run.
ARGS = [*TINY, "total_steps=1200", "warmup_steps=300", "eval_every=600", "log_every=200", "sac.batch_size=64",
        "checkpoint_every=500"]
GROUP = [*ARGS, "seeds=[0,1,2]", "experiment_name=group", "logger=offline"]
SINGLE = [*ARGS, "seed=1", "experiment_name=single", "logger=disabled"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The group and the single-seed run of seed 1, side by side (one core each); returns the run root and the
    group's stdout."""
    root = tmp_path_factory.mktemp("group") / "runs"
    procs = [subprocess.Popen([sys.executable, "-m", "runner", *args, f"run_root={root}"], cwd=REPO, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for args in (GROUP, SINGLE)]
    outputs = [proc.communicate(timeout=600)[0] for proc in procs]
    for proc, output in zip(procs, outputs):
        assert proc.returncode == 0, output[-3000:]
    return root, outputs[0]


def test_each_seed_has_the_folder_a_single_run_of_it_has(runs):
    root, stdout = runs
    ids = set()
    for seed in SEEDS:
        folder = run_folder(root, "group", seed=seed)
        assert f"seed {seed}, last eval return" in stdout and str(folder) in stdout
        assert yaml.safe_load((folder / "identity.yaml").read_text())["seed"] == seed
        config = yaml.safe_load((folder / "config.yaml").read_text())
        assert config["seed"] == seed and config["seeds"] == SEEDS
        assert [row["step"] for row in read_csv(folder / "eval.csv")] == ["600", "1200"]
        train = read_csv(folder / "train.csv")
        assert [row["updates"] for row in train] == ["200", "400", "600", "800"]
        # the evaluation at step 600 and the checkpoints at steps 500 and 1000 in the rows after them (steps 700,
        # 1100); each member's row holds the group's time
        assert [float(row["time/eval_s"]) > 0 for row in train] == [False, True, False, False]
        assert [float(row["time/checkpoint_s"]) > 0 for row in train] == [False, True, False, True]
        state = torch.load(folder / "checkpoint.pt", weights_only=True)
        assert state["counters"]["step"] == 1200 and state["buffer"]["size"] == 1200
        assert list(folder.glob("wandb/offline-run-*"))
        ids.add((folder / "wandb_id.txt").read_text())
    assert len(ids) == len(SEEDS)  # one W&B run per member
    # the label (and so the folder) is the one a single run of these settings gets, seeds aside
    assert run_folder(root, "group", seed=1).parent.name == run_folder(root, "single", seed=1).parent.name


def test_a_member_trains_as_the_single_run_of_its_seed(runs):
    """Member 1 of the group against the single-seed run of seed 1: the same warm-up transitions bit for bit
    (same env seed, warm-up actions, episodes), then the same first 200 updates to float tolerance (same initial
    networks, batches and noise; a gradient scaled by 1 / G or another member's data would differ at once).

    Not equal for the whole run: the group's batched matmul sums in another order than nn.Linear's, a
    difference in the last bits that the env, fed the actions, amplifies; by the 400th update the losses differ
    in the third digit and the eval returns by a step or two. On a CUDA GPU (`device=auto` takes it) the batched
    and the single kernels round apart by more, so the first 200 updates are held to 1e-2 there, 1e-4 on a CPU.
    """
    root, _ = runs
    member, single = run_folder(root, "group", seed=1), run_folder(root, "single", seed=1)
    ours, theirs = (replay_rows(folder) for folder in (member, single))
    assert torch.equal(ours[:300], theirs[:300])  # every field: [obs | action | reward | next_obs | terminated]
    first, expected = read_csv(member / "train.csv")[0], read_csv(single / "train.csv")[0]
    rel = 1e-2 if torch.cuda.is_available() else 1e-4
    for key in ("train/critic_loss", "train/q_mean", "train/actor_loss", "train/entropy"):
        assert float(first[key]) == pytest.approx(float(expected[key]), rel=rel), key


def test_a_single_seed_command_does_not_take_over_a_member_folder(runs):
    """A member's checkpoint stands mid-episode, where a single run cannot resume exactly: only its group does."""
    root, _ = runs
    before = snapshot(root)
    code, line = train_in_process(*ARGS, "seed=1", "experiment_name=group", "logger=disabled", run_root=root)
    assert code == 2 and "holds a run with a different config (seeds differ)" in line, line
    assert snapshot(root) == before


@pytest.mark.parametrize("value", ["[]", "[1,1]", "[0,-1]", "3", "[a]", "[0.5]", "[[0]]"])
def test_bad_seeds_cost_one_line_and_no_folder(run_root, value):
    code, line = train_in_process(*ARGS, f"seeds={value}", run_root=run_root)
    assert code == 2 and line.startswith("error: seeds must be null or a list of distinct non-negative integers")
    assert "\n" not in line and not run_root.exists()

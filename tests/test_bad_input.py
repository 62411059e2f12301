"""Bad input and damaged run folders cost one clear line and a non-zero exit, and nothing on disk changes."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest
import torch

from runner.validate import _diff_keys
from tests.helpers import (
    TINY,
    copied,
    folder_for,
    read_csv,
    run_cli,
    run_folder,
    snapshot,
    train_in_process,
    trained_root,
)

QUIET = [*TINY, "logger=disabled"]

# Each refused before anything is built or written: (overrides, the line's distinctive part).
BAD_INPUTS = [
    (["total_steps=0"], "total_steps must be a positive integer, got 0"),
    (["eval_every=-5"], "eval_every must be a positive integer, got -5"),
    (["total_steps=abc"], "total_steps must be a positive integer, got 'abc'"),
    (["total_steps=2.5"], "total_steps must be a positive integer, got 2.5"),
    (["warmup_steps=5000"], "warmup_steps (5000) must be below total_steps (2000)"),
    (["sac.lr=-1"], "sac.lr must be a number > 0, got -1"),
    (["sac.gamma=1.5"], "sac.gamma must be a number in (0, 1): at 1 the bootstrapped target of a time-limited "
                        "episode has no bound, got 1.5"),
    (["sac.gamma=1.0"], "sac.gamma must be a number in (0, 1): at 1 the bootstrapped target"),
    (["sac.tau=2"], "sac.tau must be a number in (0, 1], got 2"),
    (["sac.alpha=0"], "sac.alpha must be a number > 0, got 0"),
    (["seed=-1"], "seed must be a non-negative integer below 2**63, got -1"),
    (["sac.batch_size=5000", "total_steps=3000"], "sac.batch_size (5000) is more than the replay buffer ever holds"),
    (["sac.batch_size=300", "buffer_size=200"], "sac.batch_size (300) is more than the replay buffer ever holds"),
    (["diagnostics.num_samples=1"], "diagnostics.num_samples must be an integer >= 2, got 1"),
    (["diagnostics.num_samples=3"], "diagnostics.num_samples (3) must be more than diagnostics.knn_k (3)"),
    (["diagnostics.num_states=0"], "diagnostics.num_states must be a positive integer, got 0"),
    (["diagnostics.num_states=5000"], "diagnostics.num_states (5000) is more than the replay buffer ever holds (2000 "
                                      "transitions"),
    (["device=mps"], "device must be auto, cpu, cuda or cuda:N, got 'mps'"),
    (["buffer_size=1e13", "total_steps=1e13"], "the replay buffer of 10000000000000 transitions needs"),
    (["experiment_name=../../../escape"], "experiment_name must be a single folder name"),
    (["experiment_name=a/b"], "experiment_name must be a single folder name"),
    (["env.name=.."], "env.name must be a single folder name"),
    (["experiment_name=nan"], "experiment_name must be a single folder name: letters, digits, '.', '_', '-', not "
                              "starting with '.' or '-', got nan, which is not text (quote it"),
    (["resume=maybe"], "resume must be true or false, got 'maybe'"),
    (["+sac.momentum=0.9"], "sac.momentum is not a config key"),
    (["algo.policy.hidden_dim=0"], "algo.policy.hidden_dim must be a positive integer, got 0"),
    (["sac.target_squash_floor=-1e-7"], "sac.target_squash_floor must be a number >= 0, got -1e-07"),
    (["sac.critic_update=alternate"], "sac.critic_update must be one of joint, sequential"),
    (["sac.critic.activation=gelu"], "sac.critic.activation must be one of elu, relu, silu, softplus, tanh"),
    (["algo.policy.log_std_min=3"], "algo.policy.log_std_min (3.0) must be below algo.policy.log_std_max"),
    (["logger.mode=bogus"], "logger.mode must be one of offline, online, disabled, got 'bogus'"),
    (["algo=sac_ar_dae", "entropy=exact"], "entropy=exact does not fit algo=sac_ar_dae"),
]


@pytest.mark.parametrize("overrides, message", BAD_INPUTS, ids=[" ".join(o) for o, _ in BAD_INPUTS])
def test_bad_input_is_refused_before_anything_is_written(tmp_path, overrides, message):
    run_root = tmp_path / "a" / "b" / "runs"
    code, line = train_in_process(*QUIET, *overrides, run_root=run_root)
    assert code == 2 and message in line and "\n" not in line, line
    assert not list(tmp_path.iterdir())  # no folder and no file, anywhere


# Through the real command: the exit code and the printed line, and Hydra's own refusals of unknown choices.
CLI_REFUSALS = [
    (["env=atari_pong"], 2, "error: env=atari_pong is not an option of env; the options are ant, halfcheetah"),
    (["algo=sac_discrete"], 2, "error: algo=sac_discrete is not an option of algo; the options are sac_ar_dae"),
    (["sac.lr=-1"], 2, "error: sac.lr must be a number > 0, got -1"),
    (["experiment_name=../../../escape"], 2, "error: experiment_name must be a single folder name"),
]


@pytest.mark.parametrize("overrides, code, message", CLI_REFUSALS, ids=[o[0] for o, _, _ in CLI_REFUSALS])
def test_cli_refuses_in_one_line(tmp_path, overrides, code, message):
    proc = run_cli(*QUIET, *overrides, run_root=tmp_path / "a" / "b" / "runs", check=False)
    assert proc.returncode == code and message in proc.stderr and "Traceback" not in proc.stderr
    if code == 2:
        assert proc.stderr.strip() == proc.stderr.strip().splitlines()[0]
    assert not list(tmp_path.iterdir())


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_cuda_without_gpu_is_refused(run_root):
    code, line = train_in_process(*QUIET, "device=cuda", run_root=run_root)
    assert code == 2 and "error: device=cuda was asked for but no CUDA GPU is visible" in line
    assert not run_root.exists()


# --- damaged or used run folders ----------------------------------------------------------------------------
BASE = [*QUIET, "total_steps=1e3", "eval_every=500", "checkpoint_every=300", "experiment_name=base"]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """A finished 1000-step run (written `1e3`, a whole number) with its two checkpoints, copied by each test."""
    return trained_root(tmp_path_factory, *BASE)


@pytest.fixture
def used_root(finished_run, tmp_path) -> Path:
    return copied(finished_run, tmp_path)


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


DAMAGE = {
    "no checkpoint": lambda d: [p.unlink() for p in d.glob("checkpoint*.pt")],
    "truncated": lambda d: [_truncate(p) for p in d.glob("checkpoint*.pt")],
    "random bytes": lambda d: [p.write_bytes(random.Random(0).randbytes(4096)) for p in d.glob("checkpoint*.pt")],
    "empty": lambda d: [p.write_bytes(b"") for p in d.glob("checkpoint*.pt")],
    "garbage line": lambda d: (d / "eval.csv").write_text((d / "eval.csv").read_text() + "garbage\n"),
    # a default in conf/ changed since the run began: the same label, another config
    "config changed": lambda d: (d / "config.yaml").write_text(
        (d / "config.yaml").read_text().replace("lr: 0.0003", "lr: 0.001")),
    "untouched": lambda d: None,
}

FOLDER_FAULTS = [  # (damage, overrides, the line's distinctive part)
    ("no checkpoint", [], "holds 2 eval and 2 train rows but no checkpoint, so it cannot continue: restart=true"),
    ("truncated", [], "can be read: checkpoint.pt (RuntimeError: damaged or not a checkpoint); checkpoint.prev.pt"),
    ("random bytes", [], "damaged or not a checkpoint); checkpoint.prev.pt ("),
    ("empty", [], "can be read: checkpoint.pt (empty file); checkpoint.prev.pt (empty file). restart=true starts"),
    ("garbage line", [], "eval.csv line 4 is not a row of this file"),
    ("untouched", ["resume=false"], "already holds a run (2 eval and 2 train rows); resume=true continues it"),
    ("config changed", [], "holds a run with a different config (sac.lr differ)"),
]


@pytest.mark.parametrize("damage, overrides, message", FOLDER_FAULTS,
                         ids=[f"{d} {' '.join(o)}" for d, o, _ in FOLDER_FAULTS])
def test_damaged_or_used_folder_is_refused_and_left_as_it_was(used_root, damage, overrides, message):
    folder = run_folder(used_root, "base")
    DAMAGE[damage](folder)
    before = snapshot(used_root)
    code, line = train_in_process(*BASE, *overrides, run_root=used_root)
    assert code == 2 and message in line and "\n" not in line, line
    assert snapshot(used_root) == before  # .hydra/, the CSV files and the checkpoints included


def test_run_begun_before_a_null_default_key_existed_resumes(used_root):
    folder = run_folder(used_root, "base")
    saved = folder / "config.yaml"
    saved.write_text("".join(line for line in saved.read_text().splitlines(keepends=True)
                             if not line.startswith("seeds:")))
    assert "seeds" not in saved.read_text()
    assert train_in_process(*BASE, run_root=used_root) == (0, "")
    saved.write_text(saved.read_text() + "seeds:\n- 0\n")  # a real difference still counts
    code, line = train_in_process(*BASE, run_root=used_root)
    assert code == 2 and "holds a run with a different config (seeds differ)" in line, line


def test_run_begun_before_keys_that_keep_its_training_existed_resumes(used_root):
    folder = run_folder(used_root, "base")
    saved = folder / "config.yaml"
    added = ("precision:", "  critic_update:", "  target_squash_floor:")
    saved.write_text("".join(line for line in saved.read_text().splitlines(keepends=True)
                             if not line.startswith(added)))
    assert "precision" not in saved.read_text() and "critic_update" not in saved.read_text()
    assert train_in_process(*BASE, run_root=used_root) == (0, "")
    # the same keys at values that train differently are differences
    assert sorted(_diff_keys({"sac": {}}, {"precision": "bf16", "sac": {"critic_update": "sequential",
                                                                       "target_squash_floor": 1e-7}})) == [
        "precision", "sac.critic_update", "sac.target_squash_floor"]
    assert _diff_keys({"sac": {}}, {"precision": "fp32", "sac": {"critic_update": "joint"}}) == []
    # a paper preset run begun before its AR-DAE centring key existed trained uncentred
    assert _diff_keys({}, {"ar_dae_center_score": False}) == []
    assert _diff_keys({}, {"ar_dae_center_score": True}) == ["ar_dae_center_score"]


def test_run_begun_before_the_knn_method_and_warmup_range_resumes_under_other_diagnostics(used_root):
    saved = run_folder(used_root, "base") / "config.yaml"
    text = saved.read_text()
    assert "  knn_method: local_min\n" in text and "  warmup_action_range: 1.0\n" in text
    old = text.replace("  knn_method: local_min\n", "").replace("  warmup_action_range: 1.0\n", "")
    saved.write_text(old.replace("  num_states: 32\n", "  num_states: 64\n").replace("  knn_k: 3\n", "  knn_k: 5\n"))
    assert train_in_process(*BASE, run_root=used_root) == (0, "")
    # a Humanoid paper-preset run begun before the key: its carrier is no difference, the range it sets is
    preset = {"humanoid_warmup_action_range": 0.4}
    assert _diff_keys({"env": {}}, {**preset, "env": {"warmup_action_range": 1.0}}) == []
    assert _diff_keys({"env": {}}, {**preset, "env": {"warmup_action_range": 0.4}}) == ["env.warmup_action_range"]


def test_corrupt_latest_checkpoint_falls_back_to_the_previous(used_root, capsys):
    folder = run_folder(used_root, "base")
    finished = read_csv(folder / "eval.csv")
    previous_step = torch.load(folder / "checkpoint.prev.pt", weights_only=True)["counters"]["step"]
    _truncate(folder / "checkpoint.pt")
    assert train_in_process(*BASE, run_root=used_root) == (0, "")
    err = capsys.readouterr().err
    assert "checkpoint.pt (RuntimeError: damaged or not a checkpoint) cannot be read" in err
    assert f"resuming from checkpoint.prev.pt (step {previous_step})" in err
    assert read_csv(folder / "eval.csv") == finished  # the replay from the previous checkpoint is exact


def test_restart_moves_the_old_files_aside(used_root):
    folder = run_folder(used_root, "base")
    DAMAGE["no checkpoint"](folder)
    old = snapshot(folder)
    assert train_in_process(*BASE, "restart=true", run_root=used_root) == (0, "")
    assert snapshot(folder / ".previous" / "0") == old
    assert [r["step"] for r in read_csv(folder / "eval.csv")] == ["500", "1000"]


def test_whole_number_written_as_float_is_an_integer(finished_run):
    folder = run_folder(finished_run, "base")
    assert torch.load(folder / "checkpoint.pt", weights_only=True)["counters"]["step"] == 1000
    assert "total_steps: 1000\n" in (folder / "config.yaml").read_text()


# --- W&B is a mirror: its failures never end a run -----------------------------------------------------------
WANDB_FAULTS = {
    "wandb/ is a file": lambda d: (d / "wandb").write_text("not a folder"),
    "malformed wandb_id.txt": lambda d: (d / "wandb_id.txt").write_text("no/t an id\n"),
}


@pytest.mark.parametrize("fault", list(WANDB_FAULTS))
def test_wandb_failure_warns_once_and_the_run_goes_on(run_root, capsys, fault):
    overrides = [*TINY, "total_steps=1000", "eval_every=500", "experiment_name=wb", "logger=offline"]
    folder = folder_for(*overrides, run_root=run_root)
    folder.mkdir(parents=True)
    WANDB_FAULTS[fault](folder)
    before = snapshot(folder)
    assert train_in_process(*overrides, run_root=run_root) == (0, "")
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("warning: W&B is off (") and "Traceback" not in lines[0], lines
    assert [r["step"] for r in read_csv(folder / "eval.csv")] == ["500", "1000"]
    assert {k: v for k, v in snapshot(folder).items() if k in before} == before


# --- divergence ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("checkpoint_every, kept", [(100, "the checkpoint of step"),
                                                    (100000, "no checkpoint was written before it")])
def test_diverging_run_says_what_it_kept_and_writes_no_nonfinite_row(run_root, checkpoint_every, kept):
    # An absurd learning rate makes the weights overflow on the first updates.
    code, line = train_in_process(*QUIET, "sac.lr=1e38", "log_every=5", f"checkpoint_every={checkpoint_every}",
                                  "experiment_name=diverge", run_root=run_root)
    assert code == 2 and line.startswith("error: non-finite values at step") and kept in line, line
    folder = run_folder(run_root, "diverge")
    for name in ("eval.csv", "train.csv"):
        for row in read_csv(folder / name):
            assert all(math.isfinite(float(v)) for k, v in row.items() if k != "eval_mode"), row
    if checkpoint_every == 100:
        state = torch.load(folder / "checkpoint.pt", weights_only=True)
        assert f"the checkpoint of step {state['counters']['step']} is kept" in line
        assert all(torch.isfinite(p).all() for p in state["agent"]["modules"]["critic"].values())
    else:
        assert not list(folder.glob("checkpoint*"))

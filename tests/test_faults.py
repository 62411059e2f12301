"""Faults a new user meets: starts that race for a folder, run roots that cannot hold runs, checkpoints of another
configuration, finished runs started again, diverging runs, files written outside the run folder."""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from runner.errors import RunError
from runner.lock import LOCK_FILE, run_folder_lock
from tests.helpers import REPO, TINY, child_env, composed_job, folder_for, run_cli, snapshot, start, train_in_process

QUIET = [*TINY, "logger=disabled"]


# --- one owner per run folder ---------------------------------------------------------------------------------
def test_a_start_refused_at_the_lock_removes_nothing_of_the_owner(tmp_path, monkeypatch):
    """B creates the folder, A takes the lock before B tries it, B is refused: B's cleanup must leave A's folder
    and lock alone, and a third start is refused while A holds it."""
    run_dir = tmp_path / "runs" / "exp" / "task" / "algo" / "seed0"
    owner = ExitStack()
    real_flock = fcntl.flock
    calls = []

    def flock_after_a(fd, operation):
        calls.append(fd)
        if len(calls) == 1:  # B's attempt: A gets in first, between B's mkdir and B's flock
            assert run_dir.is_dir()
            owner.enter_context(run_folder_lock(run_dir))
        return real_flock(fd, operation)

    monkeypatch.setattr(fcntl, "flock", flock_after_a)
    with pytest.raises(RunError, match="is in use by pid"):
        with run_folder_lock(run_dir):
            pytest.fail("B must not get the folder")
    monkeypatch.setattr(fcntl, "flock", real_flock)
    with owner:
        assert run_dir.is_dir() and (run_dir / LOCK_FILE).is_file()
        assert f"pid {os.getpid()}" in (run_dir / LOCK_FILE).read_text()
        with pytest.raises(RunError, match="is in use by pid"):
            with run_folder_lock(run_dir):
                pytest.fail("a third start must not get the folder while A holds it")
    assert run_dir.is_dir() and (run_dir / LOCK_FILE).is_file()  # A ended well: its folder stays


def test_the_owner_refused_inside_removes_the_folders_it_created(tmp_path):
    run_dir = tmp_path / "runs" / "a" / "seed0"
    with pytest.raises(RunError):
        with run_folder_lock(run_dir):
            raise RunError("bad input found after the lock")
    assert list(tmp_path.iterdir()) == []


def test_a_lock_file_unlinked_under_a_waiting_start_is_taken_again(tmp_path, monkeypatch):
    """A start that opened `.lock` just before its previous owner removed it must not own the unlinked file."""
    run_dir = tmp_path / "runs" / "seed0"
    real_flock = fcntl.flock

    def owner_leaves_first(fd, operation):
        if not hasattr(owner_leaves_first, "done"):
            owner_leaves_first.done = True
            os.unlink(run_dir / LOCK_FILE)  # what a refused owner's cleanup does, while this start holds an fd
        return real_flock(fd, operation)

    monkeypatch.setattr(fcntl, "flock", owner_leaves_first)
    with run_folder_lock(run_dir):
        monkeypatch.setattr(fcntl, "flock", real_flock)
        assert (run_dir / LOCK_FILE).is_file()
        with pytest.raises(RunError, match="is in use"):
            with run_folder_lock(run_dir):
                pass


# --- run_root that cannot hold runs ---------------------------------------------------------------------------
def _not_writable(tmp_path: Path) -> Path:
    if os.geteuid() == 0:
        return Path("/sys/not-a-run-root")  # root writes through file modes; sysfs refuses new folders
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    return folder / "runs"


@pytest.mark.parametrize("where", ["a file", "below a file", "not writable"])
def test_run_root_that_cannot_hold_runs_is_refused_in_one_line(tmp_path, where):
    blocker = tmp_path / "file"
    blocker.write_text("a file")
    run_root = {"a file": blocker, "below a file": blocker / "runs", "not writable": _not_writable(tmp_path)}[where]
    code, line = train_in_process(*QUIET, run_root=run_root)
    assert code == 2 and line.startswith("error: cannot create the run folder") and "\n" not in line, line
    assert "run_root must name a folder this user can write to" in line
    assert blocker.read_text() == "a file"


def test_run_root_with_a_tilde_is_the_home_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    from runner.__main__ import train

    with composed_job(*QUIET, "total_steps=600", "warmup_steps=300", "eval_every=600", "run_root='~/x'") as cfg:
        folder, _ = train(cfg)
    assert folder.is_relative_to(tmp_path / "home" / "x") and (folder / "eval.csv").exists()
    assert not (tmp_path / "~").exists()


# --- checkpoints: another configuration's, and a run already finished ------------------------------------------
SHORT = [*QUIET, "warmup_steps=300", "eval_every=300", "checkpoint_every=300"]


def test_checkpoint_of_another_configuration_is_refused_in_one_line(run_root):
    nf = [*SHORT, "algo=sac_nf", "total_steps=600", "experiment_name=nf"]
    gaussian = [*SHORT, "total_steps=900", "experiment_name=gauss"]
    assert train_in_process(*nf, run_root=run_root) == (0, "")
    assert train_in_process(*gaussian, run_root=run_root) == (0, "")
    folder = folder_for(*gaussian, run_root=run_root)
    for name in ("checkpoint.pt", "checkpoint.prev.pt"):
        shutil.copyfile(folder_for(*nf, run_root=run_root) / name, folder / name)
    before = snapshot(folder)
    code, line = train_in_process(*gaussian, run_root=run_root)
    assert code == 2 and "\n" not in line, line
    assert line.startswith(f"error: {folder / 'checkpoint.pt'} is a checkpoint of another configuration: "), line
    assert "parameter(s)" in line and "restart=true starts over" in line
    assert snapshot(folder) == before


def test_finished_sweep_job_is_reported_as_already_finished_and_left_untouched(run_root, capsys):
    from runner.__main__ import sweep_job

    args = [*SHORT, "total_steps=600", "experiment_name=sweep_again"]
    with composed_job(*args, f"run_root={run_root}") as cfg:
        assert sweep_job(cfg).status == "finished"
    before = snapshot(run_root)
    capsys.readouterr()
    with composed_job(*args, f"run_root={run_root}") as cfg:
        outcome = sweep_job(cfg)
    assert outcome.status == "already finished"
    assert "already holds all 600 steps; nothing was changed" in capsys.readouterr().out
    assert snapshot(run_root) == before


def test_finished_group_started_again_changes_nothing(run_root, capsys):
    args = [*SHORT, "total_steps=600", "seeds=[0,1]", "experiment_name=group_again"]
    assert train_in_process(*args, run_root=run_root) == (0, "")
    before = snapshot(run_root)
    capsys.readouterr()
    assert train_in_process(*args, run_root=run_root) == (0, "")
    assert capsys.readouterr().out.startswith("finished: every seed folder of ")
    assert snapshot(run_root) == before


# --- divergence: NaN actions never reach MuJoCo --------------------------------------------------------------
DIVERGING = [*QUIET, "sac.lr=1e6", "log_every=100000", "checkpoint_every=100000", "total_steps=3000",
             "warmup_steps=300", "eval_every=3000", "experiment_name=diverging"]


def test_nan_actions_stop_the_run_at_once_and_count_as_failed_in_a_sweep(run_root, tmp_path, monkeypatch, capsys):
    from runner.__main__ import sweep_job

    monkeypatch.chdir(tmp_path)
    code, line = train_in_process(*DIVERGING, run_root=run_root)
    assert code == 2 and "(actions); stopping" in line and "\n" not in line, line
    step = int(line.split("non-finite values at step ")[1].split()[0])
    assert step < 1000, line  # long before the evaluation at 3000 would notice
    assert not (tmp_path / "MUJOCO_LOG.TXT").exists()
    assert "WARNING" not in capsys.readouterr().out
    with composed_job(*DIVERGING, "restart=true", f"run_root={run_root}") as cfg:
        outcome = sweep_job(cfg)
    assert outcome.status == "failed" and "(actions)" in outcome.message


def test_nan_actions_stop_a_group_naming_the_member(run_root):
    code, line = train_in_process(*DIVERGING, "seeds=[0,1]", run_root=run_root)
    assert code == 2 and "in " in line and "(actions); stopping the group of 2 seeds" in line, line
    assert int(line.split("non-finite values at step ")[1].split()[0]) < 1000, line


# --- files outside the run folder ------------------------------------------------------------------------------
def test_mujoco_warnings_go_to_the_run_folder(tmp_path, monkeypatch, capsys):
    from runner.host import MUJOCO_LOG, mujoco_log_in

    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "run"
    folder.mkdir()
    env = gym.make("InvertedPendulum-v5")
    env.reset(seed=0)
    with mujoco_log_in(folder):
        for _ in range(3):
            env.unwrapped.data.qvel[:] = np.nan  # an unstable simulation: MuJoCo warns and resets
            env.step(np.zeros(1, dtype=np.float32))
    env.close()
    assert not (tmp_path / MUJOCO_LOG).exists()
    assert "WARNING: Nan, Inf or huge value" in (folder / MUJOCO_LOG).read_text()
    err = capsys.readouterr().err
    assert err.count("warning: MuJoCo:") == 1 and str(folder / MUJOCO_LOG) in err


def test_wandb_writes_nothing_in_home_or_the_temporary_folder(tmp_path, monkeypatch):
    home, temp = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    temp.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("TMPDIR", str(temp))
    for name in ("XDG_CACHE_HOME", "WANDB_CACHE_DIR", "WANDB_DIR", "WANDB_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    run_root = tmp_path / "runs"
    run_cli(*TINY, "total_steps=600", "warmup_steps=300", "eval_every=600", "logger=offline",
            "experiment_name=wb_files", run_root=run_root)
    assert list(home.rglob("*")) == [] and list(temp.rglob("*")) == []
    assert list((run_root / "wb_files" / ".wandb").rglob("core-debug-*.log"))  # the experiment's (sweep's) folder


# --- W&B: say at once that an online start waits, and warn in full ------------------------------------------------
def _sink(run_dir: Path, mode: str):
    from runner.sinks import WandbSink

    return WandbSink(run_dir, {}, mode=mode, project="p", entity=None, group="g", job_type="j", name="n", tags=[])


def test_online_start_says_it_is_waiting_and_bounds_the_wait(tmp_path, monkeypatch, capsys):
    import wandb

    seen = {}

    def no_network(**kwargs):
        seen["timeout"] = kwargs["settings"].init_timeout
        seen["said"] = capsys.readouterr().err
        raise TimeoutError("no answer from the server")

    monkeypatch.setattr(wandb, "init", no_network)
    sink = _sink(tmp_path, "online")
    sink.open([])
    assert seen["said"].startswith("W&B: connecting to the server, up to 30 s") and seen["timeout"] == 30
    assert "warning: W&B is off (TimeoutError: no answer from the server)" in capsys.readouterr().err


def test_malformed_wandb_id_warning_is_whole(tmp_path, capsys):
    run_dir = tmp_path / ("long-" * 30) / "seed0"
    run_dir.mkdir(parents=True)
    (run_dir / "wandb_id.txt").write_text("no/t an id\n")
    _sink(run_dir, "offline").open([])
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].endswith("delete it to start a new W&B run); eval.csv and train.csv go on")
    assert str(run_dir / "wandb_id.txt") in lines[0]


# --- the command line ------------------------------------------------------------------------------------------
def test_slurm_launcher_without_slurm_is_one_line(tmp_path):
    no_slurm = tmp_path / "bin"  # a PATH without sbatch and srun, also where this machine has SLURM installed
    no_slurm.mkdir()
    proc = subprocess.run([sys.executable, "-m", "runner", "-m", *QUIET, "hydra/launcher=slurm",
                           f"run_root={tmp_path / 'runs'}"], cwd=REPO, env=child_env(PATH=str(no_slurm)),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.strip() == ("error: hydra/launcher=slurm needs SLURM, but no sbatch or srun was found on "
                                   "PATH; run on a SLURM login node, or drop hydra/launcher=slurm (or use "
                                   "hydra/launcher=local) to run here")


def test_ctrl_c_while_loading_is_one_line(tmp_path):
    proc = start(tmp_path / "runs", *QUIET)
    time.sleep(0.3)  # inside `import torch`, which takes seconds
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert err.strip().startswith("stopped: SIGINT") and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()


def test_make_run_passes_args_and_the_quickstart_checkpoints_early():
    make = shutil.which("make")
    if make is None:
        pytest.skip("no make here")
    dry = subprocess.run([make, "-n", "run", "ARGS=seed=3 restart=true"], cwd=REPO, capture_output=True, text=True,
                         timeout=60)
    assert "-m runner experiment=quickstart seed=3 restart=true" in dry.stdout, dry.stdout
    with composed_job("experiment=quickstart") as cfg:
        assert cfg.checkpoint_every <= cfg.total_steps // 10

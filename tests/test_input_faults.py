"""Bad input that used to end in a traceback or in silence: runner.evaluate's device and foreign configs, Hydra's
own errors, a SLURM launcher without -m, a foreign checkpoint past total_steps, the scripts' numbers, an over-long
run_root; and a stop request, acknowledged at once and, where the episode's end is far, taken inside it."""

from __future__ import annotations

import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from runner.digest import DIGEST_KEY, with_digest
from tests.helpers import REPO, TINY, child_env, folder_for, read_csv, run_cli, start, train_in_process

QUIET = [*TINY, "logger=disabled"]
SHORT = [*QUIET, "total_steps=600", "warmup_steps=300", "eval_every=300", "checkpoint_every=300", "eval_episodes=3"]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("evaluate") / "runs"
    assert train_in_process(*SHORT, "experiment_name=ev", run_root=root) == (0, "")
    return folder_for(*SHORT, "experiment_name=ev", run_root=root)


# --- 4. runner.evaluate's bad input ------------------------------------------------------------------------------
@pytest.mark.parametrize("device", ["bogus", "mps"])
def test_evaluate_refuses_an_unknown_or_unavailable_device_in_one_line(run, device, capsys):
    from runner.evaluate import main

    assert main([str(run), f"device={device}"]) == 2
    assert capsys.readouterr().err == f"error: device must be auto, cpu, cuda or cuda:N, got '{device}'\n"


def test_evaluate_refuses_a_foreign_config_in_one_line(tmp_path, capsys):
    from runner.evaluate import main

    (tmp_path / "config.yaml").write_text("a: 1\n")
    assert main([str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {tmp_path / 'config.yaml'} is not the config of a run of this runner (no env.id")
    assert err.count("\n") == 1


# --- 8. runner.evaluate: the run's own episodes, MuJoCo's log in the run folder ----------------------------------
def test_evaluate_plays_the_runs_own_number_of_episodes(run):
    from runner.evaluate import Options, evaluate

    assert len(evaluate(Options(run, video=False)).returns) == 3


def test_evaluate_keeps_mujocos_log_out_of_the_current_directory(run, tmp_path, monkeypatch):
    """NaN weights make NaN actions, which MuJoCo warns about (evaluation does not stop on them)."""
    from runner.evaluate import Options, evaluate

    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    for name in ("checkpoint.pt", "checkpoint.prev.pt"):
        state = torch.load(copy / name, weights_only=True)
        state.pop(DIGEST_KEY)
        for tensor in state["agent"]["modules"]["policy"].values():
            tensor.fill_(float("nan"))
        torch.save(with_digest(state), copy / name)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    evaluate(Options(copy, episodes=1, video=False))
    assert list(cwd.iterdir()) == []
    assert "WARNING" in (copy / "MUJOCO_LOG.TXT").read_text()


# --- 8. a foreign checkpoint is checked before a run is called finished ------------------------------------------
def test_a_foreign_checkpoint_past_total_steps_is_refused_not_finished(run_root):
    nf = [*SHORT, "algo=sac_nf", "total_steps=900", "experiment_name=nf"]
    gaussian = [*SHORT, "experiment_name=gauss"]
    assert train_in_process(*nf, run_root=run_root) == (0, "")
    assert train_in_process(*gaussian, run_root=run_root) == (0, "")
    folder = folder_for(*gaussian, run_root=run_root)
    for name in ("checkpoint.pt", "checkpoint.prev.pt"):
        shutil.copyfile(folder_for(*nf, run_root=run_root) / name, folder / name)
    shutil.copytree(folder_for(*nf, run_root=run_root) / "replay", folder / "replay", dirs_exist_ok=True)
    code, line = train_in_process(*gaussian, run_root=run_root)
    assert code == 2 and line.startswith(f"error: {folder / 'checkpoint.pt'} is a checkpoint of another "), line


# --- 8. the scripts' bad input and an over-long run_root -----------------------------------------------------
def test_time_budget_on_a_run_without_train_rows_is_one_line(tmp_path, capsys):
    from scripts import time_budget

    (tmp_path / "train.csv").write_text("")
    assert time_budget.main([str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path / 'train.csv'} has no rows with time/env_steps_per_s yet\n"


@pytest.mark.parametrize("flag, value, message", [
    ("--margin", "-1", "--margin must be a safety factor >= 1"),
    ("--margin", "nan", "--margin must be a safety factor >= 1"),
    ("--group", "-2", "--group must be a number of seeds a job"),
    ("--warmup", "-5", "--warmup must be a number of steps >= 0"),
])
def test_sweep_cost_refuses_meaningless_numbers_in_one_line(flag, value, message):
    proc = subprocess.run([sys.executable, "-m", "scripts.sweep_cost", "experiment=smoke", flag, value], cwd=REPO,
                          env=child_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and proc.stdout == "", proc.stdout
    assert proc.stderr.startswith(f"error: {message}") and proc.stderr.count("\n") == 1, proc.stderr


def test_a_run_root_longer_than_the_file_system_allows_is_one_line(tmp_path):
    code, line = train_in_process(*SHORT, run_root=tmp_path / ("x" * 300))
    assert code == 2 and "\n" not in line, line
    assert line.startswith("error: run_root and the run's labels make a folder name of 300 bytes")
    assert list(tmp_path.iterdir()) == []


# --- 6. Hydra's errors and the SLURM launcher without -m ------------------------------------------------------
@pytest.mark.parametrize("override, message", [
    ("totl_steps=100", "error: totl_steps is not a config key (did you mean total_steps"),
    ("sac.lrr=1", "error: sac.lrr is not a config key (did you mean sac.lr"),
    ("algo=sac_gausian", "error: algo=sac_gausian is not an option of algo (did you mean sac_gaussian?); the "
                         "options are sac_ar_dae, sac_ar_dae_no_jc, sac_flow_vi, sac_gaussian, sac_nf"),
])
def test_hydras_errors_are_one_line_with_the_closest_names(tmp_path, override, message):
    proc = run_cli(*QUIET, override, run_root=tmp_path / "runs", check=False)
    assert proc.returncode == 2 and proc.stderr.startswith(message), proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.strip().endswith("HYDRA_FULL_ERROR=1 shows Hydra's own "
                                                                          "message")
    full = subprocess.run([sys.executable, "-m", "runner", *QUIET, override, f"run_root={tmp_path / 'runs'}"],
                          cwd=REPO, env=child_env(HYDRA_FULL_ERROR="1"), capture_output=True, text=True, timeout=300)
    assert full.returncode == 1 and "Could not" in full.stderr  # Hydra's own message, with its traceback
    assert not (tmp_path / "runs").exists()


def test_slurm_launcher_without_multirun_says_it_trains_here(tmp_path):
    proc = run_cli(*QUIET, "total_steps=600", "warmup_steps=300", "eval_every=600", "hydra/launcher=slurm",
                   run_root=tmp_path / "runs")
    assert proc.stderr.startswith("note: hydra/launcher=slurm applies to multiruns only (python -m runner -m ...); "
                                  "this run trains here, in this process"), proc.stderr


# --- 5. a stop request is acknowledged at once ----------------------------------------------------------------
# HalfCheetah's episodes last 1000 steps and never end early: a stop waits for the end of the first one.
CHEETAH = [*QUIET, "env=halfcheetah", "total_steps=600", "warmup_steps=100", "log_every=50", "eval_every=600",
           "eval_episodes=1", "checkpoint_every=100000"]


def stderr_lines(proc: subprocess.Popen) -> queue.Queue:
    """The child's stderr lines as they come."""
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stderr], daemon=True).start()
    return lines


def without_time(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if not k.startswith(("time/", "memory/"))} for row in rows]


def test_a_stop_is_acknowledged_at_once_without_a_terminal(tmp_path):
    run_root = tmp_path / "runs"
    run_dir = folder_for(*CHEETAH, "experiment_name=ack", run_root=run_root)
    proc = start(run_root, *CHEETAH, "experiment_name=ack")
    deadline = time.time() + 300
    while not (run_dir / "train.csv").exists() or not read_csv(run_dir / "train.csv"):
        assert proc.poll() is None and time.time() < deadline, "no train row"
        time.sleep(0.05)
    lines = stderr_lines(proc)
    proc.send_signal(signal.SIGINT)
    deadline, line = time.time() + 5.0, ""
    while not line.startswith("SIGINT") and time.time() < deadline:  # MuJoCo may warn about this model first
        try:
            line = lines.get(timeout=max(0.01, deadline - time.time()))
        except queue.Empty:
            break
    assert proc.poll() is None  # said while the episode goes on, not at the stop
    assert line.startswith("SIGINT: stopping at the next safe point (the end of this episode, or after this step "
                           "when that end is more than 60 s away) with a checkpoint; a second Ctrl-C (or SIGINT) "
                           "stops at once"), line
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)
    assert proc.returncode == 130


def test_a_stop_far_from_the_episodes_end_checkpoints_inside_it_and_resumes_exactly(tmp_path):
    """RUNNER_STOP_WAIT_S=0 stands for steps so slow that the episode's end is more than the wait away."""
    straight_root, run_root = tmp_path / "straight", tmp_path / "runs"
    run_cli(*CHEETAH, "experiment_name=mid", run_root=straight_root)
    straight = folder_for(*CHEETAH, "experiment_name=mid", run_root=straight_root)
    run_dir = folder_for(*CHEETAH, "experiment_name=mid", run_root=run_root)
    proc = subprocess.Popen([sys.executable, "-m", "runner", *CHEETAH, "experiment_name=mid",
                             f"run_root={run_root}"], cwd=REPO, env=child_env(RUNNER_STOP_WAIT_S="0"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while not (run_dir / "train.csv").exists() or not read_csv(run_dir / "train.csv"):
        assert proc.poll() is None and time.time() < deadline, "no train row"
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    step = torch.load(run_dir / "checkpoint.pt", weights_only=True)["counters"]["step"]
    assert 0 < step < 600
    assert err.strip().splitlines()[-1] == (f"stopped: SIGTERM at step {step} (inside an episode, after its {step} "
                                            f"steps, which the resume replays) of 600: checkpoint saved in "
                                            f"{run_dir}; the same command resumes from it")
    resumed = run_cli(*CHEETAH, "experiment_name=mid", run_root=run_root)
    assert f"resumed from step {step}" in resumed.stdout
    assert read_csv(run_dir / "eval.csv") == read_csv(straight / "eval.csv")
    assert without_time(read_csv(run_dir / "train.csv")) == without_time(read_csv(straight / "train.csv"))

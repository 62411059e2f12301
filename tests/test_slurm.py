"""Sweeps through a real SLURM cluster (scripts/slurm_local.sh): a 2 x 2 multirun, and a requeued job that resumes.

`make test-slurm`. The session fixture starts the local cluster (installing it with apt-get if needed) and stops it
afterwards only if it started it.
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slurm

REPO = Path(__file__).resolve().parents[1]
CLUSTER_SCRIPT = REPO / "scripts" / "slurm_local.sh"
SLURM_CONF = Path(os.environ.get("SLURM_LOCAL_DIR", "/tmp/slurm-local")) / "etc" / "slurm.conf"

# Small enough for a 2-core node: one CPU and 1 GB per run, so two runs share the node.
LAUNCHER = ["hydra/launcher=slurm", "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=1",
            "hydra.launcher.timeout_min=20"]
TINY = ["warmup_steps=500", "eval_episodes=2", "log_every=250", "progress=false",
        "diagnostics.num_samples=32", "torch_threads=1"]
REQUEUE_STEPS = 3000  # long enough that the first checkpoint (1000) comes well before the end


def job_env() -> dict:
    return {**os.environ, "SLURM_CONF": os.environ.get("SLURM_CONF", str(SLURM_CONF)), "WANDB_SILENT": "true",
            "HYDRA_FULL_ERROR": "1"}


def slurm(*args: str) -> str:
    return subprocess.run(list(args), env=job_env(), capture_output=True, text=True, check=True, timeout=60).stdout


@pytest.fixture(scope="session")
def slurm_cluster():
    try:
        proc = subprocess.run(["bash", str(CLUSTER_SCRIPT), "start"], capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as err:
        pytest.skip(f"local SLURM cluster could not start: {err}")
    if proc.returncode != 0:
        reason = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        pytest.skip(f"scripts/slurm_local.sh start failed (exit {proc.returncode}): {reason}")
    started_here = "already running" not in proc.stdout
    yield
    if started_here:
        subprocess.run(["bash", str(CLUSTER_SCRIPT), "stop"], capture_output=True, timeout=120)


def multirun_command(run_root: Path, submitit_dir: Path, *overrides: str) -> list[str]:
    return [sys.executable, "-m", "runner", "-m", *LAUNCHER, *TINY, f"run_root={run_root}",
            f"hydra.launcher.submitit_folder={submitit_dir}/%j", *overrides]


def eval_steps(run_dir: Path) -> list[int]:
    with (run_dir / "eval.csv").open(newline="") as f:
        return [int(row["step"]) for row in csv.DictReader(f)]


def job_ids(submitit_dir: Path) -> list[str]:
    """SLURM ids of the submitted jobs (array tasks as <array id>_<index>), from submitit's per-job folders."""
    return sorted(p.name for p in submitit_dir.iterdir() if re.fullmatch(r"\d+(_\d+)?", p.name)
                  and any(p.glob("*_submitted.pkl")))


def wait_until(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(1)


def test_two_variants_by_two_seeds_write_four_folders(slurm_cluster, tmp_path: Path) -> None:
    run_root, submitit_dir = tmp_path / "runs", tmp_path / "submitit"
    command = multirun_command(run_root, submitit_dir, "experiment_name=slurm_2x2", "logger=disabled",
                               "env=inverted_pendulum", "sac.gamma=0.99,0.98", "seed=0,1",
                               "total_steps=1000", "eval_every=500", "checkpoint_every=500")
    proc = subprocess.run(command, cwd=REPO, env=job_env(), capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"sweep failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert "sweep: 4 jobs: 4 finished, 0 refused, 0 failed" in proc.stderr

    labels = sorted(p.name for p in (run_root / "slurm_2x2" / "inverted_pendulum").iterdir())
    assert len(labels) == 2 and labels[0].startswith("sac_gaussian-gamma0.98-v") and labels[1].startswith(
        "sac_gaussian-v"), labels
    for label in labels:
        for seed in (0, 1):
            run_dir = run_root / "slurm_2x2" / "inverted_pendulum" / label / f"seed{seed}"
            assert eval_steps(run_dir) == [500, 1000], run_dir
    ids = job_ids(submitit_dir)
    assert len(ids) == 4, ids
    array_id = ids[0].split("_")[0]

    def states() -> list[str]:  # the sweep ends on the result files, a moment before SLURM ends the jobs
        return sorted(slurm("sacct", "-n", "-X", "-P", "-o", "JobID,State", "-j", array_id).split())
    wait_until(lambda: not any(s.endswith(("RUNNING", "COMPLETING")) for s in states()), 60,
               "accounting to record the end of every job")
    assert states() == sorted(f"{job}|COMPLETED" for job in ids)


def run_interrupted_sweep(tmp_path: Path, interrupt) -> tuple[Path, Path, Path, str]:
    """Start a two-variant sweep (sac.gamma 0.99, the default, and 0.98; one seed), call `interrupt(job_id)` on
    the second variant's array task once its first checkpoint exists, let the requeued task restart at once and
    wait for the sweep to end. Returns the interrupted run's folder, the other run's folder, the submitit folder
    and the job id."""
    run_root, submitit_dir = tmp_path / "runs", tmp_path / "submitit"
    command = multirun_command(run_root, submitit_dir, "experiment_name=slurm_requeue", "logger=offline",
                               "env=inverted_pendulum", "sac.gamma=0.99,0.98", "seed=0",
                               f"total_steps={REQUEUE_STEPS}", "eval_every=1000", "checkpoint_every=1000")
    sweep = subprocess.Popen(command, cwd=REPO, env=job_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True)
    job_id = ""
    try:
        wait_until(lambda: list((run_root / "slurm_requeue").glob("*/sac_gaussian-gamma0.98-*/seed0/checkpoint.pt")),
                   600, "the first checkpoint")
        (run_dir,) = (run_root / "slurm_requeue" / "inverted_pendulum").glob("sac_gaussian-gamma0.98-*/seed0")
        (other_dir,) = (run_root / "slurm_requeue" / "inverted_pendulum").glob("sac_gaussian-v*/seed0")
        job_id = [job for job in job_ids(submitit_dir) if job.endswith("_1")][0]  # job 1: the second gamma
        assert slurm("squeue", "-h", "-j", job_id, "-o", "%T").strip() == "RUNNING", "finished before the interrupt"
        interrupt(job_id)
        wait_until(lambda: slurm("squeue", "-h", "-j", job_id, "-o", "%T").strip() == "PENDING", 120,
                   "the requeued job to be pending")
        slurm("scontrol", "update", f"JobId={job_id}", "StartTime=now")  # skip SLURM's 2-minute hold on requeues
        output, _ = sweep.communicate(timeout=900)
    finally:
        if sweep.poll() is None:
            sweep.kill()
            if job_id:
                subprocess.run(["scancel", job_id.split("_")[0]], env=job_env(), timeout=60)
    assert sweep.returncode == 0, f"sweep failed:\n{output[-4000:]}"
    summary_line = "sweep: 2 jobs: 2 finished (1 of them resumed from a checkpoint), 0 refused, 0 failed"
    assert summary_line in output, output[-3000:]
    return run_dir, other_dir, submitit_dir, job_id


def assert_resumed_once(run_dir: Path, other_dir: Path, submitit_dir: Path, job_id: str) -> str:
    """The interrupted run finished its budget from its checkpoint, in its own folder and one W&B run; the other
    variant ran once, untouched. Returns the interrupted job's log."""
    assert eval_steps(run_dir) == [1000, 2000, REQUEUE_STEPS]
    assert eval_steps(other_dir) == [1000, 2000, REQUEUE_STEPS]
    job_log = "".join(p.read_text() for p in sorted((submitit_dir / job_id).glob("*_log.*")))
    assert re.search(rf"done: {REQUEUE_STEPS} env steps, .*\(resumed from step \d+\)", job_log), job_log[-3000:]
    assert str(run_dir) in job_log and str(other_dir) not in job_log
    wandb_id = (run_dir / "wandb_id.txt").read_text().strip()
    offline_runs = sorted((run_dir / "wandb").glob("offline-run-*"))
    assert len(offline_runs) == 2, offline_runs                       # one per start of the job
    assert {p.name.rsplit("-", 1)[1] for p in offline_runs} == {wandb_id}
    assert len(list((other_dir / "wandb").glob("offline-run-*"))) == 1
    assert (other_dir / "wandb_id.txt").read_text().strip() != wandb_id
    def history() -> list[str]:  # every start of the job; slurmdbd hears of the end a moment after the job
        return slurm("sacct", "-n", "-X", "-D", "-P", "-o", "State", "-j", job_id).split()
    wait_until(lambda: history()[-1] not in ("RUNNING", "COMPLETING"), 60, "accounting to record the end of the job")
    assert history() == ["REQUEUED", "COMPLETED"]
    return job_log


def test_requeued_job_resumes_from_its_checkpoint(slurm_cluster, tmp_path: Path) -> None:
    """`scontrol requeue` (an admin, or preemption with PreemptMode=REQUEUE): SIGTERM, SIGKILL, start again."""
    run_dir, other_dir, submitit_dir, job_id = run_interrupted_sweep(
        tmp_path, lambda job: slurm("scontrol", "requeue", job))
    assert_resumed_once(run_dir, other_dir, submitit_dir, job_id)


def test_signalled_job_requeues_itself_through_the_checkpoint_hook(slurm_cluster, tmp_path: Path) -> None:
    """USR2, which SLURM sends `signal_delay_s` before the time limit: submitit calls the launcher's checkpoint(),
    requeues the job with `scontrol requeue`, and the restarted run resumes from checkpoint.pt."""
    run_dir, other_dir, submitit_dir, job_id = run_interrupted_sweep(
        tmp_path, lambda job: slurm("scancel", "--signal=USR2", job))
    job_log = assert_resumed_once(run_dir, other_dir, submitit_dir, job_id)
    assert "Calling checkpoint method" in job_log and f"Requeued job {job_id}" in job_log


def test_a_search_runs_its_trials_as_slurm_jobs_and_scores_them(slurm_cluster, tmp_path: Path) -> None:
    """The Optuna sweeper over the SLURM launcher: two trials in one batch (two array tasks), each scored from its
    run folders, the study in the sweep folder."""
    import optuna

    run_root, submitit_dir = tmp_path / "runs", tmp_path / "submitit"
    command = multirun_command(run_root, submitit_dir, "search=sac_gaussian", "experiment_name=slurm_search",
                               "logger=disabled", "env=inverted_pendulum", "seeds=[0,1]", "total_steps=1000",
                               "eval_every=500", "hydra.sweeper.n_trials=2", "hydra.sweeper.n_jobs=2",
                               "hydra.sweeper.objective.last_k=1")
    proc = subprocess.run(command, cwd=REPO, env=job_env(), capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"search failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert "sweep: 2 jobs: 2 finished, 0 refused, 0 failed" in proc.stderr
    assert len(job_ids(submitit_dir)) == 2
    study = optuna.load_study(study_name="slurm_search",
                              storage=f"sqlite:///{run_root / 'slurm_search' / 'optuna.db'}")
    trials = study.get_trials()
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 2
    for trial in trials:
        folder = Path(trial.user_attrs["run_dir"])
        last = []
        for seed in (0, 1):
            with (folder / f"seed{seed}" / "eval.csv").open(newline="") as f:
                last.append(float(list(csv.DictReader(f))[-1]["return_mean"]))
        assert trial.value == pytest.approx(sum(last) / 2)

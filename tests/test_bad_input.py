"""Bad input costs one clear line and a non-zero exit, before any training."""

from __future__ import annotations

import pytest
import torch

from tests.conftest import TINY, run_cli, run_folder


def error_line(proc) -> str:
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert "Traceback" not in proc.stderr
    return "\n".join(lines)


@pytest.mark.parametrize("override, message", [
    ("env=atari_pong", "Could not find 'env/atari_pong'"),
    ("algo=sac_discrete", "Could not find 'algo/sac_discrete'"),
    ("total_steps=0", "total_steps must be a positive integer, got 0"),
    ("eval_every=-5", "eval_every must be a positive integer, got -5"),
    ("warmup_steps=5000", "warmup_steps (5000) must be below total_steps (2000)"),
])
def test_refused_before_training(run_root, override, message):
    proc = run_cli(*TINY, override, "logger=disabled", run_root=run_root, check=False)
    assert message in error_line(proc)
    assert not run_root.exists() or not list(run_root.rglob("checkpoint.pt"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_cuda_without_gpu_is_refused(run_root):
    proc = run_cli(*TINY, "device=cuda", "logger=disabled", run_root=run_root, check=False)
    assert "error: device=cuda was asked for but no CUDA GPU is visible" in error_line(proc)


def test_resuming_with_a_different_config_is_refused(run_root):
    """A changed key names another folder; a folder whose saved config no longer matches its label's (a default
    changed in conf/ since the run began) is refused rather than resumed under other settings."""
    run_cli(*TINY, "total_steps=600", "experiment_name=x", "logger=disabled", run_root=run_root)
    saved = run_folder(run_root, "x") / "config.yaml"
    saved.write_text(saved.read_text().replace("lr: 0.0003", "lr: 0.001"))
    before = saved.read_text()
    proc = run_cli(*TINY, "total_steps=600", "experiment_name=x", "logger=disabled", run_root=run_root, check=False)
    assert "holds a run with a different config (sac.lr differ)" in error_line(proc)
    assert saved.read_text() == before


def test_diverging_run_stops_with_a_clear_message_and_keeps_its_checkpoint(run_root):
    # An absurd learning rate makes the weights overflow on the first updates.
    proc = run_cli(*TINY, "sac.lr=1e38", "log_every=5", "checkpoint_every=100", "experiment_name=nan",
                   "logger=disabled", run_root=run_root, check=False)
    assert "error: non-finite values at step" in error_line(proc)
    state = torch.load(run_folder(run_root, "nan") / "checkpoint.pt", weights_only=True)
    assert state["counters"]["step"] <= 500 + 5
    assert all(torch.isfinite(p).all() for p in state["agent"]["modules"]["critic"].values())

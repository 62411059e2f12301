"""A full disk costs one line: the run stops with the folder and the space it needs named, leaves no partial file,
keeps its previous checkpoint, and resumes once space is freed; a group keeps every member at one step.

The disk is a real one: a small tmpfs mounted for the test (root only; elsewhere these tests are skipped)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

from tests.helpers import TINY, folder_for, read_csv, run_cli, start

ARGS = [*TINY, "logger=disabled", "total_steps=1200", "warmup_steps=300", "eval_every=600", "log_every=100",
        "checkpoint_every=400"]
MB = 2**20


@pytest.fixture
def small_disk(tmp_path):
    """A folder on a tmpfs of `size` MB: `small_disk(size)` mounts it, `small_disk.resize(size)` frees space."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    where = tmp_path / "disk"
    where.mkdir()
    mounted = []

    class Disk:
        def __call__(self, size_mb: int) -> Path:
            subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(where)], check=True)
            mounted.append(where)
            return where

        def resize(self, size_mb: int) -> None:
            subprocess.run(["mount", "-o", f"remount,size={size_mb}m", str(where)], check=True)

    yield Disk()
    for path in mounted:
        subprocess.run(["umount", "-l", str(path)], check=False)


def leftovers(root: Path) -> list[str]:
    return [str(p) for p in root.rglob("*.tmp")]


def step_of(path: Path) -> int:
    return torch.load(path, weights_only=True)["counters"]["step"]


def test_a_full_disk_at_a_checkpoint_is_one_line_and_the_run_resumes_once_space_is_freed(small_disk, tmp_path):
    """A checkpoint is about 2.9 MB here: 7 MB hold the first two (the second written beside the first), not a
    third beside both."""
    straight_root = tmp_path / "straight"
    run_cli(*ARGS, "experiment_name=disk", run_root=straight_root)
    straight = read_csv(folder_for(*ARGS, "experiment_name=disk", run_root=straight_root) / "eval.csv")

    run_root = small_disk(7) / "runs"
    run_dir = folder_for(*ARGS, "experiment_name=disk", run_root=run_root)
    proc = run_cli(*ARGS, "experiment_name=disk", run_root=run_root, check=False)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith(f"error: cannot write a checkpoint in {run_dir} (No space left on device); "
                               f"{run_dir} has "), lines[0]
    assert "a checkpoint needs about " in lines[0] and lines[0].endswith(
        "free space there, then run the same command to resume from the last checkpoint")
    assert leftovers(run_root) == []
    kept = step_of(run_dir / "checkpoint.pt")
    assert 400 <= kept < 1200
    chunks = sorted(p.name for p in (run_dir / "replay").iterdir())

    small_disk.resize(64)
    proc = run_cli(*ARGS, "experiment_name=disk", run_root=run_root)
    assert f"resumed from step {kept}" in proc.stdout
    assert read_csv(run_dir / "eval.csv") == straight
    assert set(chunks) & {p.name for p in (run_dir / "replay").iterdir()}  # the kept checkpoint's rows were used


def test_a_full_disk_in_the_middle_of_the_second_member_keeps_the_group_at_one_step(small_disk):
    args = [*ARGS, "seeds=[0,1,2]", "experiment_name=group_disk", "checkpoint_every=300", "total_steps=1500"]
    run_root = small_disk(64) / "runs"
    run_dirs = [folder_for(*args, run_root=run_root).parent / f"seed{seed}" for seed in (0, 1, 2)]
    proc = start(run_root, *args)
    deadline = time.time() + 300
    while not all((d / "checkpoint.pt").exists() for d in run_dirs):
        assert proc.poll() is None and time.time() < deadline, "no checkpoint"
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)  # a group stops after this step, with every member's checkpoint
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    step = step_of(run_dirs[0] / "checkpoint.pt")
    assert all(step_of(d / "checkpoint.pt") == step for d in run_dirs)
    before = {d: sorted(p.name for p in d.rglob("*") if p.is_file() and p.suffix in (".pt", ".f32"))
              for d in run_dirs}

    member = (run_dirs[0] / "checkpoint.pt").stat().st_size + 300 * 4 * 11  # checkpoint and new rows
    free = shutil.disk_usage(run_root).free
    (run_root.parent / "filler").write_bytes(b"\0" * (free - int(1.5 * member)))  # room for one member and a half
    proc = run_cli(*args, run_root=run_root, check=False)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"error: cannot write a checkpoint in {run_dirs[1]} (No space left on device)")
    assert leftovers(run_root) == []
    assert all(step_of(d / "checkpoint.pt") == step for d in run_dirs)
    assert {d: sorted(p.name for p in d.rglob("*") if p.is_file() and p.suffix in (".pt", ".f32"))
            for d in run_dirs} == before  # what member 0 wrote is gone again

    (run_root.parent / "filler").unlink()
    proc = run_cli(*args, run_root=run_root)
    assert f"(resumed from step {step})" in proc.stdout
    assert all(step_of(d / "checkpoint.pt") == 1500 for d in run_dirs)

"""Damage that used to pass in silence: bytes changed inside checkpoint.pt, a manifest that does not cover the
replay, a missing latest checkpoint, a newest chunk damaged in place, a run killed before its first checkpoint, a
torn CSV row, damaged config and identity files, chunk files left unnamed; and checkpoints written before
checksums existed, which still resume."""

from __future__ import annotations

import shutil
import signal
import time
import zipfile
from pathlib import Path

import pytest
import torch

from runner.digest import DIGEST_KEY, with_digest
from tests.helpers import (
    TINY,
    copied,
    folder_for,
    read_csv,
    run_cli,
    snapshot,
    start,
    train_in_process,
    trained_root,
)

ARGS = [*TINY, "logger=disabled", "total_steps=1200", "warmup_steps=300", "eval_every=600", "log_every=100",
        "checkpoint_every=400", "experiment_name=damage"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A finished run with its two checkpoints (steps about 800 and 1200); each test works on a copy."""
    return trained_root(tmp_path_factory, *ARGS)


@pytest.fixture
def root(finished, tmp_path) -> Path:
    return copied(finished, tmp_path)


def folder(root: Path) -> Path:
    return folder_for(*ARGS, run_root=root)


def step_of(path: Path) -> int:
    return torch.load(path, weights_only=True)["counters"]["step"]


def rewrite(path: Path, edit, digest: bool = True) -> None:
    """Load a checkpoint, change it with `edit(state)`, save it again (with a fresh checksum unless `digest` is
    False, which writes today's main format: no checksum)."""
    state = torch.load(path, weights_only=True)
    state.pop(DIGEST_KEY, None)
    edit(state)
    torch.save(with_digest(state) if digest else state, path)


def as_legacy(path: Path) -> None:
    """The format checkpoints had before checksums: no `digest`, and a single run's no `episode`."""
    rewrite(path, lambda state: state.pop("episode", None), digest=False)


def killed_after_previous(run_dir: Path) -> int:
    """The folder as a kill just after its previous checkpoint leaves it: that checkpoint is the latest (the CSV
    rows after it are dropped on resume). Returns its step."""
    shutil.move(run_dir / "checkpoint.prev.pt", run_dir / "checkpoint.pt")
    return step_of(run_dir / "checkpoint.pt")


def largest_tensor_offset(path: Path) -> int:
    """Where, in the file, the middle of its largest tensor's bytes lies."""
    with zipfile.ZipFile(path) as archive:
        info = max((i for i in archive.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    with path.open("rb") as f:
        f.seek(info.header_offset + 26)
        name_length, extra_length = (int.from_bytes(f.read(2), "little") for _ in range(2))
    return info.header_offset + 30 + name_length + extra_length + info.file_size // 2


# --- 1. checkpoint.pt is verified before it is trusted ---------------------------------------------------------
@pytest.mark.parametrize("fill", [b"\0" * 8, b"\x7f" * 8], ids=["zeros", "0x7f"])
def test_damaged_bytes_in_checkpoint_fall_back_to_the_previous(root, fill, capsys):
    run_dir = folder(root)
    finished_rows = read_csv(run_dir / "eval.csv")
    previous = step_of(run_dir / "checkpoint.prev.pt")
    data = bytearray((run_dir / "checkpoint.pt").read_bytes())
    at = largest_tensor_offset(run_dir / "checkpoint.pt")
    data[at:at + len(fill)] = fill
    (run_dir / "checkpoint.pt").write_bytes(bytes(data))
    assert train_in_process(*ARGS, run_root=root) == (0, "")
    err = capsys.readouterr().err
    assert (f"warning: {run_dir / 'checkpoint.pt'} (fails its checksum: damaged since it was written) cannot be "
            f"read; resuming from checkpoint.prev.pt (step {previous})") in err, err
    assert read_csv(run_dir / "eval.csv") == finished_rows  # trained again from the previous one, exactly


def test_both_checkpoints_damaged_is_one_line(root):
    run_dir = folder(root)
    for name in ("checkpoint.pt", "checkpoint.prev.pt"):
        rewrite(run_dir / name, lambda s: None)
        data = bytearray((run_dir / name).read_bytes())
        at = largest_tensor_offset(run_dir / name)
        data[at:at + 4] = b"\0\0\0\0" if data[at:at + 4] != b"\0\0\0\0" else b"\1\1\1\1"
        (run_dir / name).write_bytes(bytes(data))
    before = snapshot(root)
    code, line = train_in_process(*ARGS, run_root=root)
    assert code == 2 and "\n" not in line, line
    assert line.startswith(f"error: no checkpoint in {run_dir} can be read: checkpoint.pt (fails its checksum")
    assert snapshot(root) == before


MANIFEST_EDITS = {
    "first chunk dropped": lambda m: m["chunks"].pop(0),
    "last chunk dropped": lambda m: m["chunks"].pop(),
    "size shrunk": lambda m: m.update(size=m["size"] - 100),
    "rows of a chunk shrunk": lambda m: m["chunks"][0].update(rows=m["chunks"][0]["rows"] - 10),
}


@pytest.mark.parametrize("edit", list(MANIFEST_EDITS))
def test_a_manifest_that_does_not_cover_the_replay_falls_back(root, edit, capsys):
    """Each edit leaves replay rows named by no entry, or named twice; with a fresh checksum (a writer's bug, or
    a checkpoint of the earlier format, which has none) the manifest check is what catches it."""
    run_dir = folder(root)
    finished_rows = read_csv(run_dir / "eval.csv")
    rewrite(run_dir / "checkpoint.pt", lambda state: MANIFEST_EDITS[edit](state["buffer"]))
    assert train_in_process(*ARGS, run_root=root) == (0, "")
    err = capsys.readouterr().err
    assert "(its replay manifest" in err and "cannot be read; resuming from checkpoint.prev.pt" in err, err
    assert read_csv(run_dir / "eval.csv") == finished_rows


def test_a_missing_latest_checkpoint_warns_like_a_damaged_one(root, capsys):
    run_dir = folder(root)
    previous = step_of(run_dir / "checkpoint.prev.pt")
    (run_dir / "checkpoint.pt").unlink()
    assert train_in_process(*ARGS, run_root=root) == (0, "")
    assert (f"warning: {run_dir / 'checkpoint.pt'} (missing) cannot be read; resuming from checkpoint.prev.pt "
            f"(step {previous})") in capsys.readouterr().err


def test_a_checkpoint_of_the_earlier_format_resumes_exactly_and_quietly(root, capsys):
    """Checkpoints that the code before checksums wrote (a run begun then, resumed now) load as they are."""
    run_dir = folder(root)
    finished_rows = read_csv(run_dir / "eval.csv")
    as_legacy(run_dir / "checkpoint.prev.pt")
    step = killed_after_previous(run_dir)
    state = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    assert DIGEST_KEY not in state and "episode" not in state
    capsys.readouterr()
    assert train_in_process(*ARGS, run_root=root) == (0, "")
    assert capsys.readouterr().err == ""
    assert read_csv(run_dir / "eval.csv") == finished_rows
    assert step_of(run_dir / "checkpoint.prev.pt") == step  # the legacy one, rotated: the new one has a checksum
    assert DIGEST_KEY in torch.load(run_dir / "checkpoint.pt", weights_only=True)


# --- 3. no window without a way back ---------------------------------------------------------------------------
def test_a_run_killed_before_its_first_checkpoint_starts_over_on_its_own(tmp_path):
    run_root = tmp_path / "runs"
    args = [*ARGS, "checkpoint_every=1000", "eval_every=300", "experiment_name=early"]
    run_dir = folder_for(*args, run_root=run_root)
    proc = start(run_root, *args)
    deadline = time.time() + 300
    while not (run_dir / "eval.csv").exists() or not read_csv(run_dir / "eval.csv"):
        assert proc.poll() is None and time.time() < deadline, "no evaluation row"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not list(run_dir.glob("checkpoint*.pt")), "the kill came after the first checkpoint"
    killed = snapshot(run_dir)
    again = run_cli(*args, run_root=run_root)
    lines = [line for line in again.stderr.splitlines() if line.strip()]
    assert lines == [f"starting over: {run_dir} was stopped before its first checkpoint; its files are in "
                     f"{run_dir / '.previous' / '0'}"], again.stderr
    assert snapshot(run_dir / ".previous" / "0") == killed
    assert [r["step"] for r in read_csv(run_dir / "eval.csv")] == ["300", "600", "900", "1200"]


def test_a_run_killed_during_its_first_checkpoint_starts_over(root, capsys):
    """What a kill inside the first save leaves: chunk files and a part of checkpoint.pt.tmp, no checkpoint."""
    run_dir = folder(root)
    finished_rows = read_csv(run_dir / "eval.csv")
    data = (run_dir / "checkpoint.pt").read_bytes()
    for path in run_dir.glob("checkpoint*.pt"):
        path.unlink()
    (run_dir / "checkpoint.pt.tmp").write_bytes(data[:len(data) // 3])
    assert train_in_process(*ARGS, run_root=root) == (0, "")
    assert "was stopped before its first checkpoint" in capsys.readouterr().err
    assert read_csv(run_dir / "eval.csv") == finished_rows
    assert not (run_dir / "checkpoint.pt.tmp").exists()


# --- 7. files written whole, read with a clear error -------------------------------------------------------------
def test_config_and_identity_are_not_rewritten_on_resume(finished, root):
    run_dir = folder(root)
    killed_after_previous(run_dir)
    config = run_dir / "config.yaml"  # the copy's run_root, as a run begun here would have written it
    config.write_text(config.read_text().replace(str(finished), str(root)))
    times = {name: (run_dir / name).stat().st_mtime_ns for name in ("config.yaml", "identity.yaml")}
    time.sleep(0.05)
    assert train_in_process(*ARGS, run_root=root) == (0, "")
    assert {name: (run_dir / name).stat().st_mtime_ns for name in times} == times


@pytest.mark.parametrize("damage", ["cut", "empty"])
def test_a_damaged_config_yaml_is_one_line_naming_it_and_the_fix(root, damage):
    path = folder(root) / "config.yaml"
    text = path.read_text()
    path.write_text(text[:text.index("\n", len(text) // 2)] + '\n"cut' if damage == "cut" else "")
    before = snapshot(root)
    code, line = train_in_process(*ARGS, run_root=root)
    assert code == 2 and "\n" not in line, line
    assert line.startswith(f"error: {path} is damaged (") and "delete it (the next start writes it again)" in line
    assert snapshot(root) == before


@pytest.mark.parametrize("damage", ["cut", "empty"])
def test_a_damaged_identity_yaml_is_one_line_in_the_tables(root, damage, capsys):
    from scripts import tables

    path = folder(root) / "identity.yaml"
    text = path.read_text()
    path.write_text(text[:text.index("\n", len(text) // 2)] + '\n"cut' if damage == "cut" else "")
    assert tables.main([str(root / "damage")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path} is damaged (") and err.count("\n") == 1, err


def test_a_torn_last_csv_row_is_dropped_on_resume(root):
    """A row cut inside its step field (`1100` written as `11`) would pass as the row of step 11."""
    run_dir = folder(root)
    finished = {name: [r["step"] for r in read_csv(run_dir / name)] for name in ("eval.csv", "train.csv")}
    killed_after_previous(run_dir)
    with (run_dir / "train.csv").open("a") as f:
        f.write("11")
    assert train_in_process(*ARGS, run_root=root) == (0, "")
    assert {name: [r["step"] for r in read_csv(run_dir / name)] for name in finished} == finished


def test_chunk_files_no_checkpoint_names_are_removed(root, capsys):
    """A kill between the final checkpoint and the deletions after it leaves files that nothing names."""
    run_dir = folder(root)
    named = sorted(p.name for p in (run_dir / "replay").iterdir())
    stray = run_dir / "replay" / "t000000000000-000000000007.f32"
    stray.write_bytes(b"\0" * 7 * 8 * 4)
    assert train_in_process(*ARGS, run_root=root) == (0, "")
    assert "already holds all 1200 steps; removed only 1 replay chunk file(s) that no checkpoint names" in \
        capsys.readouterr().out
    assert sorted(p.name for p in (run_dir / "replay").iterdir()) == named


def test_a_group_checkpointed_in_the_earlier_format_resumes_exactly(tmp_path_factory, tmp_path, capsys):
    """A group begun under the code before checksums (the paper runs in flight) resumes under this code."""
    args = [*ARGS, "seeds=[0,1]", "experiment_name=group_legacy"]
    root = copied(trained_root(tmp_path_factory, *args), tmp_path)
    members = [folder_for(*args, run_root=root).parent / f"seed{seed}" for seed in (0, 1)]
    finished_rows = [read_csv(member / "eval.csv") for member in members]
    steps = set()
    for member in members:
        rewrite(member / "checkpoint.prev.pt", lambda state: None, digest=False)
        steps.add(killed_after_previous(member))
    assert len(steps) == 1
    capsys.readouterr()
    assert train_in_process(*args, run_root=root) == (0, "")
    assert capsys.readouterr().err == ""
    assert [read_csv(member / "eval.csv") for member in members] == finished_rows

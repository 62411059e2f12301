"""Incremental replay checkpoints: each transition is written once, a wrapping ring keeps only live rows named, a
kill at any file operation of a save leaves both kept checkpoints loading exactly, damage is caught, the earlier
whole-buffer format still loads, and the networks load without the replay."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import runner.checkpoint as checkpoint
import runner.replay_store as replay_store
from algos.replay import ReplayBuffer
from runner.checkpoint import (
    CHECKPOINT_NAME,
    PREVIOUS_NAME,
    load_latest,
    load_networks,
    restore_replay,
    save_checkpoint,
    save_with_replay,
)
from runner.errors import RunError
from runner.replay_store import REPLAY_DIR, ReplayStore

OBS, ACT = 3, 2
WIDTH = 2 * OBS + ACT + 2
CPU = torch.device("cpu")


def add(buffer: ReplayBuffer, n: int) -> None:
    """n transitions whose every field encodes the transition's global number (fresh random values, so that a
    row restored into the wrong slot or from a stale file shows)."""
    for _ in range(n):
        i = buffer.added
        noise = np.random.default_rng(i).standard_normal(OBS).astype(np.float32)
        buffer.add(noise + i, np.full(ACT, -i, np.float32), 0.5 * i, noise - i, i % 3 == 0)


def save(run_dir: Path, store: ReplayStore, buffer: ReplayBuffer, step: int) -> None:
    state = {"agent": {"w": torch.full((4,), float(step))}, "rng": {}, "counters": {"step": step}}
    save_with_replay(run_dir, state, store, buffer)


def restored(run_dir: Path, name: str, capacity: int) -> ReplayBuffer:
    """A fresh buffer filled from the folder's checkpoint file `name` and the chunks it names."""
    state = torch.load(run_dir / name, weights_only=True)
    assert replay_store.missing_chunks(run_dir, state["buffer"]) is None
    buffer = ReplayBuffer(OBS, ACT, capacity, CPU)
    restore_replay(state["buffer"], ReplayStore(run_dir), buffer)
    return buffer


def assert_same(buffer: ReplayBuffer, expected: tuple) -> None:
    storage, ring = expected
    assert buffer.ring_state() == ring
    assert torch.equal(buffer.storage[:ring["size"]], storage[:ring["size"]])


def snapshot(buffer: ReplayBuffer) -> tuple:
    return buffer.storage.clone(), buffer.ring_state()


def chunk_bytes(run_dir: Path) -> int:
    return sum(p.stat().st_size for p in (run_dir / REPLAY_DIR).iterdir())


@pytest.mark.parametrize("capacity", [1000, 10])
def test_each_row_is_written_once_and_both_checkpoints_load_exactly(tmp_path, capacity):
    """Saves at uneven intervals; with capacity 10 the ring wraps several times within one interval and across
    them. Every chunk file keeps the bytes it was written with, and the folder holds at most the live rows plus
    the two newest intervals."""
    buffer, store = ReplayBuffer(OBS, ACT, capacity, CPU), ReplayStore(tmp_path)
    written, contents, snapshots = 0, {}, {}
    intervals = [4, 7, 3, 12, 1, 25, 6, 9]
    for step, n in enumerate(intervals, start=1):
        add(buffer, n)
        before = set(os.listdir(tmp_path / REPLAY_DIR)) if (tmp_path / REPLAY_DIR).exists() else set()
        save(tmp_path, store, buffer, step)
        snapshots[step] = snapshot(buffer)
        files = {p.name: p.read_bytes() for p in (tmp_path / REPLAY_DIR).iterdir()}
        for name, data in files.items():
            if name in contents:
                assert contents[name] == data, f"{name} was rewritten"
            else:
                assert name not in before
                written += len(data)
                contents[name] = data
        assert chunk_bytes(tmp_path) <= (capacity + n + intervals[step - 2]) * WIDTH * 4
        assert_same(restored(tmp_path, CHECKPOINT_NAME, capacity), snapshots[step])
        if step > 1:
            assert_same(restored(tmp_path, PREVIOUS_NAME, capacity), snapshots[step - 1])
    # each transition once, none twice; those overwritten within one interval never reach the disk
    assert written == sum(min(n, capacity) for n in intervals) * WIDTH * 4


class Killed(BaseException):
    """Stands for SIGKILL: nothing after the file operation it interrupts runs."""


@pytest.mark.parametrize("capacity", [1000, 10])
def test_a_kill_at_any_file_operation_of_a_save_leaves_both_checkpoints_loading(tmp_path, monkeypatch, capacity):
    buffer, store = ReplayBuffer(OBS, ACT, capacity, CPU), ReplayStore(tmp_path / "run")
    run_dir = store.folder.parent
    run_dir.mkdir()
    for step in (1, 2, 3):
        add(buffer, 8)
        save(run_dir, store, buffer, step)
    kept = {CHECKPOINT_NAME: snapshot(buffer)}
    kept[PREVIOUS_NAME] = snapshot(restored(run_dir, PREVIOUS_NAME, capacity))
    add(buffer, 8)
    pristine = tmp_path / "pristine"
    shutil.copytree(run_dir, pristine)
    calls = {"n": 0, "kill_at": None}
    real_replace, real_unlink = os.replace, Path.unlink

    def counted(real):
        def operation(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == calls["kill_at"]:
                raise Killed
            return real(*args, **kwargs)
        return operation

    monkeypatch.setattr(replay_store.os, "replace", counted(real_replace))
    monkeypatch.setattr(checkpoint.os, "replace", counted(real_replace))
    monkeypatch.setattr(Path, "unlink", counted(real_unlink))
    kill_at = 1
    while True:
        shutil.rmtree(run_dir)
        shutil.copytree(pristine, run_dir)
        calls.update(n=0, kill_at=kill_at)
        interrupted = ReplayStore(run_dir)
        interrupted.committed = store.committed
        try:
            save(run_dir, interrupted, buffer, 4)
        except Killed:
            pass
        else:
            break  # every operation of a whole save has been interrupted once
        calls["kill_at"] = None
        latest = torch.load(run_dir / CHECKPOINT_NAME, weights_only=True)["counters"]["step"] if (
            run_dir / CHECKPOINT_NAME).exists() else None
        for name in (CHECKPOINT_NAME, PREVIOUS_NAME):
            if not (run_dir / name).exists():
                continue
            step = torch.load(run_dir / name, weights_only=True)["counters"]["step"]
            if step == 4:
                assert_same(restored(run_dir, name, capacity), snapshot(buffer))
            else:
                older = kept[CHECKPOINT_NAME if step == 3 else PREVIOUS_NAME]
                assert_same(restored(run_dir, name, capacity), older)
        assert latest is not None or (run_dir / PREVIOUS_NAME).exists(), f"no checkpoint after kill {kill_at}"
        kill_at += 1
    # a chunk's rename and the two checkpoint renames; where the ring wraps, two chunks' and two deletions
    assert kill_at - 1 == (3 if capacity == 1000 else 6)


def test_damaged_chunks_are_caught(tmp_path, capsys):
    buffer, store = ReplayBuffer(OBS, ACT, 100, CPU), ReplayStore(tmp_path)
    for step in (1, 2):
        add(buffer, 10)
        save(tmp_path, store, buffer, step)
    oldest, newest = sorted((tmp_path / REPLAY_DIR).iterdir())
    intact = newest.read_bytes()
    data = bytearray(intact)
    data[5] ^= 0xFF
    newest.write_bytes(bytes(data))  # damaged in place, same size: only the latest names it, so the previous is used
    assert load_latest(tmp_path, CPU)["counters"]["step"] == 1
    assert f"checkpoint.pt (replay chunk {newest.name} fails its checksum) cannot be read; resuming from " \
           "checkpoint.prev.pt (step 1)" in capsys.readouterr().err
    newest.write_bytes(bytes(data[:-4]))  # cut short: the latest cannot load, the previous does not need it
    assert load_latest(tmp_path, CPU)["counters"]["step"] == 1
    assert f"replay chunk {newest.name} holds" in capsys.readouterr().err
    newest.write_bytes(intact)
    data = bytearray(oldest.read_bytes())
    data[5] ^= 0xFF
    oldest.write_bytes(bytes(data))  # named by both: no way back, the replay read stops in one line
    state = load_latest(tmp_path, CPU)
    with pytest.raises(RunError, match="fails its checksum"):
        restore_replay(state["buffer"], ReplayStore(tmp_path), ReplayBuffer(OBS, ACT, 100, CPU))


def test_a_checkpoint_holding_the_whole_buffer_loads_and_the_next_save_writes_it_as_chunks(tmp_path):
    capacity = 10
    buffer = ReplayBuffer(OBS, ACT, capacity, CPU)
    add(buffer, 13)  # wrapped: position 3
    save_checkpoint(tmp_path, {"agent": {}, "rng": {}, "counters": {"step": 13}, "buffer": buffer.state_dict()})
    resumed, store = ReplayBuffer(OBS, ACT, capacity, CPU), ReplayStore(tmp_path)
    restore_replay(load_latest(tmp_path, CPU)["buffer"], store, resumed)
    assert torch.equal(resumed.storage, buffer.storage) and resumed.position == 3
    add(resumed, 4)
    add(buffer, 4)
    save(tmp_path, store, resumed, 17)
    assert_same(restored(tmp_path, CHECKPOINT_NAME, capacity), snapshot(buffer))


def test_networks_load_without_the_replay(tmp_path):
    buffer, store = ReplayBuffer(OBS, ACT, 100, CPU), ReplayStore(tmp_path)
    add(buffer, 10)
    save(tmp_path, store, buffer, 7)
    shutil.rmtree(tmp_path / REPLAY_DIR)
    state = load_networks(tmp_path, CPU)
    assert torch.equal(state["agent"]["w"], torch.full((4,), 7.0)) and state["counters"]["step"] == 7
    with pytest.raises(RunError, match="replay chunk .* is missing"):
        load_latest(tmp_path, CPU)
    (tmp_path / CHECKPOINT_NAME).unlink()
    with pytest.raises(RunError, match="no checkpoint"):
        load_networks(tmp_path, CPU)


def test_group_members_save_and_restore_their_own_rows(tmp_path):
    """Each member's folder gets its rows of the group's [G, capacity, width] storage, in the single-run format:
    a member's checkpoint restores into a single buffer as the member's rows, and the group restores whole, from
    chunk files or from the whole-buffer format."""
    from algos.members import Members

    group = ReplayBuffer(OBS, ACT, 10, CPU, members=Members.seeded([0, 1, 2]))
    rng = np.random.default_rng(0)
    for _ in range(13):
        group.add(*(rng.standard_normal((3, d)).astype(np.float32) for d in (OBS, ACT)), rng.standard_normal(3),
                  rng.standard_normal((3, OBS)).astype(np.float32), rng.random(3) < 0.2)
    folders = [tmp_path / f"seed{g}" for g in range(3)]
    for g, folder in enumerate(folders):
        folder.mkdir()
        save_with_replay(folder, {"agent": {}, "rng": {}, "counters": {"step": 13}}, ReplayStore(folder), group, g)
    single = restored(folders[1], CHECKPOINT_NAME, 10)
    assert torch.equal(single.storage, group.storage[1]) and single.ring_state() == group.ring_state()
    for states in ([load_latest(folder, CPU)["buffer"] for folder in folders],
                   [group.state_dict(g) for g in range(3)]):
        again = ReplayBuffer(OBS, ACT, 10, CPU, members=Members.seeded([0, 1, 2]))
        for g, (folder, state) in enumerate(zip(folders, states)):
            restore_replay(state, ReplayStore(folder), again, g)
        assert torch.equal(again.storage, group.storage) and again.ring_state() == group.ring_state()


def test_a_kill_between_the_renames_of_a_groups_first_checkpoint_is_finished_on_load(tmp_path, monkeypatch):
    """Every member's files are written before the first rename: a kill after member 0's rename leaves members 1
    and 2 with a whole checkpoint.pt.tmp, which the next start renames, instead of refusing the group."""
    from algos.members import Members

    group = ReplayBuffer(OBS, ACT, 10, CPU, members=Members.seeded([0, 1, 2]))
    for _ in range(7):
        group.add(*(np.ones((3, d), np.float32) for d in (OBS, ACT)), np.ones(3), np.ones((3, OBS), np.float32),
                  np.zeros(3, bool))
    folders = [tmp_path / f"seed{g}" for g in range(3)]
    for folder in folders:
        folder.mkdir()
    real_replace = os.replace

    def killed_after_the_first_rename(src, dst):
        if Path(dst).name == CHECKPOINT_NAME and Path(dst).parent != folders[0]:
            raise Killed
        return real_replace(src, dst)

    monkeypatch.setattr(checkpoint.os, "replace", killed_after_the_first_rename)
    with pytest.raises(Killed):
        checkpoint.save_together([(folder, {"agent": {}, "rng": {}, "counters": {"step": 7}}, ReplayStore(folder), g)
                                  for g, folder in enumerate(folders)], group)
    monkeypatch.setattr(checkpoint.os, "replace", real_replace)
    assert [(f / CHECKPOINT_NAME).exists() for f in folders] == [True, False, False]
    states = checkpoint.load_group(folders, CPU)
    assert [s["counters"]["step"] for s in states] == [7, 7, 7]
    assert all((f / CHECKPOINT_NAME).exists() and not (f / checkpoint.PENDING_NAME).exists() for f in folders)

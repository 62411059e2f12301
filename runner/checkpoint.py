"""Atomic checkpoints of everything a run needs to continue exactly where it stopped; the last two are kept.

`checkpoint.pt` holds the networks, optimizers, RNG states, counters and the manifest of the replay's chunk files
(runner.replay_store), so its size does not grow with the run, and the networks load without the replay.
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import torch

from algos.replay import ReplayBuffer
from runner.digest import DIGEST_KEY, digest_fault, with_digest
from runner.disk import DiskError
from runner.errors import RunError
from runner.replay_store import (
    REPLAY_DIR,
    SUFFIX,
    ReplayStore,
    checksum_fault,
    is_manifest,
    manifest_fault,
    missing_chunks,
)

CHECKPOINT_NAME = "checkpoint.pt"
PREVIOUS_NAME = "checkpoint.prev.pt"
PENDING_NAME = "checkpoint.pt.tmp"
REQUIRED = ("agent", "buffer", "rng", "counters")


def save_checkpoint(run_dir: Path, state: dict) -> Path:
    """Write to a temporary file, fsync, then rotate: the latest becomes the previous, the new one the latest.

    A kill at any moment leaves at least one whole checkpoint; a latest one damaged later (a full disk elsewhere, a
    copy cut short) still has the previous one behind it, and its checksum (runner.digest) tells it is damaged.
    """
    write_pending(run_dir, state)
    return commit_pending(run_dir)


def write_pending(run_dir: Path, state: dict) -> None:
    """The state with its checksum, serialized in memory (so a failed write cannot leave torch's writer half-way),
    then written to `checkpoint.pt.tmp` and fsynced."""
    data = io.BytesIO()
    torch.save(with_digest(state), data)
    with (run_dir / PENDING_NAME).open("wb") as f:
        f.write(data.getbuffer())
        f.flush()
        os.fsync(f.fileno())


def commit_pending(run_dir: Path) -> Path:
    """Rotate: the latest becomes the previous, `checkpoint.pt.tmp` the latest."""
    path = run_dir / CHECKPOINT_NAME
    if path.exists():
        os.replace(path, run_dir / PREVIOUS_NAME)
    os.replace(run_dir / PENDING_NAME, path)
    return path


def save_with_replay(run_dir: Path, state: dict, store: ReplayStore, buffer: ReplayBuffer,
                     g: int | None = None) -> Path:
    """A run's checkpoint: `save_together` of one."""
    save_together([(run_dir, state, store, g)], buffer)
    return run_dir / CHECKPOINT_NAME


def save_together(saves: list[tuple[Path, dict, ReplayStore, int | None]], buffer: ReplayBuffer) -> None:
    """Checkpoints of one step for every (run folder, state, store, member) in `saves` (a group's members), in
    three phases: every folder's new replay rows as chunk files and its `checkpoint.pt.tmp`; then the renames that
    make them the latest; then the chunk files that neither kept checkpoint names are deleted.

    A write that fails (a full disk) deletes what the save wrote, so every folder keeps the checkpoint it had and
    one line says how much space is missing (runner.disk). A kill at any point leaves every kept checkpoint whole:
    no file one names is written or deleted before that. `checkpoint.pt.tmp` is created before anything else, so a
    folder that never committed a checkpoint can be told from one whose checkpoints were deleted.
    """
    manifests: list[dict] = []
    run_dir = saves[0][0]
    try:
        for run_dir, state, store, g in saves:
            (run_dir / PENDING_NAME).touch()
            manifests.append(store.write(buffer.rows(g), **buffer.ring_state()))
            write_pending(run_dir, {**state, "buffer": manifests[-1]})
    except OSError as err:
        need = sum(store.pending_bytes(buffer, g) + state_bytes(state) for _, state, store, g in saves)
        for folder, _, store, _ in saves:
            store.discard()
            (folder / PENDING_NAME).unlink(missing_ok=True)
        raise DiskError.of(err, run_dir, need, "a checkpoint") from None
    for run_dir, *_ in saves:
        commit_pending(run_dir)
    for (_, _, store, _), manifest in zip(saves, manifests):
        store.commit(manifest)


def state_bytes(state) -> int:
    """The bytes of a state's tensors: about what its checkpoint file takes."""
    if isinstance(state, dict):
        return sum(state_bytes(v) for v in state.values())
    if isinstance(state, (list, tuple)):
        return sum(state_bytes(v) for v in state)
    return state.numel() * state.element_size() if isinstance(state, torch.Tensor) else 0


def restore_replay(buffer_state: dict, store: ReplayStore, buffer: ReplayBuffer, g: int | None = None) -> None:
    """Fill the buffer (member g's rows in a group) from a checkpoint's replay: its chunk files, or the whole
    buffer that checkpoints of the earlier format held (the next checkpoint then writes it as chunks)."""
    if is_manifest(buffer_state):
        store.read(buffer_state, buffer.rows(g))
        buffer.set_ring_state(buffer_state["position"], buffer_state["size"], buffer_state["added"])
        return
    buffer.load_state_dict(buffer_state, g)
    store.adopt_whole_buffer(buffer.added, buffer.size)


def load_networks(run_dir: Path, device: torch.device) -> dict:
    """The newest readable checkpoint's `agent` state (networks, optimizers, temperature) and `counters`, read
    without touching the replay: the chunk files may be absent. Memory-mapped, so that a checkpoint of the
    earlier format, which holds the whole buffer, is not read whole either."""
    failures = []
    for path in checkpoint_files(run_dir):
        try:
            return read_networks(path, device)
        except Exception as err:  # noqa: BLE001 - any failure to read the file makes it unusable; reported below
            failures.append(f"{path.name} ({type(err).__name__})")
    raise RunError(f"no checkpoint in {run_dir} can be read{': ' if failures else ''}{'; '.join(failures)}")


def read_networks(path: Path, device: torch.device) -> dict:
    """One checkpoint file's `agent` state and `counters`, memory-mapped: the pages of anything else it holds (an
    earlier format's whole replay buffer) are never read. A checkpoint whose checksum fails raises ValueError."""
    state = torch.load(path, map_location=device, weights_only=True, mmap=True)
    fault = digest_fault(state)
    if fault is not None:
        raise ValueError(f"{path.name} {fault}")
    return {"agent": state["agent"], "counters": state["counters"]}


def checkpoint_files(run_dir: Path) -> list[Path]:
    """The folder's checkpoints, newest first."""
    return [p for p in (run_dir / CHECKPOINT_NAME, run_dir / PREVIOUS_NAME) if p.exists()]


def never_committed(run_dir: Path) -> bool:
    """Whether the folder has no checkpoint and never had one: a run stopped before or during its first
    checkpoint (no replay chunk yet, or the first save's `checkpoint.pt.tmp` still there), which can only start
    over. Checkpoints deleted after a save leave chunk files and no pending file."""
    if checkpoint_files(run_dir):
        return False
    replay = run_dir / REPLAY_DIR
    chunks = [p for p in replay.iterdir() if p.suffix == SUFFIX] if replay.is_dir() else []
    return not chunks or (run_dir / PENDING_NAME).exists()


def load_latest(run_dir: Path, device: torch.device) -> dict | None:
    """The newest checkpoint that loads and checks out, or None if the folder has none. A latest one that is
    missing, damaged (its checksum, its manifest, its newest chunks) falls back to the previous with a warning;
    when none loads, RunError names the file and why."""
    failures = []
    if not (run_dir / CHECKPOINT_NAME).exists() and (run_dir / PREVIOUS_NAME).exists():
        failures.append(f"{CHECKPOINT_NAME} (missing)")
    for path in checkpoint_files(run_dir):
        state, why = read_checkpoint(path, device)
        if why is None and path.name == CHECKPOINT_NAME:
            why = _fresh_chunk_fault(run_dir, state, device)
        if why is not None:
            failures.append(f"{path.name} ({why})")
            continue
        if failures:
            print(f"warning: {run_dir / failures[0]} cannot be read; resuming from {path.name} (step "
                  f"{state['counters']['step']})", file=sys.stderr, flush=True)
        return state
    if failures:
        raise RunError(f"no checkpoint in {run_dir} can be read: {'; '.join(failures)}. restart=true starts over "
                       f"and moves the old files to {run_dir / '.previous'}")
    return None


def read_checkpoint(path: Path, device: torch.device) -> tuple[dict | None, str | None]:
    """(state, None) for a checkpoint that loads, holds every part, passes its checksum and names a whole replay
    (its manifest consistent, its chunk files present at their length); (None, why) otherwise. A checkpoint
    written before checksums existed is trusted on the rest."""
    try:
        state = torch.load(path, map_location=device, weights_only=True)
        missing = [key for key in REQUIRED if key not in state]
        if missing:
            raise KeyError(f"no {', '.join(missing)}")
    except Exception as err:  # noqa: BLE001 - any failure to read the file makes it unusable; reported by the caller
        return None, "empty file" if path.stat().st_size == 0 else f"{type(err).__name__}: damaged or not a checkpoint"
    why = digest_fault(state)
    if why is None and is_manifest(state["buffer"]):
        try:
            why = manifest_fault(state["buffer"]) or missing_chunks(path.parent, state["buffer"])
        except (KeyError, TypeError, ValueError) as err:
            why = f"its replay manifest is malformed ({type(err).__name__})"
    return (None, why) if why is not None else (state, None)


def _finish_first_commit(run_dirs: list[Path], states: list[dict | None], device: torch.device) -> list:
    """A kill between the renames of a group's first checkpoint leaves some members without one, but with their
    `checkpoint.pt.tmp` whole (every member's is written before the first rename): those renames are done now,
    when the file passes its checksum and holds the step the others hold."""
    steps = {state["counters"]["step"] for state in states if state is not None}
    for g, run_dir in enumerate(run_dirs):
        pending = run_dir / PENDING_NAME
        if states[g] is not None or len(steps) != 1 or not pending.exists():
            continue
        state, why = read_checkpoint(pending, device)
        if why is None and DIGEST_KEY in state and state["counters"]["step"] in steps:
            commit_pending(run_dir)
            states[g] = state
    return states


def _fresh_chunk_fault(run_dir: Path, state: dict, device: torch.device) -> str | None:
    """The checksums of the chunk files the latest checkpoint names and the previous does not (its newest rows),
    so that a damaged one sends the resume to the previous checkpoint. Files both name are checked when the
    replay is read: damaged there, neither checkpoint can resume."""
    previous = run_dir / PREVIOUS_NAME
    if not is_manifest(state["buffer"]) or not previous.exists():
        return None
    older, _ = read_checkpoint(previous, device)
    if older is None:
        return None  # no way back to take: the replay read reports any damage
    named = {c["file"] for c in older["buffer"]["chunks"]} if is_manifest(older["buffer"]) else set()
    return checksum_fault(run_dir, state["buffer"], {c["file"] for c in state["buffer"]["chunks"]} - named)


def prune_unnamed(run_dir: Path, device: torch.device) -> int:
    """Delete the files in `replay/` that neither kept checkpoint names (a kill between a checkpoint and the
    deletions that follow it leaves them); returns how many. Nothing is deleted unless both checkpoints read."""
    replay = run_dir / REPLAY_DIR
    if not replay.is_dir():
        return 0
    named: set[str] = set()
    for path in checkpoint_files(run_dir):
        state, why = read_checkpoint(path, device)
        if why is not None:
            return 0
        named |= {c["file"] for c in state["buffer"]["chunks"]} if is_manifest(state["buffer"]) else set()
    unnamed = [p for p in replay.iterdir() if p.name not in named]
    for path in unnamed:
        path.unlink()
    return len(unnamed)


def load_group(run_dirs: list[Path], device: torch.device) -> list[dict] | None:
    """Every member's checkpoint of one common step, or None when no member has one yet.

    A group commits its members' checkpoints one rename after another, so a kill in between leaves some members
    one checkpoint ahead; those resume from their previous checkpoint, the step the others hold, which then becomes
    their latest again (the abandoned one is dropped, so that the folder's two checkpoints stay in step order).
    """
    states = [load_latest(run_dir, device) for run_dir in run_dirs]
    started = [run_dir.name for run_dir, state in zip(run_dirs, states) if state is not None]
    if not started:
        return None
    if len(started) < len(run_dirs):
        states = _finish_first_commit(run_dirs, states, device)
        started = [run_dir.name for run_dir, state in zip(run_dirs, states) if state is not None]
    if len(started) < len(run_dirs):
        fresh = [run_dir.name for run_dir, state in zip(run_dirs, states) if state is None]
        raise RunError(f"{', '.join(started)} of {run_dirs[0].parent} hold checkpoints but {', '.join(fresh)} "
                       "do not: a group resumes only members that trained together; restart=true starts them all "
                       "over")
    step = min(state["counters"]["step"] for state in states)
    for g, (run_dir, state) in enumerate(zip(run_dirs, states)):
        if state["counters"]["step"] == step:
            continue
        previous = run_dir / PREVIOUS_NAME
        older = read_checkpoint(previous, device)[0] if previous.exists() else None
        if older is None or older["counters"]["step"] != step:
            raise RunError(f"{run_dir} has no checkpoint of step {step}, where the rest of its group stopped; "
                           "restart=true starts the group over")
        os.replace(previous, run_dir / CHECKPOINT_NAME)
        states[g] = older
    return states


def rng_state(device: torch.device) -> dict:
    state = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["torch"].cpu())
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"].cpu(), device)

"""Atomic checkpoints of everything a run needs to continue exactly where it stopped; the last two are kept.

`checkpoint.pt` holds the networks, optimizers, RNG states, counters and the manifest of the replay's chunk files
(runner.replay_store), so its size does not grow with the run, and the networks load without the replay.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

from algos.replay import ReplayBuffer
from runner.errors import RunError
from runner.replay_store import ReplayStore, is_manifest, missing_chunks

CHECKPOINT_NAME = "checkpoint.pt"
PREVIOUS_NAME = "checkpoint.prev.pt"
REQUIRED = ("agent", "buffer", "rng", "counters")


def save_checkpoint(run_dir: Path, state: dict) -> Path:
    """Write to a temporary file, fsync, then rotate: the latest becomes the previous, the new one the latest.

    A kill at any moment leaves at least one whole checkpoint; a latest one damaged later (a full disk elsewhere, a
    copy cut short) still has the previous one behind it.
    """
    path = run_dir / CHECKPOINT_NAME
    tmp = path.with_suffix(".pt.tmp")
    with tmp.open("wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    if path.exists():
        os.replace(path, run_dir / PREVIOUS_NAME)
    os.replace(tmp, path)
    return path


def save_with_replay(run_dir: Path, state: dict, store: ReplayStore, buffer: ReplayBuffer,
                     g: int | None = None) -> Path:
    """A run's checkpoint: the replay rows added since the last one (member g's in a group) as new chunk files,
    then `checkpoint.pt` naming them, then the chunk files that neither kept checkpoint names are deleted. A kill
    at any point leaves both kept checkpoints whole: no file they name is written or deleted before that."""
    manifest = store.write(buffer.rows(g), **buffer.ring_state())
    path = save_checkpoint(run_dir, {**state, "buffer": manifest})
    store.commit(manifest)
    return path


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
    earlier format's whole replay buffer) are never read."""
    state = torch.load(path, map_location=device, weights_only=True, mmap=True)
    return {"agent": state["agent"], "counters": state["counters"]}


def checkpoint_files(run_dir: Path) -> list[Path]:
    """The folder's checkpoints, newest first."""
    return [p for p in (run_dir / CHECKPOINT_NAME, run_dir / PREVIOUS_NAME) if p.exists()]


def load_latest(run_dir: Path, device: torch.device) -> dict | None:
    """The newest checkpoint that loads, or None if the folder has none. A damaged latest one falls back to the
    previous with a warning; when none loads, RunError names the file and why."""
    failures = []
    for path in checkpoint_files(run_dir):
        try:
            state = torch.load(path, map_location=device, weights_only=True)
            missing = [key for key in REQUIRED if key not in state]
            if missing:
                raise KeyError(f"no {', '.join(missing)}")
        except Exception as err:  # noqa: BLE001 - any failure to read the file makes it unusable; reported below
            why = "empty file" if path.stat().st_size == 0 else f"{type(err).__name__}: damaged or not a checkpoint"
            failures.append(f"{path.name} ({why})")
            continue
        replay_fault = _replay_fault(run_dir, state)
        if replay_fault:
            failures.append(f"{path.name} ({replay_fault})")
            continue
        if failures:
            print(f"warning: {run_dir / failures[0]} cannot be read; resuming from {path.name} (step "
                  f"{state['counters']['step']})", file=sys.stderr, flush=True)
        return state
    if failures:
        raise RunError(f"no checkpoint in {run_dir} can be read: {'; '.join(failures)}. restart=true starts over "
                       f"and moves the old files to {run_dir / '.previous'}")
    return None


def load_group(run_dirs: list[Path], device: torch.device) -> list[dict] | None:
    """Every member's checkpoint of one common step, or None when no member has one yet.

    A group saves its members one after another, so a kill in between leaves some members one checkpoint ahead;
    those resume from their previous checkpoint, the step the others hold, which then becomes their latest again
    (the abandoned one is dropped, so that the folder's two checkpoints stay in step order).
    """
    states = [load_latest(run_dir, device) for run_dir in run_dirs]
    started = [run_dir.name for run_dir, state in zip(run_dirs, states) if state is not None]
    if not started:
        return None
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
        older = torch.load(previous, map_location=device, weights_only=True) if previous.exists() else None
        if older is None or older["counters"]["step"] != step or _replay_fault(run_dir, older):
            raise RunError(f"{run_dir} has no checkpoint of step {step}, where the rest of its group stopped; "
                           "restart=true starts the group over")
        os.replace(previous, run_dir / CHECKPOINT_NAME)
        states[g] = older
    return states


def _replay_fault(run_dir: Path, state: dict) -> str | None:
    return missing_chunks(run_dir, state["buffer"]) if is_manifest(state["buffer"]) else None


def rng_state(device: torch.device) -> dict:
    state = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["torch"].cpu())
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"].cpu(), device)

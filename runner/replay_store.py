"""The replay buffer's rows on disk, saved incrementally: each checkpoint writes only the transitions added since
the one before, as append-only chunk files in `<run folder>/replay/`, and `checkpoint.pt` names them in a manifest.

A chunk file is raw float32 rows, the buffer's storage layout, named by the global numbers of the transitions it
holds (`t<first>-<end>.f32`), so a name never comes back for other rows: a checkpoint writes transitions numbered
from the newest kept checkpoint's count on, which no kept checkpoint references. Each file is written once
(temporary name, fsync, rename) and never changed. When the ring wraps, the manifest stops naming the rows that
newer chunks overwrote (an entry keeps the live part of its file); a file is deleted once neither the new
checkpoint nor the one before it names any of its rows, so both checkpoints in the folder always load.
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path

import numpy as np
import torch

from runner.errors import RunError

REPLAY_DIR = "replay"
SUFFIX = ".f32"
FORMAT = 2  # 1: the whole buffer inside checkpoint.pt (loaded, then saved as chunks); 2: a manifest of chunks
BLOCK_BYTES = 64 << 20  # rows move between storage and a file in blocks of this size, so memory stays flat


def is_manifest(buffer_state: dict) -> bool:
    return buffer_state.get("format") == FORMAT


class ReplayStore:
    """The chunk files of one run folder (one member's, in a group), and the manifest of the newest checkpoint this
    process wrote or loaded: its files stay until the checkpoint after next."""

    def __init__(self, run_dir: Path):
        self.folder = run_dir / REPLAY_DIR
        self.committed: dict | None = None
        self.written: list[Path] = []  # chunk files of the save in progress, deleted if it fails

    def write(self, rows: torch.Tensor, *, position: int, size: int, added: int) -> dict:
        """Write the rows added since the committed checkpoint (the valid ones, on a first save) and return the new
        manifest. `rows` is the ring's storage, [capacity, width], on any device."""
        capacity, width = rows.shape
        base = self.committed
        since = added - base["added"] if base else size
        fresh = min(since, capacity)
        chunks = [dict(c) for c in base["chunks"]] if base and since < capacity else []
        self.folder.mkdir(exist_ok=True)
        self.written = []
        first = added - fresh
        while first < added:
            start = first % capacity
            count = min(added - first, capacity - start)
            chunks = [piece for c in chunks for piece in _without(c, start, count)]
            name = f"t{first:012d}-{first + count:012d}{SUFFIX}"
            self.written.append(self.folder / name)
            crc = _write_rows(self.folder / name, rows[start:start + count])
            chunks.append({"file": name, "skip": 0, "start": start, "rows": count, "file_rows": count, "crc32": crc})
            first += count
        if fresh:
            _fsync_dir(self.folder)
        return {"format": FORMAT, "position": position, "size": size, "added": added, "capacity": capacity,
                "width": width, "chunks": sorted(chunks, key=lambda c: c["start"])}

    def pending_bytes(self, buffer, g: int | None = None) -> int:
        """The bytes the next `write` puts in chunk files: the rows added since the committed checkpoint."""
        since = buffer.added - self.committed["added"] if self.committed else buffer.size
        return min(since, buffer.capacity) * buffer.rows(g).shape[1] * 4

    def discard(self) -> None:
        """After a save that failed: delete the chunk files it wrote (and their temporary files), which no
        checkpoint names."""
        for path in self.written:
            path.unlink(missing_ok=True)
            path.with_suffix(".tmp").unlink(missing_ok=True)
        self.written = []

    def commit(self, manifest: dict) -> None:
        """Called once the checkpoint naming `manifest` is in place: delete the chunk files that neither it nor the
        checkpoint before it names (and any a kill left half-written)."""
        keep = {c["file"] for m in (manifest, self.committed) if m for c in m["chunks"]}
        if self.folder.exists():
            for path in self.folder.iterdir():
                if path.name not in keep:
                    path.unlink()
        self.committed = manifest
        self.written = []

    def read(self, manifest: dict, rows: torch.Tensor) -> None:
        """Fill `rows` ([capacity, width]) from the manifest's chunks, checking each file's checksum."""
        if (manifest["capacity"], manifest["width"]) != tuple(rows.shape):
            raise RunError(f"{self.folder} holds a replay of {manifest['capacity']} x {manifest['width']} rows, not "
                           f"the {rows.shape[0]} x {rows.shape[1]} this run's buffer has; restart=true starts over")
        for chunk in manifest["chunks"]:
            _read_rows(self.folder / chunk["file"], chunk, rows)
        self.committed = manifest

    def adopt_whole_buffer(self, added: int, size: int) -> None:
        """After loading a checkpoint that held the whole buffer: no chunk exists yet, so the next save writes
        every valid row."""
        self.committed = {"added": added - size, "chunks": []}


def missing_chunks(run_dir: Path, manifest: dict) -> str | None:
    """Why the chunks a manifest names cannot all be read (absent, or not their recorded length), or None: a
    check by file size, cheap enough to choose between the latest and the previous checkpoint."""
    folder = run_dir / REPLAY_DIR
    for chunk in manifest["chunks"]:
        path = folder / chunk["file"]
        expected = chunk["file_rows"] * manifest["width"] * 4
        if not path.exists():
            return f"replay chunk {chunk['file']} is missing"
        if path.stat().st_size != expected:
            return f"replay chunk {chunk['file']} holds {path.stat().st_size} bytes, not {expected}"
    return None


def manifest_fault(manifest: dict) -> str | None:
    """Why a manifest cannot describe the buffer it was saved from, or None: its counters must fit together, every
    ring row from 0 to `size` must be covered by exactly one entry, and each entry must lie inside its file and at
    the ring rows its transitions' numbers give."""
    capacity, size, added, position = (manifest[k] for k in ("capacity", "size", "added", "position"))
    if size != min(added, capacity) or position != added % capacity:
        return (f"its replay manifest is inconsistent (size {size}, position {position} after {added} transitions "
                f"in {capacity} rows)")
    covered = 0
    for chunk in sorted(manifest["chunks"], key=lambda c: c["start"]):
        first, end = _transitions(chunk["file"])
        if chunk["start"] != covered:
            what = "a gap" if chunk["start"] > covered else "an overlap"
            return f"its replay manifest has {what} at ring row {min(covered, chunk['start'])}"
        if (chunk["rows"] <= 0 or chunk["skip"] < 0 or chunk["skip"] + chunk["rows"] > chunk["file_rows"]
                or chunk["file_rows"] != end - first or (first + chunk["skip"]) % capacity != chunk["start"]):
            return f"its replay manifest's entry for {chunk['file']} does not fit that file"
        covered += chunk["rows"]
    if covered != size:
        return f"its replay manifest covers {covered} ring rows, not the buffer's {size}"
    return None


def checksum_fault(run_dir: Path, manifest: dict, files: set[str]) -> str | None:
    """Why one of the named chunk `files` of the manifest fails its CRC-32, or None: read whole, block by block."""
    folder = run_dir / REPLAY_DIR
    for chunk in manifest["chunks"]:
        if chunk["file"] not in files:
            continue
        crc, size = 0, chunk["file_rows"] * manifest["width"] * 4
        with (folder / chunk["file"]).open("rb") as f:
            while block := f.read(min(BLOCK_BYTES, size)):
                crc, size = zlib.crc32(block, crc), size - len(block)
        if crc != chunk["crc32"]:
            return f"replay chunk {chunk['file']} fails its checksum"
    return None


def _transitions(name: str) -> tuple[int, int]:
    """The transition numbers [first, end) in a chunk file's name, `t<first>-<end>.f32`."""
    first, _, end = name.removeprefix("t").removesuffix(SUFFIX).partition("-")
    return int(first), int(end)


def _without(chunk: dict, start: int, count: int) -> list[dict]:
    """The parts of a manifest entry outside ring rows [start, start + count): what newer rows left live."""
    lo, hi = chunk["start"], chunk["start"] + chunk["rows"]
    pieces = []
    for a, b in ((lo, min(hi, start)), (max(lo, start + count), hi)):
        if a < b:
            pieces.append({**chunk, "skip": chunk["skip"] + a - lo, "start": a, "rows": b - a})
    return pieces


def _block_rows(width: int) -> int:
    return max(1, BLOCK_BYTES // (4 * width))


def _write_rows(path: Path, rows: torch.Tensor) -> int:
    """Write `rows` as raw float32 through a temporary file; returns the CRC-32 of the file's bytes."""
    tmp = path.with_suffix(".tmp")
    crc, step = 0, _block_rows(rows.shape[1])
    with tmp.open("wb") as f:
        for first in range(0, rows.shape[0], step):
            block = rows[first:first + step].to("cpu", torch.float32).contiguous().numpy()
            crc = zlib.crc32(block, crc)
            f.write(block.data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return crc


def _read_rows(path: Path, chunk: dict, rows: torch.Tensor) -> None:
    """Copy a chunk's live rows into `rows`, reading the whole file block by block to check its CRC-32."""
    width = rows.shape[1]
    step, crc = _block_rows(width), 0
    live_lo, live_hi = chunk["skip"], chunk["skip"] + chunk["rows"]
    try:
        with path.open("rb") as f:
            for first in range(0, chunk["file_rows"], step):
                block = np.empty((min(step, chunk["file_rows"] - first), width), dtype=np.float32)
                if f.readinto(block.data) != block.nbytes:
                    raise RunError(f"replay chunk {path} is shorter than its checkpoint records")
                crc = zlib.crc32(block, crc)
                lo, hi = max(first, live_lo), min(first + block.shape[0], live_hi)
                if lo < hi:
                    target = chunk["start"] + lo - live_lo
                    rows[target:target + hi - lo].copy_(torch.from_numpy(block[lo - first:hi - first]))
    except FileNotFoundError:
        raise RunError(f"replay chunk {path} is missing; restart=true starts over") from None
    if crc != chunk["crc32"]:
        raise RunError(f"replay chunk {path} fails its checksum (damaged since it was written); restart=true "
                       "starts over")


def _fsync_dir(folder: Path) -> None:
    """Make the renames inside `folder` durable before the checkpoint that names the new files."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

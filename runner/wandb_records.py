"""Reads the history back out of W&B's run files (run-<id>.wandb), which have no public reader: the runner uses it
to find what earlier starts of a run got into W&B, the tests to check W&B's history.

The file is a 7-byte header (':W&B', a 2-byte magic, a version byte) followed by LevelDB-log framing: 32 KiB
blocks of chunks, each chunk a 7-byte header (crc32c, little-endian length, type) and a piece of one
`wandb_internal_pb2.Record`. Chunk types FULL/FIRST/MIDDLE/LAST stitch records that span blocks.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

BLOCK_SIZE = 32 * 1024
FILE_HEADER = 7
CHUNK_HEADER = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def iter_records(path: str | Path):
    """Yield every Record in the file, in the order W&B wrote them; a file cut short by a kill ends at its last
    whole record."""
    from google.protobuf.message import DecodeError
    from wandb.proto import wandb_internal_pb2

    data = Path(path).read_bytes()
    if data[:4] != b":W&B":
        raise ValueError(f"{path} is not a W&B run file")
    pos, pending = FILE_HEADER, b""
    while pos + CHUNK_HEADER <= len(data):
        left_in_block = BLOCK_SIZE - pos % BLOCK_SIZE
        if left_in_block < CHUNK_HEADER:  # the writer pads a block's tail that cannot hold a chunk header
            pos += left_in_block
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + CHUNK_HEADER])
        if kind == 0 and length == 0:
            pos += left_in_block
            continue
        if pos + CHUNK_HEADER + length > len(data):
            return
        chunk = data[pos + CHUNK_HEADER:pos + CHUNK_HEADER + length]
        pos += CHUNK_HEADER + length
        if kind in (FULL, FIRST):
            pending = chunk
        else:
            pending += chunk
        if kind in (FULL, LAST):
            record = wandb_internal_pb2.Record()
            try:
                record.ParseFromString(pending)
            except DecodeError:
                return
            yield record


def read_history(path: str | Path) -> list[dict]:
    """The logged history rows, each a dict of metric name to value (with `_step`)."""
    rows = []
    for record in iter_records(path):
        if record.WhichOneof("record_type") != "history":
            continue
        row = {}
        for item in record.history.item:
            key = item.key or "/".join(item.nested_key)
            row[key] = json.loads(item.value_json)
        rows.append(row)
    return rows


def find_run_files(run_dir: str | Path) -> list[Path]:
    """Every offline run file under a run folder, oldest first (a resumed run adds one per start)."""
    return sorted(Path(run_dir).glob("wandb/offline-run-*/run-*.wandb"))


def recorded_keys(run_dir: str | Path) -> dict[int, set[str]]:
    """For each step, the metric names that any W&B run file in the folder (offline or online) recorded."""
    keys: dict[int, set[str]] = {}
    for path in sorted(Path(run_dir).glob("wandb/*run-*/run-*.wandb")):
        try:
            history = read_history(path)
        except ValueError:  # a file that a kill left without its header holds nothing
            continue
        for row in history:
            if "_step" in row:
                keys.setdefault(int(row["_step"]), set()).update(row)
    return keys

"""A checksum over a checkpoint's contents, written inside it and checked on load, so that bytes damaged after the
write (a disk error, a copy that went wrong, a stray write) are caught instead of training on from them.

The checksum is taken over the loaded values, not the file's bytes: every tensor's dtype, shape and raw bytes, and
every other value's text, walked in a fixed order. Any change to a stored number changes it; damage to the file's
framing already makes `torch.load` fail.
"""

from __future__ import annotations

import zlib

import numpy as np
import torch

DIGEST_KEY = "digest"  # {"crc32": int}; checkpoints written before checksums existed have none (legacy)


def state_crc(value, crc: int = 0) -> int:
    """CRC-32 of a checkpoint state (nested dicts, lists, tensors, numbers, text), independent of the device and of
    dict order."""
    if isinstance(value, dict):
        for key in sorted(value, key=repr):
            crc = state_crc(value[key], zlib.crc32(repr(key).encode(), crc))
        return crc
    if isinstance(value, (list, tuple)):
        crc = zlib.crc32(f"{type(value).__name__}[{len(value)}]".encode(), crc)
        for item in value:
            crc = state_crc(item, crc)
        return crc
    if isinstance(value, torch.Tensor):
        dense = torch.empty(value.shape, dtype=value.dtype).copy_(value.detach())  # any strides, even 0
        crc = zlib.crc32(f"{dense.dtype}{tuple(dense.shape)}".encode(), crc)
        return zlib.crc32(dense.reshape(-1).view(torch.uint8).numpy(), crc)
    if isinstance(value, np.ndarray):
        crc = zlib.crc32(f"{value.dtype}{value.shape}".encode(), crc)
        return zlib.crc32(np.ascontiguousarray(value).tobytes(), crc)
    if isinstance(value, np.generic):
        value = value.item()
    return zlib.crc32(repr(value).encode(), crc)


def with_digest(state: dict) -> dict:
    """The state with its checksum added under DIGEST_KEY."""
    body = {k: v for k, v in state.items() if k != DIGEST_KEY}
    return {**body, DIGEST_KEY: {"crc32": state_crc(body)}}


def digest_fault(state: dict) -> str | None:
    """Why the state's checksum does not match its contents, or None when it does or when the state predates
    checksums (a legacy checkpoint, trusted as before)."""
    digest = state.get(DIGEST_KEY)
    if digest is None:
        return None
    body = {k: v for k, v in state.items() if k != DIGEST_KEY}
    if not isinstance(digest, dict) or digest.get("crc32") != state_crc(body):
        return "fails its checksum: damaged since it was written"
    return None

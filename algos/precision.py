"""The arithmetic of training's matrix products: float32, TF32 tensor cores, or bfloat16 under autocast.

Parameters, optimizer state, replay and every quantity the runner logs stay float32 at every precision; only the
products inside an update (and the forward passes of acting) change. TF32 is a CUDA tensor-core format: on a CPU
`tf32` is float32, so a CPU run's numbers do not change. bf16 autocast works on both devices: matmuls and linear
layers take bfloat16 inputs and accumulate in float32, and ops that autocast keeps in float32 (losses, softmax,
log) stay there.
"""

from __future__ import annotations

from contextlib import contextmanager, nullcontext
from typing import Iterator

import torch

PRECISIONS = ("fp32", "tf32", "bf16")


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    return precision


@contextmanager
def cuda_tf32_matmuls() -> Iterator[None]:
    """float32 CUDA matmuls on TF32 tensor cores while the block runs; the previous setting comes back after."""
    matmul = torch.backends.cuda.matmul
    if hasattr(matmul, "fp32_precision"):  # torch >= 2.9; allow_tf32 is its older spelling
        previous = matmul.fp32_precision
        matmul.fp32_precision = "tf32"
        try:
            yield
        finally:
            matmul.fp32_precision = previous
        return
    previous_flag = matmul.allow_tf32
    matmul.allow_tf32 = True
    try:
        yield
    finally:
        matmul.allow_tf32 = previous_flag


def matmul_precision(precision: str, device: torch.device):
    """A context that runs the block's matmuls at `precision` on `device` (a no-op for fp32, and for tf32 off
    CUDA)."""
    if precision == "bf16":  # no cache of the weights' bf16 copies: an update changes weights the block reuses
        return torch.autocast(device.type, dtype=torch.bfloat16, cache_enabled=False)
    if precision == "tf32" and device.type == "cuda":
        return cuda_tf32_matmuls()
    return nullcontext()

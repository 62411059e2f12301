"""The tanh squashing that maps pre-squash actions x to bounded actions a = tanh(x), and its volume change."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def tanh_log_det(x: torch.Tensor) -> torch.Tensor:
    """sum_i log(1 - tanh(x_i)^2) over the last axis, in the form that stays finite for large |x|.

    log(1 - tanh(x)^2) = 2 * (log 2 - x - softplus(-2x)); the naive form underflows to log(0) once |x| > ~9.
    """
    return (2.0 * (math.log(2.0) - x - F.softplus(-2.0 * x))).sum(-1)


def squashed_log_prob(log_prob_x: torch.Tensor, x: torch.Tensor, floor: float = 0.0) -> torch.Tensor:
    """log pi(a) for a = tanh(x), given log pi(x): change of variables through the elementwise tanh.

    floor > 0 computes the volume term as log(1 - a^2 + floor), as the AR-DAE authors' code does (floor 1e-7):
    each saturated dimension then adds at most -log(floor) nats where the exact term grows without bound.
    """
    if floor > 0.0:
        return log_prob_x - torch.log(1.0 - torch.tanh(x).pow(2) + floor).sum(-1)
    return log_prob_x - tanh_log_det(x)

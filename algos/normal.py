"""Gaussian log-densities and the broadcasting of per-state tensors over a state's samples, shared by every
policy, estimator and study."""

from __future__ import annotations

import math

import torch

LOG_2PI = math.log(2.0 * math.pi)


def standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I), summed over the last axis."""
    return -0.5 * (z.pow(2) + LOG_2PI).sum(-1)


def diag_normal_log_prob(x: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """log N(x; mean, diag(exp(log_std))^2), summed over the last axis."""
    return (-0.5 * ((x - mean) * torch.exp(-log_std)) ** 2 - log_std - 0.5 * LOG_2PI).sum(-1)


def repeat_obs(obs: torch.Tensor, num_samples: int | None) -> torch.Tensor:
    """[B, o] -> [B, n, o] (an expanded view, no copy) so that one batched pass draws n samples per state."""
    if num_samples is None:
        return obs
    return obs.unsqueeze(-2).expand(*obs.shape[:-1], num_samples, obs.shape[-1])


def broadcast_to_samples(per_state: torch.Tensor, like: torch.Tensor, trailing: int = 1) -> torch.Tensor:
    """A per-state tensor [*S, *T] (T: its last `trailing` axes) as [*S, 1, ..., 1, *T], broadcasting against
    `like` [*S, *sample_axes, d]: one value per state serves all of that state's samples without being copied
    or recomputed."""
    split = per_state.dim() - trailing
    extra = (like.dim() - 1) - split
    return per_state.reshape(*per_state.shape[:split], *([1] * extra), *per_state.shape[split:])

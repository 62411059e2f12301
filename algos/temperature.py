"""The entropy temperature alpha: fixed (the paper's 0.05) or tuned toward a target entropy."""

from __future__ import annotations

import math

import torch
from torch import nn

from algos.members import Members, member_mean, per_member


class Temperature(nn.Module):
    """Holds log(alpha). With `autotune`, alpha is learned so the policy's entropy tracks `target_entropy`
    (Haarnoja et al. 2018b); otherwise it stays at `init` and has no optimizer. In a group (`members`), one
    log(alpha) per member, [G], each tuned on its own member's entropy."""

    def __init__(self, init: float = 0.05, autotune: bool = False, target_entropy: float = 0.0,
                 members: Members | None = None):
        super().__init__()
        if init <= 0:
            raise ValueError(f"alpha must be positive, got {init}")
        self.autotune = autotune
        self.target_entropy = target_entropy
        self.members = members
        shape = () if members is None else (members.size,)
        self.log_alpha = nn.Parameter(torch.full(shape, math.log(init)), requires_grad=autotune)

    @property
    def alpha(self) -> torch.Tensor:
        return self.log_alpha.exp().detach()

    def loss(self, log_prob: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """-log(alpha) * (log pi + target): raises alpha when the entropy falls below the target."""
        log_alpha = per_member(self.log_alpha, log_prob)
        loss = -member_mean(log_alpha * (log_prob.detach() + self.target_entropy), self.members)
        return loss, {"train/alpha_loss": loss.detach()}

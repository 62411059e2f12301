"""SAC-NF policy (Mazoure et al. 2019): a state-conditioned Gaussian followed by state-independent radial flows."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from algos.members import Members
from algos.policies.base import PolicySample
from algos.policies.gaussian import GaussianPolicy


class RadialFlow(nn.Module):
    """f(z) = z + beta * h(r) * (z - z0), h(r) = 1 / (alpha + r), r = |z - z0| (Rezende and Mohamed 2015).

    alpha = softplus(alpha_raw) > 0 and beta = -alpha + softplus(beta_raw) >= -alpha keep f invertible, so the
    change of variables is exact. With every raw parameter at zero, beta = 0 and the layer starts as the identity:
    an untrained SAC-NF policy is the SAC Gaussian. With a group of G seeds every parameter has a leading axis G
    and z is [G, ..., dim].
    """

    def __init__(self, dim: int, group: int | None = None):
        super().__init__()
        self.dim = dim
        lead = () if group is None else (group,)
        self.center = nn.Parameter(torch.zeros(*lead, dim))
        self.alpha_raw = nn.Parameter(torch.zeros(lead))
        self.beta_raw = nn.Parameter(torch.zeros(lead))

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns f(z) and log|det df/dz| per sample, in closed form:
        (d - 1) log(1 + beta h) + log(1 + beta h + beta h'(r) r), with h'(r) = -h^2."""
        alpha_raw, beta_raw, center = self.alpha_raw, self.beta_raw, self.center
        if center.dim() > 1:  # a group: one flow per member, broadcast over that member's samples
            ones = [1] * (z.dim() - 1)
            alpha_raw, beta_raw = alpha_raw.reshape(-1, *ones), beta_raw.reshape(-1, *ones)
            center = center.reshape(center.shape[0], *ones[1:], self.dim)
        alpha = F.softplus(alpha_raw)
        beta = -alpha + F.softplus(beta_raw)
        offset = z - center
        radius = offset.norm(dim=-1, keepdim=True)
        h = 1.0 / (alpha + radius)
        beta_h = beta * h
        out = z + beta_h * offset
        log_det = ((self.dim - 1) * torch.log1p(beta_h) + torch.log1p(beta_h - beta * h.pow(2) * radius)).squeeze(-1)
        return out, log_det


class NormalizingFlowPolicy(GaussianPolicy):
    """x = f_K o ... o f_1(mean(s) + std(s) * eps), with radial flows f_k shared across states.

    The log-density stays exact and cheap: the Gaussian's, minus each layer's closed-form log-determinant.
    num_flows: radial layers after the Gaussian (the AR-DAE authors ran Ant 4, HalfCheetah 3, Hopper 5,
    Walker2d 5, Humanoid 4; see conf/algo/per_task/sac_nf/). Other arguments as in GaussianPolicy.
    """


    def __init__(self, obs_dim: int, act_dim: int, num_flows: int = 4, hidden_dim: int = 256, depth: int = 2,
                 activation: str = "relu", log_std_min: float = -5.0, log_std_max: float = 2.0,
                 members: Members | None = None, *, log_std_map: str | None = None):
        super().__init__(obs_dim, act_dim, hidden_dim, depth, activation, log_std_min, log_std_max, members,
                         log_std_map=log_std_map)
        group = None if members is None else members.size
        self.flows = nn.ModuleList(RadialFlow(act_dim, group) for _ in range(num_flows))

    def push(self, base: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Pushes base-Gaussian points through every flow; returns the image and the summed log-determinant."""
        log_det = base.new_zeros(base.shape[:-1])
        for flow in self.flows:
            base, layer_log_det = flow(base)
            log_det = log_det + layer_log_det
        return base, log_det

    def sample(self, obs: torch.Tensor, num_samples: int | None = None) -> PolicySample:
        base = super().sample(obs, num_samples)
        x, log_det = self.push(base.x)
        return PolicySample(x=x, noise=base.noise, log_prob=base.log_prob - log_det)

    def mode(self, obs: torch.Tensor) -> torch.Tensor:
        return self.push(super().mode(obs))[0]

    def transform(self, obs: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return self.push(super().transform(obs, noise))[0]

"""SAC-NF policy (Mazoure et al. 2019): a state-conditioned Gaussian followed by state-independent radial flows."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from algos.policies.base import PolicySample
from algos.policies.gaussian import GaussianPolicy


class RadialFlow(nn.Module):
    """f(z) = z + beta * h(r) * (z - z0), h(r) = 1 / (alpha + r), r = |z - z0| (Rezende and Mohamed 2015).

    alpha = softplus(alpha_raw) > 0 and beta = -alpha + softplus(beta_raw) >= -alpha keep f invertible, so the
    change of variables is exact. With every raw parameter at zero, beta = 0 and the layer starts as the identity:
    an untrained SAC-NF policy is the SAC Gaussian.
    """

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim
        self.center = nn.Parameter(torch.zeros(dim))
        self.alpha_raw = nn.Parameter(torch.zeros(()))
        self.beta_raw = nn.Parameter(torch.zeros(()))

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns f(z) and log|det df/dz| per sample, in closed form:
        (d - 1) log(1 + beta h) + log(1 + beta h + beta h'(r) r), with h'(r) = -h^2."""
        alpha = F.softplus(self.alpha_raw)
        beta = -alpha + F.softplus(self.beta_raw)
        offset = z - self.center
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
                 activation: str = "relu", log_std_min: float = -5.0, log_std_max: float = 2.0):
        super().__init__(obs_dim, act_dim, hidden_dim, depth, activation, log_std_min, log_std_max)
        self.flows = nn.ModuleList(RadialFlow(act_dim) for _ in range(num_flows))

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

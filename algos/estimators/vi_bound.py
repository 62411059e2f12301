"""The variational entropy bound of flow policies (the flow-policy VI post), with a learned backward network
q(z given x, s)."""

from __future__ import annotations

import math

import torch

from algos.estimators.base import EntropyEstimator
from algos.members import member_mean, normal_like, total
from algos.networks import frozen, mlp
from algos.normal import broadcast_to_samples, diag_normal_log_prob, repeat_obs, standard_normal_log_prob
from algos.optim import Adam
from algos.policies.base import NOISY_PUSHFORWARD, PUSHFORWARD_END, Policy, PolicySample
from algos.policies.gaussian import bounded_log_std


class VIBoundEstimator(EntropyEstimator):
    """L_vi = log N(z; 0, I) + log N(x; x_K, sigma^2 I) - log q(z given x, s) per sample.

    E[L_vi] = E[log p(x)] + E_x KL(p(z given x) || q(z given x)) >= E[log p(x)]: used as log pi it makes SAC's
    entropy a lower bound, which the policy pushes up and q tightens. Diagnostics add the importance-weighted
    bound log p_hat_M(x) <= log p(x) in expectation, so H_vi <= H <= H_iw.

    hidden_dim, depth, activation: q's MLP on (x, s), giving a Gaussian mean and log-std. q starts as the prior
    N(0, I), so the untrained bound is the entropy of the added noise alone: loose, but never absurdly low.
    log_std_min, log_std_max: q's log-std is squashed smoothly into this range (which must contain 0).
    lr: Adam step size of q (q has its own optimizer: the policy's holds only policy parameters).
    iw_samples: M, draws from q per action in the importance-weighted upper bound (the bound tightens as M grows).
    iw_chunk_size: actions per state pushed through the flow at once in that bound, to cap diagnostic memory.
    """

    requires = NOISY_PUSHFORWARD

    def __init__(self, policy: Policy, hidden_dim: int = 256, depth: int = 2, activation: str = "relu",
                 log_std_min: float = -7.0, log_std_max: float = 1.0, lr: float = 3e-4, iw_samples: int = 32,
                 iw_chunk_size: int = 64):
        super().__init__(policy)
        self.backward_net = mlp(policy.act_dim + policy.obs_dim, 2 * policy.act_dim, hidden_dim, depth, activation,
                                self.members)
        self.log_std_min = log_std_min
        self.log_std_max = log_std_max
        self.iw_samples = iw_samples
        self.iw_chunk_size = iw_chunk_size
        self._start_at_prior()
        self.optim = Adam(self.backward_net.parameters(), lr)

    @torch.no_grad()
    def _start_at_prior(self) -> None:
        """Zero output weights, and biases giving mean 0 and log-std 0 (the inverse of bounded_log_std at 0)."""
        if not self.log_std_min < 0.0 < self.log_std_max:
            raise ValueError(f"q's log-std range [{self.log_std_min}, {self.log_std_max}] must contain 0")
        output = self.backward_net[-1]
        output.weight.zero_()
        mean_bias, raw_log_std_bias = output.bias.chunk(2, dim=-1)
        mean_bias.zero_()
        raw_log_std_bias.fill_(math.atanh(-2.0 * self.log_std_min / (self.log_std_max - self.log_std_min) - 1.0))

    def optimizers(self) -> dict[str, Adam]:
        return {"backward": self.optim}

    def _backward_log_prob(self, z: torch.Tensor, x: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
        """log q(z given x, s)."""
        mean, log_std = self._backward_mean_log_std(x, obs)
        return diag_normal_log_prob(z, mean, log_std)

    def _backward_mean_log_std(self, x: torch.Tensor, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, raw = self.backward_net(torch.cat([x, obs], dim=-1)).chunk(2, dim=-1)
        return mean, bounded_log_std(raw, self.log_std_min, self.log_std_max)

    def _joint_log_prob(self, z: torch.Tensor, x: torch.Tensor, x_end: torch.Tensor) -> torch.Tensor:
        """log p(z, x) = log N(z; 0, I) + log N(x; x_K, sigma^2 I)."""
        log_sigma = x.new_tensor(math.log(self.policy.noise_std))
        return standard_normal_log_prob(z) + diag_normal_log_prob(x, x_end, log_sigma)

    def log_prob(self, obs: torch.Tensor, sample: PolicySample) -> torch.Tensor:
        joint = self._joint_log_prob(sample.noise, sample.x, sample.extras[PUSHFORWARD_END])
        return joint - self._backward_log_prob(sample.noise, sample.x, obs)

    def actor_log_prob(self, obs: torch.Tensor, sample: PolicySample) -> torch.Tensor:
        """L_vi with q's parameters frozen: the actor loss moves the policy through x and x_K, never q."""
        joint = self._joint_log_prob(sample.noise, sample.x, sample.extras[PUSHFORWARD_END])
        with frozen(self.backward_net.parameters()):
            return joint - self._backward_log_prob(sample.noise, sample.x, obs)

    def update(self, obs: torch.Tensor, sample: PolicySample) -> dict[str, torch.Tensor]:
        """Tightens the bound: maximum likelihood of the actor step's z given its x, with x detached."""
        nll = -member_mean(self._backward_log_prob(sample.noise.detach(), sample.x.detach(), obs), self.members)
        self.optim.zero_grad()
        total(nll).backward()
        self.optim.step()
        return {"train/q_backward_nll": nll.detach()}

    def importance_weighted_log_prob(self, obs: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """log p_hat_M(x) = logsumexp_m [log p(z_m, x) - log q(z_m given x, s)] - log M, z_m ~ q(. given x, s).

        Its expectation is at most log p(x) (Jensen), so its negation bounds the entropy from above. `obs` holds
        one row per state ([B, o] for x of [B, n, d]), so the flow conditions on each state once for all M * n draws.
        """
        obs_per_sample = broadcast_to_samples(obs, x).expand(*x.shape[:-1], obs.shape[-1])
        mean, log_std = self._backward_mean_log_std(x, obs_per_sample)
        mean, log_std = repeat_obs(mean, self.iw_samples), repeat_obs(log_std, self.iw_samples)
        z = mean + torch.exp(log_std) * normal_like(self.members, mean)
        x_end = self.policy.transform(obs, z)
        log_weights = self._joint_log_prob(z, x.unsqueeze(-2), x_end) - diag_normal_log_prob(z, mean, log_std)
        return torch.logsumexp(log_weights, dim=-1) - math.log(self.iw_samples)

    @torch.no_grad()
    def diagnostics(self, obs: torch.Tensor, num_samples: int) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """"estimate" and "lower" hold L_vi (its negation is the entropy lower bound), "upper" holds log p_hat_M."""
        sample = self.policy.sample(obs, num_samples)
        bound = self.log_prob(repeat_obs(obs, num_samples), sample)
        chunks = sample.x.split(self.iw_chunk_size, dim=-2)
        iw_bound = torch.cat([self.importance_weighted_log_prob(obs, x) for x in chunks], dim=-1)
        return {"estimate": (bound, sample.x), "lower": (bound, sample.x), "upper": (iw_bound, sample.x)}

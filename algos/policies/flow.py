"""Flow policy (the flow-policy VI post): noise through K Euler steps of a state-conditioned velocity field."""

from __future__ import annotations

import torch
from torch.func import jacrev, vmap

from algos.members import Members, normal, normal_like
from algos.networks import ContextMLP
from algos.normal import broadcast_to_samples, standard_normal_log_prob
from algos.policies.base import EXACT_DENSITY, NOISY_PUSHFORWARD, PUSHFORWARD_END, SAMPLES, Policy, PolicySample


class FlowPolicy(Policy):
    """z ~ N(0, I); x_0 = z; x_{k+1} = x_k + dt * v(x_k, t_k, s) with t_k = k * dt, dt = 1 / K; x = x_K + sigma * e.

    K = 1 is the one-step flow of the flow-policy VI post ("Approximate Entropy Regularization in Flow Policies
    with Variational Inference"). The added noise sigma * e gives the pair (z, x) a density, which is what the
    variational bound needs; with sigma = 0 the policy is the deterministic Euler map, whose density the
    exact estimator gets from the Jacobians (valid while dt * Lip(v) < 1, so that the map is invertible).
    v's first layer splits into W_x [x, t] + W_s s, and W_s s is computed once per state, not per sample and step.

    steps: Euler steps K.
    noise_std: sigma, the std of the Gaussian added after the flow (0 for the exact estimator).
    hidden_dim, depth, activation: the velocity MLP on (x, t, s); depth >= 1.
    members: a group of seeds (algos.policies.base.Policy).
    """


    def __init__(self, obs_dim: int, act_dim: int, steps: int = 4, noise_std: float = 0.1, hidden_dim: int = 256,
                 depth: int = 2, activation: str = "relu", members: Members | None = None):
        super().__init__(obs_dim, act_dim, members)
        if steps < 1:
            raise ValueError(f"a flow needs at least one Euler step, got steps={steps}")
        if noise_std < 0:
            raise ValueError(f"noise_std must be non-negative, got {noise_std}")
        self.steps = steps
        self.noise_std = noise_std
        self.dt = 1.0 / steps
        self.velocity = ContextMLP(act_dim + 1, obs_dim, act_dim, hidden_dim, depth, activation, members)

    def _context(self, obs: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """W_s s for each state in `obs`, shaped to broadcast over the sample axes z has beyond obs."""
        return broadcast_to_samples(self.velocity.project_context(obs), z)

    def _velocity(self, x: torch.Tensor, k: int, context: torch.Tensor) -> torch.Tensor:
        t = x.new_full((*x.shape[:-1], 1), k * self.dt)
        return self.velocity(torch.cat([x, t], dim=-1), context)

    def push(self, obs: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """x_K for given base noise z [*S, *sample_axes, d] and states obs [*S, o] (obs may also carry z's sample
        axes). The IW bound pushes q's draws through this."""
        x = z
        context = self._context(obs, z)
        for k in range(self.steps):
            x = x + self.dt * self._velocity(x, k, context)
        return x

    def transform(self, obs: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """x_K for given z (the Policy seam's name for `push`); the added noise sigma * e is not included."""
        return self.push(obs, noise)

    def _euler_step_matrices(self, obs: torch.Tensor, z: torch.Tensor):
        """Yields I + dt * dv/dx(x_k, t_k, s) [N, d, d] for each step k, flattened over samples, then x_K [N, d].

        Costs d backward passes per step (jacrev), batched with vmap over every sample."""
        if self.members is not None:
            yield from self._group_euler_step_matrices(obs, z)
            return
        context = self._context(obs, z)
        context = context.expand(*z.shape[:-1], context.shape[-1]).reshape(-1, context.shape[-1])
        x = z.reshape(-1, self.act_dim)
        eye = torch.eye(self.act_dim, dtype=z.dtype, device=z.device)
        for k in range(self.steps):
            def velocity_twice(x_one: torch.Tensor, context_one: torch.Tensor, k: int = k):
                v = self._velocity(x_one, k, context_one)
                return v, v  # the second copy rides along as aux, so one pass gives v and its Jacobian

            jac, v = vmap(jacrev(velocity_twice, has_aux=True))(x, context)
            yield eye + self.dt * jac
            x = x + self.dt * v
        yield x

    def _group_euler_step_matrices(self, obs: torch.Tensor, z: torch.Tensor):
        """The same matrices for a group, flattened over members then samples. Members are independent, so the
        gradient of the velocity summed over members gives every member's Jacobian row at once: d backward passes
        per step for the whole group, as for one seed."""
        group = z.shape[0]
        context = self._context(obs, z)
        context = context.expand(*z.shape[:-1], context.shape[-1]).reshape(group, -1, context.shape[-1])
        x = z.reshape(group, -1, self.act_dim)
        eye = torch.eye(self.act_dim, dtype=z.dtype, device=z.device)
        for k in range(self.steps):
            def velocity_summed(x_one: torch.Tensor, context_one: torch.Tensor, k: int = k):
                v = self._velocity(x_one, k, context_one)  # [G, d]: one sample of every member
                return v.sum(0), v

            jac, v = vmap(jacrev(velocity_summed, has_aux=True), in_dims=1, out_dims=(1, 1))(x, context)
            yield eye + self.dt * jac.permute(2, 1, 0, 3).reshape(-1, self.act_dim, self.act_dim)
            x = x + self.dt * v
        yield x.reshape(-1, self.act_dim)

    def push_with_log_det(self, obs: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x_K and sum_k log|det(I + dt * dv/dx(x_k, t_k, s))|.

        Only the exact estimator calls it. The result stays differentiable w.r.t. the velocity's parameters, so it
        can be trained through.
        """
        *matrices, x = self._euler_step_matrices(obs, z)
        log_det = sum(torch.linalg.slogdet(m).logabsdet for m in matrices)
        return x.reshape(z.shape), log_det.reshape(z.shape[:-1])

    @torch.no_grad()
    def sign_changed(self, obs: torch.Tensor, z: torch.Tensor, min_singular_value: float = 1e-3) -> torch.Tensor:
        """True per sample [*z.shape[:-1]] where some Euler step I + dt * dv/dx has a non-positive determinant or
        a smallest singular value below `min_singular_value`: the step reverses orientation there (or nearly).

        A flag that the map folds, not the share of samples whose exact log-density is wrong. Where a step of
        degree one (x + dt v(x) with v of bounded growth) has det < 0, its image point has at least two more
        preimages, so a flagged sample's density is wrong; but so is that of every unflagged sample whose image
        the fold also covers, which the sign cannot see. In 1-D, x = z^3 - 3 c^2 z flags |z| < c while every
        |z| <= 2 c has a second preimage (tests/test_flow_vi.py). The flag is a lower bound on that share.
        """
        *matrices, _ = self._euler_step_matrices(obs, z)
        bad = torch.zeros(matrices[0].shape[0], dtype=torch.bool, device=z.device)
        for m in matrices:
            bad |= (torch.linalg.det(m) <= 0) | (torch.linalg.svdvals(m)[..., -1] < min_singular_value)
        return bad.reshape(z.shape[:-1])

    def sample(self, obs: torch.Tensor, num_samples: int | None = None) -> PolicySample:
        sample_axes = () if num_samples is None else (num_samples,)
        z = normal(self.members, (*obs.shape[:-1], *sample_axes, self.act_dim), obs.device, obs.dtype)
        x_end = self.push(obs, z)
        x = x_end + self.noise_std * normal_like(self.members, x_end) if self.noise_std > 0 else x_end
        return PolicySample(x=x, noise=z, extras={PUSHFORWARD_END: x_end})

    def capabilities(self) -> frozenset[str]:
        """The one place the noise rule lives: with added noise the flow is a noisy push-forward (the VI bound's
        case), without it a deterministic bijection with an exact density (the exact estimator's case)."""
        return frozenset({SAMPLES, NOISY_PUSHFORWARD if self.noise_std > 0 else EXACT_DENSITY})

    def lacks(self, capability: str) -> str:
        if capability == EXACT_DENSITY:
            return f"the flow with noise_std={self.noise_std} has none, only the noise-free Euler map has one"
        if capability == NOISY_PUSHFORWARD:
            return "the flow with noise_std=0 adds no noise after its Euler map"
        return super().lacks(capability)

    def exact_log_prob(self, obs: torch.Tensor, sample: PolicySample) -> torch.Tensor:
        """log p(x_K) = log N(z) - sum_k log|det(I + dt * dv/dx)|, recomputed from z so gradients reach v."""
        if EXACT_DENSITY not in self.capabilities():
            raise ValueError(self.lacks(EXACT_DENSITY))
        _, log_det = self.push_with_log_det(obs, sample.noise)
        return standard_normal_log_prob(sample.noise) - log_det

    def mode(self, obs: torch.Tensor) -> torch.Tensor:
        """The image of z = 0, without the added noise."""
        return self.push(obs, obs.new_zeros(*obs.shape[:-1], self.act_dim))

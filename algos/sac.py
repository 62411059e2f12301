"""Soft actor-critic, written once: the policy family and the entropy estimator are the only moving parts."""

from __future__ import annotations

import copy

import numpy as np
import torch

from algos.critic import DoubleQ
from algos.estimators.base import EntropyEstimator
from algos.losses import actor_loss, critic_loss, soft_target
from algos.members import total
from algos.networks import frozen
from algos.optim import Adam, MemberAdam
from algos.precision import check_precision, matmul_precision
from algos.policies.base import Policy, PolicySample
from algos.replay import Batch
from algos.temperature import Temperature

CRITIC_UPDATES = ("joint", "sequential")


class SAC:
    """act(obs, eval_mode) and update(batch) -> metrics, with SAC's critic, actor, estimator, temperature and
    target steps in that order.

    gamma: discount.
    tau: Polyak rate of the target critic.
    lr: Adam step size of every network.
    critic_update: "joint" takes one Adam step on the ensemble's summed loss; "sequential" takes one step per
        ensemble member, each on that member's own loss with every other member's gradient zeroed (not dropped),
        so between its own steps a member still moves by Adam's momentum, and each member counts its own Adam
        steps from its first turn on. Sequential is the critic step of Lim et al.'s AR-DAE code
        (lim0606/pytorch-ardae-rl, sac_ardae.py): one Adam over both Q networks, zero_grad then backward and step
        per Q loss, under a torch whose zero_grad zeroed gradients, so that Q2 starts one Adam step after Q1.
        Both losses come from one forward pass, as there.
    target_squash_floor: floor of the tanh term of log pi in the critic's target (algos.squash.squashed_log_prob);
        0 is exact, the AR-DAE authors' code uses 1e-7.
    precision: "fp32", "tf32" or "bf16", the arithmetic of the matmuls in `update` and `act` (algos.precision);
        parameters, optimizer state and the metrics returned stay float32.

    Built from group modules (`members`, algos.members) it trains G seeds at once: batches [G, B, .], `act` takes
    [G, obs_dim], metrics are [G], and the loss it differentiates is the sum of the members' own means, so each
    member gets exactly its single-seed gradient. Adam is elementwise, so each member's optimizer state is its own.
    """

    def __init__(self, policy: Policy, estimator: EntropyEstimator, critic: DoubleQ, temperature: Temperature,
                 device: torch.device, gamma: float = 0.99, tau: float = 0.005, lr: float = 3e-4,
                 critic_update: str = "joint", target_squash_floor: float = 0.0, precision: str = "fp32"):
        if critic_update not in CRITIC_UPDATES:
            raise ValueError(f"critic_update must be one of {CRITIC_UPDATES}, got {critic_update!r}")
        groups = {getattr(m.members, "size", None) for m in (policy, critic, temperature)}
        if len(groups) != 1:
            raise ValueError(f"policy, critic and temperature must share one group size, got {groups}")
        self.members = policy.members
        self.device = device
        self.policy = policy.to(device)
        self.estimator = estimator.to(device)
        self.critic = critic.to(device)
        self.target_critic = copy.deepcopy(self.critic).requires_grad_(False)
        self.temperature = temperature.to(device)
        self.gamma = gamma
        self.tau = tau
        self.critic_update = critic_update
        self.target_squash_floor = target_squash_floor
        self.precision = check_precision(precision)
        self.critic_optim = (Adam(self.critic.parameters(), lr) if critic_update == "joint" else
                             MemberAdam(self.critic.parameters(), lr, critic.num_members, critic.member_axis))
        self.policy_optim = Adam(self.policy.parameters(), lr)
        self.alpha_optim = Adam(self.temperature.parameters(), lr) if temperature.autotune else None
        self._critic_params = list(self.critic.parameters())
        self._target_params = list(self.target_critic.parameters())

    @torch.inference_mode()
    def act(self, obs: np.ndarray, eval_mode: bool = False) -> np.ndarray:
        """A bounded action in [-1, 1]^d for one observation (one per member, [G, d], in a group): the mode when
        evaluating, else a sample."""
        obs_t = torch.as_tensor(obs, dtype=torch.float32, device=self.device).unsqueeze(-2)
        with matmul_precision(self.precision, self.device):
            x = self.policy.mode(obs_t) if eval_mode else self.policy.sample(obs_t).x
        return torch.tanh(x.float()).squeeze(-2).cpu().numpy()

    def update(self, batch: Batch) -> dict[str, torch.Tensor]:
        """One gradient step of every part. Returns detached float32 tensors ([G] each in a group); the caller
        syncs only when it logs."""
        with matmul_precision(self.precision, self.device):
            metrics = self._update(batch)
        return {name: value.float() for name, value in metrics.items()}

    def _update(self, batch: Batch) -> dict[str, torch.Tensor]:
        alpha = self.temperature.alpha
        metrics = self._critic_step(batch, alpha)
        actor_metrics, sample, log_prob = self._actor_step(batch.obs, alpha)
        metrics.update(actor_metrics)
        metrics.update(self.estimator.update(batch.obs, sample))
        if self.alpha_optim is not None:
            metrics.update(self._temperature_step(log_prob))
        metrics["train/alpha"] = alpha
        self._polyak()
        return metrics

    def _critic_step(self, batch: Batch, alpha: torch.Tensor) -> dict[str, torch.Tensor]:
        target, bonus = soft_target(self.target_critic, self.policy, self.estimator, batch.next_obs, batch.reward,
                                    batch.terminated, alpha, self.gamma, self.target_squash_floor)
        target = target - self.estimator.target_shift(bonus)  # zero unless the estimator corrects its targets
        return self._critic_optim_step(batch, target)

    def _critic_optim_step(self, batch: Batch, target: torch.Tensor) -> dict[str, torch.Tensor]:
        loss, metrics = critic_loss(self.critic, batch.obs, batch.action, target)
        if self.critic_update == "joint":
            self._step(self.critic_optim, loss)
        else:
            self._sequential_critic_steps(loss)
        return metrics

    def _actor_step(self, obs: torch.Tensor, alpha: torch.Tensor
                    ) -> tuple[dict[str, torch.Tensor], PolicySample, torch.Tensor]:
        with frozen(self._critic_params):  # the actor's backward pass needs no gradient for the critic's weights
            loss, metrics, sample, log_prob = actor_loss(self.critic, self.policy, self.estimator, obs, alpha)
        self._step(self.policy_optim, loss)
        return metrics, sample, log_prob

    def _temperature_step(self, log_prob: torch.Tensor) -> dict[str, torch.Tensor]:
        loss, metrics = self.temperature.loss(log_prob)
        self._step(self.alpha_optim, loss)
        return metrics

    @torch.no_grad()
    def _polyak(self) -> None:
        torch._foreach_lerp_(self._target_params, self._critic_params, self.tau)

    @staticmethod
    def _step(optim: Adam, loss: torch.Tensor) -> None:
        optim.zero_grad()
        total(loss).backward()
        optim.step()

    def _sequential_critic_steps(self, loss: torch.Tensor) -> None:
        """One Adam step per ensemble member (algos.optim.MemberAdam). A member's parameters are its own slice of
        each ensemble tensor and its loss reaches nothing else, so one backward pass gives every member its own
        loss's gradient; on each member's turn the others see a zeroed gradient, as torch.optim.Adam does."""
        self.critic_optim.zero_grad()
        total(loss).backward()
        grads = [p.grad for p in self._critic_params]
        for turn in range(self.critic.num_members):
            self.critic_optim.step_member(turn, grads)

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"policy": self.policy, "estimator": self.estimator, "critic": self.critic,
                "target_critic": self.target_critic, "temperature": self.temperature}

    def optimizers(self) -> dict[str, Adam]:
        optims = {"critic": self.critic_optim, "policy": self.policy_optim}
        if self.alpha_optim is not None:
            optims["alpha"] = self.alpha_optim
        optims.update({f"estimator.{k}": v for k, v in self.estimator.optimizers().items()})
        return optims

    def state_dict(self) -> dict:
        return {"modules": {k: m.state_dict() for k, m in self.modules().items()},
                "optimizers": {k: o.state_dict() for k, o in self.optimizers().items()}}

    def load_state_dict(self, state: dict) -> None:
        for k, m in self.modules().items():
            m.load_state_dict(state["modules"][k])
        for k, o in self.optimizers().items():
            o.load_state_dict(state["optimizers"][k])

"""Soft actor-critic, written once: the policy family and the entropy estimator are the only moving parts."""

from __future__ import annotations

import copy

import numpy as np
import torch

from algos.critic import DoubleQ
from algos.estimators.base import EntropyEstimator
from algos.losses import actor_loss, critic_loss, soft_target
from algos.networks import frozen
from algos.optim import Adam
from algos.policies.base import Policy
from algos.replay import Batch
from algos.temperature import Temperature


class SAC:
    """act(obs, eval_mode) and update(batch) -> metrics, with SAC's critic, actor, estimator, temperature and
    target steps in that order.

    gamma: discount. tau: Polyak rate of the target critic. lr: Adam step size of every network.
    target_calibration: subtract from the critic target a running mean B of its entropy bonus,
    gamma * (1 - terminated) * alpha * (-log pi), so the target is centred (AR-DAE paper, Appendix G.2, with the
    sign of the authors' code: the paper's formula read literally doubles the bonus instead of centring it);
    calibration_momentum: B's exponential-average rate.
    """

    def __init__(self, policy: Policy, estimator: EntropyEstimator, critic: DoubleQ, temperature: Temperature,
                 device: torch.device, gamma: float = 0.99, tau: float = 0.005, lr: float = 3e-4,
                 target_calibration: bool = False, calibration_momentum: float = 0.005):
        self.device = device
        self.policy = policy.to(device)
        self.estimator = estimator.to(device)
        self.critic = critic.to(device)
        self.target_critic = copy.deepcopy(self.critic).requires_grad_(False)
        self.temperature = temperature.to(device)
        self.gamma = gamma
        self.tau = tau
        self.target_calibration = target_calibration
        self.calibration_momentum = calibration_momentum
        self.target_shift = torch.zeros((), device=device)
        self.critic_optim = Adam(self.critic.parameters(), lr)
        self.policy_optim = Adam(self.policy.parameters(), lr)
        self.alpha_optim = Adam(self.temperature.parameters(), lr) if temperature.autotune else None
        self._critic_params = list(self.critic.parameters())
        self._target_params = list(self.target_critic.parameters())

    @torch.inference_mode()
    def act(self, obs: np.ndarray, eval_mode: bool = False) -> np.ndarray:
        """A bounded action in [-1, 1]^d for one observation: the mode when evaluating, else a sample."""
        obs_t = torch.as_tensor(obs, dtype=torch.float32, device=self.device).unsqueeze(0)
        x = self.policy.mode(obs_t) if eval_mode else self.policy.sample(obs_t).x
        return torch.tanh(x)[0].cpu().numpy()

    def update(self, batch: Batch) -> dict[str, torch.Tensor]:
        """One gradient step of every part. Returns detached tensors; the caller syncs only when it logs."""
        alpha = self.temperature.alpha

        target, next_log_prob = soft_target(self.target_critic, self.policy, self.estimator, batch.next_obs,
                                            batch.reward, batch.terminated, alpha, self.gamma, self.target_shift)
        loss, metrics = critic_loss(self.critic, batch.obs, batch.action, target)
        self._step(self.critic_optim, loss)

        with frozen(self._critic_params):  # the actor's backward pass needs no gradient for the critic's weights
            loss, actor_metrics, sample, log_prob = actor_loss(self.critic, self.policy, self.estimator, batch.obs,
                                                               alpha)
        self._step(self.policy_optim, loss)
        metrics.update(actor_metrics)

        metrics.update(self.estimator.update(batch.obs, sample))

        if self.alpha_optim is not None:
            loss, alpha_metrics = self.temperature.loss(log_prob)
            self._step(self.alpha_optim, loss)
            metrics.update(alpha_metrics)
        metrics["train/alpha"] = alpha

        if self.target_calibration:
            bonus = -self.gamma * alpha * (1.0 - batch.terminated) * next_log_prob
            self.target_shift.lerp_(bonus.mean(), self.calibration_momentum)
            metrics["train/target_shift"] = self.target_shift.clone()

        with torch.no_grad():
            torch._foreach_lerp_(self._target_params, self._critic_params, self.tau)
        return metrics

    @staticmethod
    def _step(optim: Adam, loss: torch.Tensor) -> None:
        optim.zero_grad()
        loss.backward()
        optim.step()

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
                "optimizers": {k: o.state_dict() for k, o in self.optimizers().items()},
                "target_shift": self.target_shift}

    def load_state_dict(self, state: dict) -> None:
        for k, m in self.modules().items():
            m.load_state_dict(state["modules"][k])
        for k, o in self.optimizers().items():
            o.load_state_dict(state["optimizers"][k])
        self.target_shift.copy_(state["target_shift"])

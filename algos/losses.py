"""SAC's losses, one per function, each returning (loss, metrics). Metrics stay tensors: no host sync here."""

from __future__ import annotations

import torch

from algos.critic import DoubleQ
from algos.estimators.base import EntropyEstimator
from algos.policies.base import Policy, PolicySample
from algos.squash import squashed_log_prob


def soft_target(
    target_critic: DoubleQ,
    policy: Policy,
    estimator: EntropyEstimator,
    next_obs: torch.Tensor,
    reward: torch.Tensor,
    terminated: torch.Tensor,
    alpha: torch.Tensor,
    gamma: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """y = r + gamma * (1 - terminated) * (min_j Qbar_j(s', a') - alpha * log pi(a' given s')).

    Only termination stops the bootstrap: a time-limit truncation is stored as not terminated. Returns y and its
    entropy bonus gamma * (1 - terminated) * alpha * (-log pi(a' given s')), per transition, for an estimator that
    corrects the target (EntropyEstimator.target_shift).
    """
    with torch.no_grad():
        sample = policy.sample(next_obs)
        log_prob = squashed_log_prob(estimator.log_prob(next_obs, sample), sample.x)
        next_q = target_critic(next_obs, torch.tanh(sample.x)).min(dim=0).values
        y = reward + gamma * (1.0 - terminated) * (next_q - alpha * log_prob)
        bonus = -gamma * (1.0 - terminated) * alpha * log_prob
    return y, bonus


def critic_loss(critic: DoubleQ, obs: torch.Tensor, action: torch.Tensor, target: torch.Tensor
                ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Half squared TD error of every ensemble member, summed over members."""
    q = critic(obs, action)
    loss = 0.5 * (q - target.unsqueeze(0)).pow(2).mean(dim=1).sum()
    return loss, {"train/critic_loss": loss.detach(), "train/q_mean": q.detach().mean(),
                  "train/target_mean": target.mean()}


def actor_loss(critic: DoubleQ, policy: Policy, estimator: EntropyEstimator, obs: torch.Tensor,
               alpha: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor], PolicySample, torch.Tensor]:
    """E[alpha * log pi(a given s) - min_j Q_j(s, a)] with a reparameterized; the estimator supplies log pi.

    Also returns the sample and its log pi so the estimator and temperature updates reuse them.
    """
    sample = policy.sample(obs)
    log_prob = squashed_log_prob(estimator.actor_log_prob(obs, sample), sample.x)
    q = critic(obs, torch.tanh(sample.x)).min(dim=0).values
    loss = (alpha * log_prob - q).mean()
    metrics = {"train/actor_loss": loss.detach(), "train/entropy": -log_prob.detach().mean()}
    extra = policy.penalty(obs, sample)
    if extra is not None:
        penalty, penalty_metrics = extra
        loss = loss + penalty
        metrics.update(penalty_metrics)
    return loss, metrics, sample, log_prob

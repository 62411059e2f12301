"""SAC's losses, one per function, each returning (loss, metrics). Metrics stay tensors: no host sync here.

In a group of seeds (algos.members) every input has a leading member axis G, alpha is [G], and each loss and
metric is one value per member, [G]: each member's own mean over its batch, never a mean across members."""

from __future__ import annotations

import torch

from algos.critic import DoubleQ
from algos.estimators.base import EntropyEstimator
from algos.members import member_mean, per_member
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
    squash_floor: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """y = r + gamma * (1 - terminated) * (min_j Qbar_j(s', a') - alpha * log pi(a' given s')).

    Only termination stops the bootstrap: a time-limit truncation is stored as not terminated. Returns y and its
    entropy bonus gamma * (1 - terminated) * alpha * (-log pi(a' given s')), per transition, for an estimator that
    corrects the target (EntropyEstimator.target_shift). squash_floor: of log pi's tanh term (squashed_log_prob).
    """
    with torch.no_grad():
        sample = policy.sample(next_obs)
        log_prob = squashed_log_prob(estimator.log_prob(next_obs, sample), sample.x, squash_floor)
        next_q = target_critic(next_obs, torch.tanh(sample.x)).min(dim=-2).values
        alpha = per_member(alpha, log_prob)
        y = reward + gamma * (1.0 - terminated) * (next_q - alpha * log_prob)
        bonus = -gamma * (1.0 - terminated) * alpha * log_prob
    return y, bonus


def critic_loss(critic: DoubleQ, obs: torch.Tensor, action: torch.Tensor, target: torch.Tensor
                ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Half squared TD error of every Q-ensemble member, summed over the ensemble."""
    q = critic(obs, action)
    loss = 0.5 * (q - target.unsqueeze(-2)).pow(2).mean(dim=-1).sum(dim=-1)
    return loss, {"train/critic_loss": loss.detach(), "train/q_mean": member_mean(q.detach(), critic.members),
                  "train/target_mean": member_mean(target, critic.members)}


def actor_loss(critic: DoubleQ, policy: Policy, estimator: EntropyEstimator, obs: torch.Tensor,
               alpha: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor], PolicySample, torch.Tensor]:
    """E[alpha * log pi(a given s) - min_j Q_j(s, a)] with a reparameterized; the estimator supplies log pi.

    Also returns the sample and its log pi so the estimator and temperature updates reuse them.
    """
    sample = policy.sample(obs)
    log_prob = squashed_log_prob(estimator.actor_log_prob(obs, sample), sample.x)
    q = critic(obs, torch.tanh(sample.x)).min(dim=-2).values
    loss = member_mean(per_member(alpha, log_prob) * log_prob - q, policy.members)
    metrics = {"train/actor_loss": loss.detach(), "train/entropy": -member_mean(log_prob.detach(), policy.members)}
    extra = policy.penalty(obs, sample)
    if extra is not None:
        penalty, penalty_metrics = extra
        loss = loss + penalty
        metrics.update(penalty_metrics)
    return loss, metrics, sample, log_prob

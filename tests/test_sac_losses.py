"""SAC's losses move only what they should: critic loss -> critic, actor loss -> policy, Polyak -> targets."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from algos.critic import DoubleQ
from algos.estimators import ExactEstimator
from algos.losses import actor_loss, critic_loss, soft_target
from algos.policies import GaussianPolicy
from algos.replay import ReplayBuffer
from algos.sac import SAC
from algos.temperature import Temperature

OBS, ACT = 6, 3


def make_agent(autotune: bool = False, target_squash_floor: float = 0.0) -> SAC:
    torch.manual_seed(0)
    policy = GaussianPolicy(OBS, ACT, hidden_dim=32)
    return SAC(policy, ExactEstimator(policy), DoubleQ(OBS, ACT, hidden_dim=32),
               Temperature(0.1, autotune=autotune, target_entropy=-float(ACT)), device=torch.device("cpu"),
               tau=0.01, target_squash_floor=target_squash_floor)


def make_batch(n: int = 64):
    rng = np.random.default_rng(0)
    buffer = ReplayBuffer(OBS, ACT, capacity=n, device=torch.device("cpu"))
    for i in range(n):
        buffer.add(rng.normal(size=OBS), rng.uniform(-1, 1, ACT), rng.normal(), rng.normal(size=OBS), i % 7 == 0)
    return buffer.sample(32)


def grads_of(module: torch.nn.Module) -> list[bool]:
    return [p.grad is not None and bool(p.grad.abs().sum() > 0) for p in module.parameters()]


def test_critic_loss_reaches_only_the_critic():
    agent, batch = make_agent(), make_batch()
    target, _ = soft_target(agent.target_critic, agent.policy, agent.estimator, batch.next_obs, batch.reward,
                            batch.terminated, agent.temperature.alpha, agent.gamma)
    assert not target.requires_grad
    loss, _ = critic_loss(agent.critic, batch.obs, batch.action, target)
    loss.backward()
    assert all(grads_of(agent.critic))
    assert not any(grads_of(agent.policy)) and not any(grads_of(agent.target_critic))


def test_actor_loss_reaches_the_critic_unless_frozen():
    """The actor loss depends on the critic's weights: only SAC.update's freezing keeps its gradient out."""
    agent, batch = make_agent(), make_batch()
    loss, *_ = actor_loss(agent.critic, agent.policy, agent.estimator, batch.obs, agent.temperature.alpha)
    loss.backward()
    assert all(grads_of(agent.policy)) and all(grads_of(agent.critic))


@pytest.mark.parametrize("autotune", [False, True])
def test_update_sends_the_critic_only_its_own_loss_gradient(autotune: bool):
    """After SAC.update the critic's .grad is exactly the critic loss's gradient: the actor step that follows it
    added nothing (its backward pass ran with the critic's weights frozen by SAC.update itself)."""
    agent, batch = make_agent(autotune), make_batch()
    reference = copy.deepcopy(agent)
    torch.manual_seed(1)
    target, _ = soft_target(reference.target_critic, reference.policy, reference.estimator, batch.next_obs,
                            batch.reward, batch.terminated, reference.temperature.alpha, reference.gamma)
    loss, _ = critic_loss(reference.critic, batch.obs, batch.action, target)
    loss.backward()
    torch.manual_seed(1)
    agent.update(batch)
    for updated, expected in zip(agent.critic.parameters(), reference.critic.parameters()):
        torch.testing.assert_close(updated.grad, expected.grad, rtol=0, atol=0)
    assert all(p.requires_grad for p in agent.critic.parameters())  # thawed again for the next critic step


def test_terminal_transitions_do_not_bootstrap():
    agent, batch = make_agent(), make_batch()
    done = torch.ones_like(batch.terminated)
    target, _ = soft_target(agent.target_critic, agent.policy, agent.estimator, batch.next_obs, batch.reward, done,
                            agent.temperature.alpha, agent.gamma)
    assert torch.equal(target, batch.reward)


@pytest.mark.parametrize("autotune", [False, True])
def test_update_moves_targets_only_by_polyak(autotune: bool):
    agent, batch = make_agent(autotune), make_batch()
    critic_before = [p.detach().clone() for p in agent.critic.parameters()]
    target_before = [p.detach().clone() for p in agent.target_critic.parameters()]
    policy_before = [p.detach().clone() for p in agent.policy.parameters()]
    alpha_before = agent.temperature.alpha.clone()
    metrics = agent.update(batch)
    assert all(torch.isfinite(v).all() for v in metrics.values())
    for old_t, old_c, new_c, new_t in zip(target_before, critic_before, agent.critic.parameters(),
                                          agent.target_critic.parameters()):
        # target <- target + tau * (critic_after - target): the critic's new weights, no gradient of its own
        torch.testing.assert_close(new_t, old_t + agent.tau * (new_c.detach() - old_t))
        assert not torch.equal(new_c, old_c)
    assert any(not torch.equal(a, b) for a, b in zip(policy_before, agent.policy.parameters()))
    assert (agent.temperature.alpha != alpha_before) == autotune


def test_alpha_rises_when_entropy_is_below_target():
    temperature = Temperature(0.1, autotune=True, target_entropy=0.0)
    loss, _ = temperature.loss(torch.full((8,), 5.0))  # log pi = 5: entropy -5, far below the target 0
    loss.backward()
    assert temperature.log_alpha.grad < 0  # gradient descent raises log alpha


def test_the_target_squash_floor_reaches_the_critic_target():
    """With next actions saturated, the floored target's entropy bonus is capped: SAC.update passes its floor."""
    batch = make_batch()
    targets = {}
    for floor in (0.0, 1e-7):
        agent = make_agent(target_squash_floor=floor)
        with torch.no_grad():
            agent.policy.net[-1].bias[:ACT] = 40.0  # means far into tanh's flat tails
        torch.manual_seed(5)
        targets[floor] = agent.update(batch)["train/target_mean"]
    exact, floored = targets[0.0], targets[1e-7]
    # saturated actions have a huge density: the exact log pi grows without bound and drags the target down, the
    # floored one stops at 16.1 nats per dimension
    assert floored > exact + 10

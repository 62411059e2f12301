"""Sequential critic steps are torch.optim.Adam's two steps over both Q networks with zeroed gradients: the
critic step of Lim et al.'s AR-DAE code (lim0606/pytorch-ardae-rl, sac_ardae.py)."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from algos.critic import DoubleQ
from algos.estimators import ExactEstimator
from algos.losses import soft_target
from algos.policies import GaussianPolicy
from algos.sac import SAC
from algos.temperature import Temperature
from tests.test_sac_losses import ACT, OBS, make_batch

LR, UPDATES = 1e-2, 4  # a large step, so that a momentum-only move is far above the tolerance


def make_agent(critic_update: str) -> SAC:
    torch.manual_seed(0)
    policy = GaussianPolicy(OBS, ACT, hidden_dim=16)
    return SAC(policy, ExactEstimator(policy), DoubleQ(OBS, ACT, hidden_dim=8), Temperature(0.1),
               device=torch.device("cpu"), lr=LR, critic_update=critic_update)


def q_networks(critic: DoubleQ) -> list[nn.Sequential]:
    """Each ensemble member as its own nn.Sequential of nn.Linear, with the member's weights."""
    networks = []
    for j in range(critic.num_members):
        layers = []
        for module in critic.net:
            if hasattr(module, "weight"):
                linear = nn.Linear(*module.weight.shape[1:])
                with torch.no_grad():
                    linear.weight.copy_(module.weight[j].T)
                    linear.bias.copy_(module.bias[j, 0])
                layers.append(linear)
            else:
                layers.append(copy.deepcopy(module))
        networks.append(nn.Sequential(*layers))
    return networks


def reference_critics(agent: SAC, batch, set_to_none: bool) -> list[nn.Sequential]:
    """The agent's critic after UPDATES updates as the authors step it: one torch.optim.Adam over both Q networks,
    per update one forward pass, then zero_grad, backward and step for Q1's loss, then for Q2's.

    Every gradient exists from the start, as it does in the authors' run from its second update on (the actor's
    backward pass fills the critic's); at their very first step Q2's was still None, so Adam skipped it once.
    """
    agent = copy.deepcopy(agent)
    networks = q_networks(agent.critic)
    params = [p for net in networks for p in net.parameters()]
    for param in params:
        param.grad = torch.zeros_like(param)
    optim = torch.optim.Adam(params, lr=LR)
    for update in range(UPDATES):
        torch.manual_seed(100 + update)  # the agent's update draws the same next actions
        target, _ = soft_target(agent.target_critic, agent.policy, agent.estimator, batch.next_obs, batch.reward,
                                batch.terminated, agent.temperature.alpha, agent.gamma)
        inputs = torch.cat([batch.obs, batch.action], dim=-1)
        losses = [0.5 * (net(inputs).squeeze(-1) - target).pow(2).mean() for net in networks]
        grads = [torch.autograd.grad(loss, list(net.parameters())) for loss, net in zip(losses, networks)]
        for net, net_grads in zip(networks, grads):
            optim.zero_grad(set_to_none=set_to_none)
            for param, grad in zip(net.parameters(), net_grads):
                param.grad = grad.clone()
            optim.step()
        torch.manual_seed(100 + update)
        agent.update(batch)  # moves the policy and target critic the reference's next targets come from
    return networks


def trained_critic(critic_update: str, batch) -> DoubleQ:
    agent = make_agent(critic_update)
    for update in range(UPDATES):
        torch.manual_seed(100 + update)
        agent.update(batch)
    return agent.critic


def max_difference(critic: DoubleQ, networks: list[nn.Sequential]) -> float:
    return max((a - b).abs().max().item() for a, b in zip(q_networks(critic), networks)
               for a, b in zip(a.parameters(), b.parameters()))


def test_sequential_is_torch_adam_stepping_each_q_loss_with_zeroed_gradients():
    batch = make_batch()
    reference = reference_critics(make_agent("sequential"), batch, set_to_none=False)
    assert max_difference(trained_critic("sequential", batch), reference) < 1e-5


@pytest.mark.parametrize("other", ["joint", "dropped gradients"])
def test_the_comparison_tells_sequential_from(other: str):
    """The check above can fail: joint steps, or sequential steps whose other gradients are dropped (where Adam
    leaves the other Q network still), end far from the reference."""
    batch = make_batch()
    if other == "joint":
        reference = reference_critics(make_agent("sequential"), batch, set_to_none=False)
        assert max_difference(trained_critic("joint", batch), reference) > 1e-3
    else:
        reference = reference_critics(make_agent("sequential"), batch, set_to_none=True)
        assert max_difference(trained_critic("sequential", batch), reference) > 1e-3


def test_sequential_takes_one_optimizer_step_per_q_network():
    batch = make_batch()
    agent = make_agent("sequential")
    agent.update(batch)
    assert agent.critic_optim.step_count.item() == agent.critic.num_members

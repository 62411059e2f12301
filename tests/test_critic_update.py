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
from algos.optim import MemberAdam
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

    No gradient exists before the first backward pass, as in the authors' run: at the very first step Q2's is
    None, so Adam skips Q2 and starts its step count one step after Q1's.
    """
    agent = copy.deepcopy(agent)
    networks = q_networks(agent.critic)
    params = [p for net in networks for p in net.parameters()]
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


@pytest.mark.parametrize("other", ["joint", "dropped gradients", "one shared step count"])
def test_the_comparison_tells_sequential_from(other: str):
    """The check above can fail: joint steps, sequential steps whose other gradients are dropped (where Adam
    leaves the other Q network still), or one step count for both networks (Q2 counting from Q1's first step)
    end far from the reference."""
    batch = make_batch()
    reference = reference_critics(make_agent("sequential"), batch, set_to_none=other == "dropped gradients")
    if other == "joint":
        assert max_difference(trained_critic("joint", batch), reference) > 1e-3
    elif other == "dropped gradients":
        assert max_difference(trained_critic("sequential", batch), reference) > 1e-3
    else:
        agent = make_agent("sequential")
        agent.critic_optim.started = [True] * agent.critic.num_members  # both counts start at the first step
        for update in range(UPDATES):
            torch.manual_seed(100 + update)
            agent.update(batch)
        assert max_difference(agent.critic, reference) > 1e-3


def test_each_q_network_counts_its_own_adam_steps():
    batch = make_batch()
    agent = make_agent("sequential")
    agent.update(batch)
    assert agent.critic_optim.step_count.tolist() == [2, 1]  # Q2 starts at the update's second step
    agent.update(batch)
    assert agent.critic_optim.step_count.tolist() == [4, 3]


def hand_adam(grads: list[float], lr: float, betas=(0.9, 0.999), eps=1e-8) -> list[float]:
    """Adam's moves for a scalar, written out: m, v, their bias corrections at counts 1, 2, ..."""
    m = v = 0.0
    moves = []
    for count, g in enumerate(grads, start=1):
        m = betas[0] * m + (1 - betas[0]) * g
        v = betas[1] * v + (1 - betas[1]) * g * g
        m_hat, v_hat = m / (1 - betas[0] ** count), v / (1 - betas[1] ** count)
        moves.append(-lr * m_hat / (v_hat ** 0.5 + eps))
    return moves


@pytest.mark.parametrize("axis", [0, 1])
def test_member_adam_against_hand_computed_steps_over_two_updates(axis: int):
    """Two updates of two members, gradients g1 = 0.5, g2 = -2 then g1 = 1.5, g2 = 3: Q1 sees 0.5, 0, 1.5, 0 at
    counts 1-4; Q2 nothing at Q1's first step, then -2, 0, 3 at counts 1-3 (in a group, axis 1, every seed alike)."""
    shape = (2, 1) if axis == 0 else (3, 2, 1)
    param = torch.zeros(shape, requires_grad=True)
    optim = MemberAdam([param], lr=0.1, num_members=2, axis=axis)
    history = {0: [], 1: []}
    for g1, g2 in ((0.5, -2.0), (1.5, 3.0)):
        grad = torch.stack([torch.full(shape[axis + 1:], g1), torch.full(shape[axis + 1:], g2)], dim=0)
        grad = grad.expand(shape).clone() if axis == 0 else grad.unsqueeze(0).expand(shape).clone()
        for turn in range(2):
            before = param.detach().clone()
            optim.step_member(turn, [grad])
            moved = param.detach() - before
            for member in range(2):
                history[member].append(moved.select(axis, member).flatten()[0].item())
    q1 = hand_adam([0.5, 0.0, 1.5, 0.0], lr=0.1)
    q2 = [0.0] + hand_adam([-2.0, 0.0, 3.0], lr=0.1)
    assert history[0] == pytest.approx(q1, rel=1e-6, abs=1e-9)
    assert history[1] == pytest.approx(q2, rel=1e-6, abs=1e-9)
    assert abs(history[1][1]) == pytest.approx(0.1, rel=1e-6)  # Q2's first step is a whole learning rate


def test_a_shared_step_count_checkpoint_loads_as_every_members_count():
    optim = MemberAdam([torch.zeros(2, 3, requires_grad=True)], lr=0.1, num_members=2, axis=0)
    state = optim.state_dict()
    state["step"] = torch.tensor(6.0)  # a checkpoint from before members counted their own steps
    optim.load_state_dict(state)
    assert optim.step_count.tolist() == [6.0, 6.0] and optim.started == [True, True]

"""Agents of every policy x estimator pair of the policy grid, single-seed or as a group of seeds, and the data
they train on: shared by the group tests."""

from __future__ import annotations

import torch

from algos.critic import DoubleQ
from algos.estimators import ExactEstimator, VIBoundEstimator
from algos.estimators.ar_dae import ARDAEEstimator
from algos.members import Members
from algos.policies import FlowPolicy, GaussianPolicy, NormalizingFlowPolicy
from algos.policies.implicit import ImplicitPolicy
from algos.replay import ReplayBuffer
from algos.sac import SAC
from algos.stacking import stack_agents
from algos.temperature import Temperature
from tests.test_policy_grid import FIT_PAIRS

OBS_DIM, ACT_DIM, HIDDEN = 5, 3, 16
BUFFER_SIZE, BATCH_SIZE = 200, 32
CPU = torch.device("cpu")

POLICIES = {
    "gaussian": lambda m: GaussianPolicy(OBS_DIM, ACT_DIM, hidden_dim=HIDDEN, members=m),
    "nf": lambda m: NormalizingFlowPolicy(OBS_DIM, ACT_DIM, num_flows=2, hidden_dim=HIDDEN, members=m),
    "flow_k1": lambda m: FlowPolicy(OBS_DIM, ACT_DIM, steps=1, noise_std=0.1, hidden_dim=HIDDEN, members=m),
    "flow_k4": lambda m: FlowPolicy(OBS_DIM, ACT_DIM, steps=4, noise_std=0.1, hidden_dim=HIDDEN, members=m),
    "flow_k4_deterministic": lambda m: FlowPolicy(OBS_DIM, ACT_DIM, steps=4, noise_std=0.0, hidden_dim=HIDDEN,
                                                  members=m),
    "implicit": lambda m: ImplicitPolicy(OBS_DIM, ACT_DIM, noise_dim=4, hidden_dim=HIDDEN, head_dim=HIDDEN,
                                         members=m),
}
ESTIMATORS = {
    ExactEstimator: lambda policy: ExactEstimator(policy),
    VIBoundEstimator: lambda policy: VIBoundEstimator(policy, hidden_dim=HIDDEN),
    # target calibration on, so that its running mean B is exercised per member
    ARDAEEstimator: lambda policy: ARDAEEstimator(policy, hidden_dim=HIDDEN, depth=2, state_encoder_depth=1,
                                                  num_actions=8, num_proposal=8, target_calibration=True),
}
PAIRS = FIT_PAIRS  # every pair the grid lets train
PAIR_IDS = [f"{p}-{e.__name__}" for p, e in PAIRS]


def make_agent(pair: tuple[str, type], members: Members | None, critic_update: str = "joint") -> SAC:
    """Alpha is tuned, so that the temperature is a trained, per-member parameter."""
    policy_name, estimator_cls = pair
    policy = POLICIES[policy_name](members)
    return SAC(policy, ESTIMATORS[estimator_cls](policy), DoubleQ(OBS_DIM, ACT_DIM, hidden_dim=HIDDEN, members=members),
               Temperature(autotune=True, target_entropy=-float(ACT_DIM), members=members), CPU,
               critic_update=critic_update)


def singles_and_group(pair: tuple[str, type], seeds: list[int], critic_update: str = "joint"
                      ) -> tuple[list[SAC], list[torch.Tensor], SAC]:
    """The single-seed agents as `torch.manual_seed(seed)` then building gives them, the global RNG state right
    after each build (where that single run's noise continues), and the group stacked from them whose member
    streams continue from those states."""
    singles, states = [], []
    for seed in seeds:
        torch.manual_seed(seed)
        singles.append(make_agent(pair, None, critic_update))
        states.append(torch.get_rng_state())
    group = make_agent(pair, Members.from_states(states), critic_update)
    stack_agents(group, singles)
    return singles, states, group


def filled_buffer(members: Members | None, seed: int) -> ReplayBuffer:
    """A full buffer of random transitions drawn from a private generator (torch's global one is left alone)."""
    generator = torch.Generator().manual_seed(seed)
    lead = () if members is None else (members.size,)
    buffer = ReplayBuffer(OBS_DIM, ACT_DIM, BUFFER_SIZE, CPU, members)

    def draw(*shape):
        return torch.randn((*lead, *shape), generator=generator).numpy()

    for _ in range(BUFFER_SIZE):
        terminated = (torch.rand(lead, generator=generator) < 0.05).numpy()
        buffer.add(draw(OBS_DIM), draw(ACT_DIM).clip(-1, 1), draw(), draw(OBS_DIM), terminated)
    return buffer

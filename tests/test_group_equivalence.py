"""A member of a group trains as the single-seed agent of its seed does: same initial state (stacked from the
single agents), same data, same noise (its own stream continues where the single run's global generator is), and
after many updates the same parameters, optimizer moments, temperature, estimator state and metrics.

To float tolerance, not bit for bit: the group's linear layers run one baddbmm over members where a single agent's
nn.Linear runs addmm, and the two kernels block and sum in different orders, so a step differs in the last bits
(about 1e-8 after one update) and that drift grows slowly (about 1e-7 after a hundred). A gradient scaled by 1 / G
(a mean over G * B), a member drawing another's noise or reading another's batch would instead differ at once, by
far more than the tolerance.

Drift can also jump: once a pre-activation sits within float noise of a ReLU's kink, group and single take
different sides of it and one gradient differs outright (seed 8 does so at update 58 of SAC-flow K=1 with AR-DAE).
The seeds below are two whose 100 updates meet no such kink in any pair; a bug shows at the first update.
"""

import pytest
import torch

from algos.estimators.ar_dae import ARDAEEstimator
from algos.replay import ReplayBuffer
from algos.stacking import member_state_dict
from tests.group_helpers import (ACT_DIM, BATCH_SIZE, BUFFER_SIZE, CPU, ESTIMATORS, HIDDEN, OBS_DIM, PAIR_IDS, PAIRS,
                                 filled_buffer, singles_and_group)

SEEDS = [4, 7]
UPDATES = 100


def tensors(state, prefix: str = ""):
    """Every tensor of a nested state, by its path."""
    if isinstance(state, dict):
        for key, value in state.items():
            yield from tensors(value, f"{prefix}/{key}")
    elif isinstance(state, (list, tuple)):
        for i, value in enumerate(state):
            yield from tensors(value, f"{prefix}[{i}]")
    elif isinstance(state, torch.Tensor):
        yield prefix, state


def member_buffer(group_buffer: ReplayBuffer, g: int) -> ReplayBuffer:
    """The single-seed buffer holding exactly member g's transitions."""
    buffer = ReplayBuffer(OBS_DIM, ACT_DIM, BUFFER_SIZE, CPU)
    buffer.storage.copy_(group_buffer.storage[g])
    buffer.position, buffer.size = group_buffer.position, group_buffer.size
    return buffer


@pytest.mark.parametrize("pair", PAIRS, ids=PAIR_IDS)
def test_a_member_after_many_updates_is_the_single_seed_agent(pair):
    assert_members_train_as_single_seeds(pair, "joint")


def test_a_member_steps_its_critic_sequentially_as_its_single_seed_agent():
    """Sequential critic steps zero the other Q network's slice of each ensemble tensor: in a group that is
    still each member's own slice, so a member takes its single-seed agent's steps."""
    assert_members_train_as_single_seeds(PAIRS[0], "sequential")


def assert_members_train_as_single_seeds(pair, critic_update: str) -> None:
    singles, rng_states, group = singles_and_group(pair, SEEDS, critic_update)
    group_buffer = filled_buffer(group.members, seed=9)
    for _ in range(UPDATES):
        group_metrics = group.update(group_buffer.sample(BATCH_SIZE))
    for g, (single, rng_state) in enumerate(zip(singles, rng_states)):
        buffer = member_buffer(group_buffer, g)
        torch.set_rng_state(rng_state)  # where the single run's noise continues after building its agent
        for _ in range(UPDATES):
            metrics = single.update(buffer.sample(BATCH_SIZE))
        member = dict(tensors(member_state_dict(group, g)))
        expected = dict(tensors(single.state_dict()))
        assert member.keys() == expected.keys()
        for path, value in expected.items():
            torch.testing.assert_close(member[path], value, rtol=1e-4, atol=1e-5, msg=lambda m: f"{path}: {m}")
        for name, value in metrics.items():
            torch.testing.assert_close(group_metrics[name][g], value, rtol=1e-4, atol=1e-5, msg=name)


def test_a_member_with_a_centred_ar_dae_score_is_the_single_seed_agent(monkeypatch):
    # the antithetic draws of the score's mean come from each member's own noise stream
    centred = lambda policy: ARDAEEstimator(policy, hidden_dim=HIDDEN, depth=2, state_encoder_depth=1,  # noqa: E731
                                            num_actions=8, num_proposal=8, center_score=True)
    monkeypatch.setitem(ESTIMATORS, ARDAEEstimator, centred)
    assert_members_train_as_single_seeds(("implicit", ARDAEEstimator), "joint")


def test_the_composition_root_builds_each_member_as_its_seeds_agent():
    """build_group_agent, what the trainer will call: member g starts as the agent of seed g, and its stream
    where that seed's global generator stands after the build."""
    from runner import build
    from tests.helpers import composed_job

    with composed_job("algo=sac_nf", "env=inverted_pendulum", "sac.critic.hidden_dim=16",
                      "algo.policy.hidden_dim=16") as cfg:
        group = build.build_group_agent(cfg, [4, 2], OBS_DIM, ACT_DIM, CPU)
        for g, seed in enumerate([4, 2]):
            torch.manual_seed(seed)
            single = build.build_agent(cfg, OBS_DIM, ACT_DIM, CPU)
            assert torch.equal(group.members.generators[g].get_state(), torch.get_rng_state())
            member = dict(tensors(member_state_dict(group, g)))
            for path, value in tensors(single.state_dict()):
                assert torch.equal(member[path], value), path

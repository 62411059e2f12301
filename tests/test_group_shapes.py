"""A group of seeds has the member axis everywhere it should: actions [G, d] in [-1, 1], metrics [G], batches
[G, B, .], a GroupLinear equal to G nn.Linear layers, and member slices that go in and out unchanged."""

import pytest
import torch
from torch import nn

from algos.group_linear import GroupLinear
from algos.members import Members, integers, normal
from algos.stacking import load_member_state_dict, member_state_dict
from tests.group_helpers import ACT_DIM, BATCH_SIZE, OBS_DIM, PAIR_IDS, PAIRS, filled_buffer, make_agent

GROUP = 3


def test_group_linear_is_one_nn_linear_per_member_over_any_middle_axes():
    torch.manual_seed(0)
    singles = [nn.Linear(4, 6) for _ in range(GROUP)]
    layer = GroupLinear(GROUP, 4, 6)
    with torch.no_grad():
        layer.weight.copy_(torch.stack([s.weight for s in singles]))
        layer.bias.copy_(torch.stack([s.bias for s in singles]))
    x = torch.randn(GROUP, 2, 5, 4)
    out = layer(x)
    assert out.shape == (GROUP, 2, 5, 6)
    for g, single in enumerate(singles):
        torch.testing.assert_close(out[g], single(x[g]))
    assert GroupLinear(GROUP, 4, 6, bias=False)(x).shape == (GROUP, 2, 5, 6)


def test_member_draws_are_what_each_seed_alone_draws():
    members = Members.seeded([4, 7])
    noise, idx = normal(members, (2, 5, 3)), integers(members, 100, (2, 9))
    for g, seed in enumerate([4, 7]):
        torch.manual_seed(seed)
        assert torch.equal(noise[g], torch.randn(5, 3)) and torch.equal(idx[g], torch.randint(0, 100, (9,)))


def test_replay_batches_have_the_member_axis():
    members = Members.seeded(range(GROUP))
    batch = filled_buffer(members, seed=0).sample(BATCH_SIZE)
    assert batch.obs.shape == (GROUP, BATCH_SIZE, OBS_DIM) and batch.action.shape == (GROUP, BATCH_SIZE, ACT_DIM)
    assert batch.reward.shape == batch.terminated.shape == (GROUP, BATCH_SIZE)


@pytest.mark.parametrize("pair", PAIRS, ids=PAIR_IDS)
def test_act_and_update_of_a_group(pair):
    torch.manual_seed(0)
    members = Members.seeded(range(GROUP))
    agent = make_agent(pair, members)
    obs = torch.randn(GROUP, OBS_DIM).numpy()
    for eval_mode in (True, False):
        action = agent.act(obs, eval_mode=eval_mode)
        assert action.shape == (GROUP, ACT_DIM) and (abs(action) <= 1).all()
    metrics = agent.update(filled_buffer(members, seed=1).sample(BATCH_SIZE))
    assert {name: tuple(value.shape) for name, value in metrics.items()} == {name: (GROUP,) for name in metrics}
    assert all(torch.isfinite(value).all() for value in metrics.values()), metrics


@pytest.mark.parametrize("pair", PAIRS[:1] + PAIRS[-1:], ids=PAIR_IDS[:1] + PAIR_IDS[-1:])
def test_a_member_slice_is_a_single_agents_state_and_goes_back_in_unchanged(pair):
    torch.manual_seed(0)
    single = make_agent(pair, None)
    group = make_agent(pair, Members.seeded(range(GROUP)))
    group.update(filled_buffer(group.members, seed=1).sample(BATCH_SIZE))  # optimizers at step 1 ...
    single.update(filled_buffer(None, seed=1).sample(BATCH_SIZE))  # ... in both
    others = [member_state_dict(group, g) for g in (0, 2)]
    load_member_state_dict(group, 1, single.state_dict())
    assert_same(member_state_dict(group, 1), single.state_dict())
    assert all(_equal(member_state_dict(group, g), other) for g, other in zip((0, 2), others))
    fresh = make_agent(pair, None)
    fresh.load_state_dict(member_state_dict(group, 1))  # loads as a single-seed checkpoint would
    assert_same(fresh.state_dict(), single.state_dict())


def _equal(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, torch.Tensor):
        return a.shape == b.shape and torch.equal(a, b)
    return a == b


def assert_same(a, b) -> None:
    assert _equal(a, b)

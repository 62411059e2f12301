"""The matmul precision switch: tf32 leaves a CPU run bit for bit as it was; bf16 autocast changes the products
while weights, optimizer state, actions and metrics keep their float32 (a count: float64) types."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from algos.members import Members
from algos.precision import cuda_tf32_matmuls, matmul_precision
from runner.errors import RunError
from runner.schema import validated
from tests.group_helpers import CPU, OBS_DIM, PAIR_IDS, PAIRS, filled_buffer, make_agent, singles_and_group
from tests.test_configs import compose_with

UPDATES = 3


def train(agent, buffer, precision: str, seed: int = 0) -> list[dict[str, torch.Tensor]]:
    agent.precision = precision
    torch.manual_seed(seed)
    return [agent.update(buffer.sample(32)) for _ in range(UPDATES)]


def state_tensors(agent) -> list[torch.Tensor]:
    tensors = [t for m in agent.modules().values() for t in m.state_dict().values()]
    for optim in agent.optimizers().values():
        tensors += [*optim.exp_avg, *optim.exp_avg_sq]
    return tensors


def test_autocast_turns_matmuls_bf16_and_tf32_is_float32_on_a_cpu():
    layer = torch.nn.Linear(8, 4)
    x = torch.randn(16, 8)
    with matmul_precision("bf16", CPU):
        assert layer(x).dtype == torch.bfloat16
    for precision in ("fp32", "tf32"):
        with matmul_precision(precision, CPU):
            out = layer(x)
        assert out.dtype == torch.float32 and torch.equal(out, layer(x))


def test_a_weight_stepped_inside_the_bf16_block_is_used_as_stepped():
    """SAC steps the critic, then runs it for the actor, in one block: the second pass must see the new weights,
    not a bf16 copy cached before the step."""
    layer = torch.nn.Linear(8, 4)
    x = torch.randn(16, 8)
    with matmul_precision("bf16", CPU):
        before = layer(x)
        with torch.no_grad():
            layer.weight.add_(1.0)
        after = layer(x)
    with matmul_precision("bf16", CPU):
        fresh = layer(x)
    assert not torch.equal(before, after) and torch.equal(after, fresh)


def test_the_tf32_setting_comes_back_after_the_block():
    matmul = torch.backends.cuda.matmul
    before = matmul.fp32_precision
    with cuda_tf32_matmuls():
        assert matmul.fp32_precision == "tf32"
    assert matmul.fp32_precision == before


@pytest.mark.parametrize("pair", PAIRS[:3] + PAIRS[-1:], ids=PAIR_IDS[:3] + PAIR_IDS[-1:])
def test_tf32_trains_a_cpu_agent_exactly_as_fp32(pair):
    torch.manual_seed(0)
    agent = make_agent(pair, None)
    twin = copy.deepcopy(agent)
    buffer = filled_buffer(None, seed=1)
    assert [m.keys() for m in train(agent, buffer, "fp32")] == [m.keys() for m in train(twin, buffer, "tf32")]
    assert all(torch.equal(a, b) for a, b in zip(state_tensors(agent), state_tensors(twin)))


@pytest.mark.parametrize("pair", PAIRS, ids=PAIR_IDS)
def test_bf16_changes_the_products_and_keeps_everything_else_float32(pair):
    torch.manual_seed(0)
    agent = make_agent(pair, None)
    twin = copy.deepcopy(agent)
    buffer = filled_buffer(None, seed=1)
    exact, half = train(agent, buffer, "fp32"), train(twin, buffer, "bf16")
    assert all(t.dtype == u.dtype and torch.isfinite(t).all() for t, u in zip(state_tensors(twin),
                                                                              state_tensors(agent)))
    assert all(v.dtype == torch.float32 for m in half for v in m.values())
    # the first update's losses differ (bf16 did run) by bf16's rounding, not more
    first, first_half = exact[0]["train/critic_loss"], half[0]["train/critic_loss"]
    assert first != first_half and abs(first_half / first - 1) < 0.05
    action = twin.act(np.zeros(OBS_DIM, dtype=np.float32))
    assert action.dtype == np.float32 and np.all(np.abs(action) <= 1)


def test_a_group_trains_in_bf16():
    pair = PAIRS[-1]  # the implicit policy with AR-DAE: the most matmuls and an input gradient
    _, _, group = singles_and_group(pair, [0, 1])
    members = group.members
    metrics = train(group, filled_buffer(members, seed=1), "bf16")
    assert metrics[-1]["train/critic_loss"].shape == (2,) and metrics[-1]["train/critic_loss"].dtype == torch.float32
    actions = group.act(np.zeros((2, OBS_DIM), dtype=np.float32))
    assert actions.shape[0] == 2 and actions.dtype == np.float32
    assert isinstance(members, Members)


def test_an_unknown_precision_is_refused_with_the_choices():
    with pytest.raises(RunError, match="precision.*fp32.*tf32.*bf16"):
        validated(compose_with("precision=fp16"))

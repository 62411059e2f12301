"""No cross-talk between the members of a group, bit for bit: changing one member's batch changes that member
and nothing of any other (parameters, optimizer moments, temperature, estimator state, metrics)."""

import pytest
import torch

from algos.replay import Batch
from algos.stacking import member_state_dict
from tests.group_helpers import BATCH_SIZE, PAIR_IDS, PAIRS, filled_buffer, singles_and_group
from tests.test_group_shapes import _equal

SEEDS = [0, 1, 2]
CHANGED = 1
SHIFTS = {"obs": 0.5, "action": -0.25, "reward": -1.0, "next_obs": 0.3}  # every input a loss or estimator reads


def shifted(field: torch.Tensor, by: float) -> torch.Tensor:
    out = field.clone()
    out[CHANGED] += by
    return out


def one_update(pair, batch: Batch) -> tuple[list[dict], dict]:
    """A group stacked from the same seeds each call, so it starts from the same parameters and streams."""
    _, _, group = singles_and_group(pair, SEEDS)
    metrics = group.update(batch)
    return [member_state_dict(group, g) for g in range(len(SEEDS))], metrics


@pytest.mark.parametrize("pair", PAIRS, ids=PAIR_IDS)
def test_changing_one_members_batch_changes_only_that_member(pair):
    _, _, group = singles_and_group(pair, SEEDS)
    batch = filled_buffer(group.members, seed=5).sample(BATCH_SIZE)
    changed = batch._replace(**{name: shifted(getattr(batch, name), by) for name, by in SHIFTS.items()})

    states, metrics = one_update(pair, batch)
    changed_states, changed_metrics = one_update(pair, changed)
    for g in range(len(SEEDS)):
        same = _equal(states[g], changed_states[g])
        assert same == (g != CHANGED), f"member {g}: {'unchanged' if same else 'changed'}"
        if g != CHANGED:
            assert all(torch.equal(value[g], changed_metrics[name][g]) for name, value in metrics.items())

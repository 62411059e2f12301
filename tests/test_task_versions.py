"""What the task versions change, checked on known facts of gymnasium's version histories."""

from __future__ import annotations

from scripts.task_versions import compare


def test_hopper_v4_and_v5_differ_only_in_the_terminating_steps_healthy_reward():
    row = compare("hopper", episodes=3, steps=200)
    assert row["obs"] == (11, 11) and row["before_last"] == 0
    assert row["lengths"]["v4"] == row["lengths"]["v5"]
    for v4, v5 in zip(row["terminal"]["v4"], row["terminal"]["v5"]):
        assert abs((v4 - v5) - 1.0) < 1e-9  # v5 pays no healthy reward (1.0) when the episode terminates


def test_halfcheetah_is_the_same_task_and_ant_v4_has_no_contact_forces():
    assert compare("halfcheetah", episodes=1, steps=50)["reward_gap"] == 0.0
    assert compare("ant", episodes=1, steps=20)["obs"] == (27, 105)

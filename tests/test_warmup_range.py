"""Warm-up actions fill [-r, r] of the action box (`env.warmup_action_range`), the whole box by default, and the
paper presets give Humanoid the AR-DAE authors' 0.4 and every other task the whole box."""

import numpy as np
import pytest
from hydra import compose, initialize_config_dir

from runner.__main__ import train
from tests.helpers import REPO, TINY, composed_job

WARMUP = 500
SHORT = [*TINY, "logger=disabled", f"warmup_steps={WARMUP}", "total_steps=520", "eval_every=520",
         "eval_episodes=1", "checkpoint_every=520"]
PAPER_TASKS = ("halfcheetah", "ant", "hopper", "walker2d", "humanoid")


def warmup_actions(run_root, *overrides: str) -> list[np.ndarray]:
    """The first WARMUP actions in the replay buffer, one [WARMUP, d] array per seed."""
    with composed_job(*SHORT, *overrides, f"run_root={run_root}") as cfg:
        _, trainer = train(cfg)
    buffer = trainer.buffer
    actions = buffer.storage[..., :WARMUP, buffer._columns["action"]].numpy()
    return list(actions) if actions.ndim == 3 else [actions]


def uniform(seed: int, low: float, high: float) -> np.ndarray:
    return np.random.default_rng(seed).uniform(low, high, (WARMUP, 1)).astype(np.float32)


@pytest.mark.parametrize("seeds", [None, [0, 1]], ids=["single", "group"])
def test_warmup_actions_fill_the_sub_range_and_the_default_is_unchanged(tmp_path, seeds):
    group = [] if seeds is None else [f"seeds={seeds}".replace(" ", "")]
    members = [0] if seeds is None else seeds
    narrow = warmup_actions(tmp_path / "narrow", *group, "env.warmup_action_range=0.4")
    whole = warmup_actions(tmp_path / "whole", *group)
    for seed, narrow_actions, whole_actions in zip(members, narrow, whole):
        assert np.abs(narrow_actions).max() <= 0.4
        assert narrow_actions.min() < -0.39 and narrow_actions.max() > 0.39  # it fills the range
        assert np.array_equal(narrow_actions, uniform(seed, -0.4, 0.4))
        assert np.array_equal(whole_actions, uniform(seed, -1.0, 1.0))  # the draws of the code before the key


@pytest.mark.parametrize("preset", ["paper_table1", "paper_table3"])
def test_the_paper_presets_narrow_humanoids_warmup_only(preset):
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        ranges = {task: compose("config", overrides=[f"experiment={preset}", f"env={task}"]).env.warmup_action_range
                  for task in PAPER_TASKS}
        plain = compose("config", overrides=["env=humanoid"]).env.warmup_action_range
    assert ranges == {**{task: 1.0 for task in PAPER_TASKS}, "humanoid": 0.4}
    assert plain == 1.0

"""An env's place inside an episode, kept as how the episode began plus the actions taken since.

A checkpoint taken mid-episode must give back the env exactly as it was. Saving the simulator's state is not
enough for every task: MuJoCo keeps quantities derived from the previous step (body positions, contact forces) that
some rewards read (Ant's torso position, Humanoid's centre of mass); with only the simulator state restored, the
first reward after it comes out wrong on Ant. Replaying the episode does not have that problem: MuJoCo is deterministic, so
resetting the env from the same generator state and stepping it with the same actions rebuilds every quantity bit
for bit, through public gymnasium calls only. An episode holds at most the task's step limit of actions (1000 on
the locomotion tasks), so a replay costs milliseconds and a checkpoint a few kilobytes per env.
"""

from __future__ import annotations

import numpy as np

from envs.make import get_rng_state, set_rng_state


class EpisodeLog:
    """Wraps reset and step of one env, recording what a replay needs: the seed or the generator state the
    episode's reset started from, and every action since."""

    def __init__(self):
        self.start: dict | None = None
        self.actions: list[np.ndarray] = []

    def reset(self, env, seed: int | None = None):
        """env.reset(seed=seed), remembered as the start of a new episode."""
        self.start = {"seed": seed} if seed is not None else {"rng": get_rng_state(env)}
        self.actions = []
        return env.reset(seed=seed)

    def step(self, env, action: np.ndarray):
        """env.step(action), remembered."""
        self.actions.append(np.array(action, copy=True))
        return env.step(action)

    def state_dict(self) -> dict:
        if self.start is None:
            raise RuntimeError("no episode has begun: call reset first")
        actions = np.stack(self.actions) if self.actions else np.zeros((0,), dtype=np.float32)
        return {"start": self.start, "actions": actions}

    def restore(self, env, state: dict) -> np.ndarray:
        """Puts `env` where the recorded episode stood and returns the observation there: the same reset,
        then the same actions."""
        start = state["start"]
        if "seed" in start:
            obs, _ = env.reset(seed=start["seed"])
        else:
            set_rng_state(env, start["rng"])
            obs, _ = env.reset()
        for action in state["actions"]:
            obs, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                raise RuntimeError("the replayed episode ended before its recorded end: the env is not the one "
                                   "that was recorded")
        self.start = start
        self.actions = [np.array(a, copy=True) for a in state["actions"]]
        return obs

"""What a task's version changes, step by step: the same actions from the same start in gymnasium's v4 and v5.

    python -m scripts.task_versions                       # Hopper, Walker2d, HalfCheetah, Ant, Humanoid
    python -m scripts.task_versions --tasks hopper --episodes 20

For each task both versions are reset with the same seed and driven by the same uniform random actions; the table
gives the observation sizes, how far the two trajectories' rewards and observations are apart, the episode lengths,
and the reward on the terminating step. A learning comparison (SAC at the validation settings on -v4 against -v5)
is a separate run: `python -m runner experiment=validation env=hopper env.version=v4 ...`.
"""

from __future__ import annotations

import argparse

import numpy as np

from envs import make_env

TASKS = {"hopper": "Hopper", "walker2d": "Walker2d", "halfcheetah": "HalfCheetah", "ant": "Ant", "humanoid": "Humanoid"}


def rollout(task_id: str, seed: int, actions: np.ndarray) -> tuple[list[float], list[np.ndarray], bool]:
    """Rewards and observations of one episode under `actions` (cut at termination or the actions' end)."""
    env = make_env(task_id)
    obs, _ = env.reset(seed=seed)
    rewards, observations, terminated = [], [obs], False
    for action in actions:
        obs, reward, terminated, truncated, _ = env.step(action)
        rewards.append(float(reward))
        observations.append(obs)
        if terminated or truncated:
            break
    env.close()
    return rewards, observations, terminated


def compare(name: str, episodes: int, steps: int) -> dict:
    base = TASKS[name]
    probe = make_env(f"{base}-v4")
    act_dim, v4_obs = probe.action_space.shape[0], probe.observation_space.shape[0]
    probe.close()
    v5_obs = make_env(f"{base}-v5").observation_space.shape[0]
    rng = np.random.default_rng(0)
    reward_gaps, lengths, terminal = [], {"v4": [], "v5": []}, {"v4": [], "v5": []}
    first_gap_steps, before_last = [], []
    for episode in range(episodes):
        actions = rng.uniform(-1, 1, size=(steps, act_dim)).astype(np.float32)
        runs = {version: rollout(f"{base}-{version}", episode, actions) for version in ("v4", "v5")}
        for version, (rewards, _, ended) in runs.items():
            lengths[version].append(len(rewards))
            if ended:
                terminal[version].append(rewards[-1])
        common = min(len(runs["v4"][0]), len(runs["v5"][0]))
        gaps = np.abs(np.subtract(runs["v4"][0][:common], runs["v5"][0][:common]))
        reward_gaps.append(float(gaps.max()) if common else 0.0)
        apart = [k for k in range(common) if gaps[k] > 1e-6]
        first_gap_steps.append(apart[0] if apart else None)
        before_last.append(any(k < common - 1 for k in apart))
    return {"task": name, "obs": (v4_obs, v5_obs), "reward_gap": max(reward_gaps),
            "first_gap": [g for g in first_gap_steps if g is not None], "before_last": sum(before_last),
            "lengths": lengths, "terminal": terminal}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", default=",".join(TASKS), help=f"comma-separated, from {', '.join(TASKS)}")
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--steps", type=int, default=1000, help="actions per episode at most")
    args = parser.parse_args()
    print("| task | observation size v4 / v5 | largest per-step reward gap | episodes whose rewards differ | "
          "... before their last step | mean length v4 / v5 | mean reward on the terminating step v4 / v5 |")
    print("| --- | --- | ---: | ---: | ---: | --- | --- |")
    for name in args.tasks.split(","):
        row = compare(name, args.episodes, args.steps)
        term = " / ".join(f"{np.mean(row['terminal'][v]):.3f}" if row["terminal"][v] else "none" for v in ("v4", "v5"))
        lengths = " / ".join(f"{np.mean(row['lengths'][v]):.1f}" for v in ("v4", "v5"))
        print(f"| {name} | {row['obs'][0]} / {row['obs'][1]} | {row['reward_gap']:.4f} | "
              f"{len(row['first_gap'])} of {args.episodes} | {row['before_last']} | {lengths} | {term} |")


if __name__ == "__main__":
    main()

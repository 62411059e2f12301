"""How widely SAC-AR-DAE's implicit policy starts: per task, the median over states of the per-dimension std of the
pre-tanh action x over the policy's noise, and the share of x with |x| > 8.7 (tanh of them rounds to +-1 in float32).

States come from uniform random actions in the task, as a fresh run's warm-up would collect them (`--states
visited`), or are the task's reset states, or standard normal vectors: the saturated share depends mostly on the
states (large velocities move g(0, s) far), the spread over eps on the initialisation. Compare the figures with Lim
et al. 2020 (AR-DAE)'s code, whose first layer over [h(s), eps] is one nn.Linear, on the same kind of states.

    python -m scripts.init_spread                       # every task at scale=paper
    python -m scripts.init_spread --scale cpu --tasks hopper halfcheetah algo.policy.output_init_std=1.0
    python -m scripts.init_spread --states normal --tasks halfcheetah walker2d
"""

from __future__ import annotations

import argparse

import torch
from hydra import compose, initialize_config_dir

from runner import build
from runner.build import CONF_DIR

SATURATED = 8.7
TASKS = ("hopper", "halfcheetah", "walker2d", "ant", "humanoid")
STATES = ("visited", "reset", "normal")


def random_states(env, count: int, seed: int) -> torch.Tensor:
    """`count` observations visited by uniform random actions, episodes restarted as they end."""
    env.action_space.seed(seed)
    obs, _ = env.reset(seed=seed)
    states = []
    for _ in range(count):
        states.append(torch.as_tensor(obs, dtype=torch.float32))
        obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            obs, _ = env.reset()
    return torch.stack(states)


def make_states(env, kind: str, count: int, seed: int) -> torch.Tensor:
    """`count` observations of one kind of STATES."""
    if kind == "visited":
        return random_states(env, count, seed)
    if kind == "reset":
        return torch.stack([torch.as_tensor(env.reset(seed=seed + i)[0], dtype=torch.float32) for i in range(count)])
    dim = env.observation_space.shape[0]
    return torch.randn(count, dim, generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def spread_at_init(task: str, scale: str, states: int, samples: int, seed: int, overrides: list[str],
                   kind: str = "visited") -> tuple[float, float]:
    """(median per-dimension std of x over eps, share of saturated x) for a freshly built policy."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config",
                      overrides=["algo=sac_ar_dae", f"env={task}", f"scale={scale}", *overrides])
    env, _ = build.build_envs(cfg)
    obs = make_states(env, kind, states, seed)
    torch.manual_seed(seed)
    policy, _ = build.build_policy_and_estimator(cfg, *build.dims(env))
    x = policy.sample(obs, samples).x  # [states, samples, d]
    return x.std(dim=1).median().item(), (x.abs() > SATURATED).float().mean().item()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS))
    parser.add_argument("--scale", default="paper", choices=("paper", "cpu"))
    parser.add_argument("--states", default="visited", choices=STATES, help="which observations (module docstring)")
    parser.add_argument("--num-states", type=int, default=256)
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. algo.policy.output_init_std=1.0")
    args = parser.parse_args(argv)
    print(f"| task (scale={args.scale}, {args.states} states) | median std of x over eps "
          f"| share of |x| > {SATURATED} |")
    print("|---|---:|---:|")
    for task in args.tasks:
        spread, saturated = spread_at_init(task, args.scale, args.num_states, args.samples, args.seed,
                                           args.overrides, args.states)
        print(f"| {task} | {spread:.2f} | {100 * saturated:.1f}% |")


if __name__ == "__main__":
    main()

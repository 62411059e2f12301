"""How widely SAC-AR-DAE's implicit policy starts: per task, the median over states of the per-dimension std of the
pre-tanh action x over the policy's noise, and the share of x with |x| > 8.7 (tanh of them rounds to +-1 in float32).

States come from uniform random actions in the task, as a fresh run's warm-up would collect them. Compare the
figures with Lim et al. 2020 (AR-DAE)'s code, whose first layer over [h(s), eps] is one nn.Linear.

    python -m scripts.init_spread                       # every task at scale=paper
    python -m scripts.init_spread --scale cpu --tasks hopper halfcheetah algo.policy.output_init_std=1.0
"""

from __future__ import annotations

import argparse

import torch
from hydra import compose, initialize_config_dir

from runner import build
from runner.build import CONF_DIR

SATURATED = 8.7
TASKS = ("hopper", "halfcheetah", "walker2d", "ant", "humanoid")


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


@torch.no_grad()
def spread_at_init(task: str, scale: str, states: int, samples: int, seed: int, overrides: list[str]
                   ) -> tuple[float, float]:
    """(median per-dimension std of x over eps, share of saturated x) for a freshly built policy."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config",
                      overrides=["algo=sac_ar_dae", f"env={task}", f"scale={scale}", *overrides])
    env, _ = build.build_envs(cfg)
    obs = random_states(env, states, seed)
    torch.manual_seed(seed)
    policy, _ = build.build_policy_and_estimator(cfg, *build.dims(env))
    x = policy.sample(obs, samples).x  # [states, samples, d]
    return x.std(dim=1).median().item(), (x.abs() > SATURATED).float().mean().item()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS))
    parser.add_argument("--scale", default="paper", choices=("paper", "cpu"))
    parser.add_argument("--states", type=int, default=256)
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. algo.policy.output_init_std=1.0")
    args = parser.parse_args(argv)
    print(f"| task (scale={args.scale}) | median std of x over eps | share of |x| > {SATURATED} |")
    print("|---|---:|---:|")
    for task in args.tasks:
        spread, saturated = spread_at_init(task, args.scale, args.states, args.samples, args.seed,
                                             args.overrides)
        print(f"| {task} | {spread:.2f} | {100 * saturated:.1f}% |")


if __name__ == "__main__":
    main()

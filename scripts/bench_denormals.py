"""The psi update of SAC-AR-DAE with float32 denormals kept and flushed to zero, paired in one process.

    python -m scripts.bench_denormals                                  # Hopper-v5, scale=cpu, the paper's fixed map
    python -m scripts.bench_denormals --env halfcheetah --override scale=paper --updates 2

The paper's fixed standardization multiplies actions by 1e4, so many of psi's ELU pre-activations are large and
negative; exp of those, in ELU and in its derivatives, lands in float32's denormal range, which x86 CPUs compute
in microcode, far slower than normal numbers. `runner.host.prepare_host` flushes them to zero. Rounds alternate
the two settings on one agent and the same states; times are medians over rounds and the ratio is the median of
per-round ratios. The same number of psi updates from the same weights and seed, once per setting, gives the
largest parameter difference the flush makes.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import numpy as np
import torch

from runner import build
from runner.host import prepare_host
from scripts.bench_throughput import compose_config


def replay_states(env, count: int, seed: int = 0) -> torch.Tensor:
    """States visited by uniformly random actions, as the warm-up fills the buffer."""
    obs, _ = env.reset(seed=seed)
    env.action_space.seed(seed)
    states = []
    for _ in range(count):
        states.append(obs)
        obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            obs, _ = env.reset()
    return torch.as_tensor(np.asarray(states), dtype=torch.float32)


def psi_update_seconds(estimator, obs: torch.Tensor, flush: bool, updates: int) -> float:
    torch.set_flush_denormal(flush)
    start = time.perf_counter()
    for _ in range(updates):
        estimator.update(obs, None)
    return (time.perf_counter() - start) / updates


def parameter_difference(estimator, obs: torch.Tensor, updates: int, seed: int = 0) -> float:
    """Largest |difference| of psi's parameters after `updates` psi updates from the same weights and seed, with
    denormals kept against flushed, relative to the largest parameter magnitude."""
    trained = []
    for flush in (False, True):
        copy_ = copy.deepcopy(estimator)
        torch.manual_seed(seed)
        psi_update_seconds(copy_, obs, flush, updates)
        trained.append(torch.cat([p.detach().flatten() for p in copy_.psi.parameters()]))
    return float((trained[0] - trained[1]).abs().max() / trained[0].abs().max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="hopper")
    parser.add_argument("--updates", type=int, default=20, help="timed psi updates per round and setting")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=256, help="states per psi update (the SAC batch)")
    parser.add_argument("--pretrain", type=int, default=500,
                        help="psi updates before timing (flushed): a trained psi meets more denormals")
    parser.add_argument("--override", action="append", default=[],
                        help="extra Hydra override, repeatable (default: scale=cpu +ar_dae_standardize=fixed)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args()
    prepare_host(args.threads)
    overrides = args.override or ["scale=cpu", "+ar_dae_standardize=fixed"]
    cfg = compose_config("sac_ar_dae", args.env, args.updates, args.batch, overrides)
    env, _ = build.build_envs(cfg)
    torch.manual_seed(0)
    agent = build.build_agent(cfg, *build.dims(env), torch.device("cpu"))
    obs = replay_states(env, args.batch)
    psi_update_seconds(agent.estimator, obs, True, args.pretrain + 1)  # allocates and trains psi; not timed
    times: dict[bool, list[float]] = {False: [], True: []}
    for round_ in range(args.rounds):
        for flush in (False, True):
            times[flush].append(psi_update_seconds(agent.estimator, obs, flush, args.updates))
        print(f"round {round_ + 1}: kept {1e3 * times[False][-1]:.1f} ms, flushed {1e3 * times[True][-1]:.1f} ms",
              flush=True)
    ratio = statistics.median(kept / flushed for kept, flushed in zip(times[False], times[True]))
    difference = parameter_difference(agent.estimator, obs, args.updates)
    torch.set_flush_denormal(True)
    print(f"\n{cfg.env.id}, {' '.join(overrides)}, {torch.get_num_threads()} thread(s), batch {args.batch}, "
          f"{args.rounds} rounds of {args.updates} psi updates per setting after {args.pretrain}")
    print("| denormals | ms per psi update | kept / flushed | max relative psi parameter difference |")
    print("| --- | --- | --- | --- |")
    print(f"| kept | {1e3 * statistics.median(times[False]):.1f} | {ratio:.2f} | |")
    print(f"| flushed | {1e3 * statistics.median(times[True]):.1f} | 1.00 | {difference:.1e} |")


if __name__ == "__main__":
    main()

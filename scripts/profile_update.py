"""Where one update's time goes, by part: SAC's critic, actor and temperature steps, and inside them the AR-DAE
estimator's pieces (psi's loss and its double backward, log Z, the scale-free spread probes, centring, target
calibration) and Jacobian clamping.

    python -m scripts.profile_update                                     # SAC-AR-DAE, Hopper-v5, scale=cpu
    python -m scripts.profile_update --seeds 3                           # a 3-seed group
    python -m scripts.profile_update --env halfcheetah --override scale=paper --updates 3    # the paper's sizes
    python -m scripts.profile_update --override experiment=paper_table1 --override env.version=v5

Each part is timed around the function that does it (inclusive wall time on the CPU, where every op runs before
the call returns; on a GPU each part synchronizes first, which itself costs time). Parts nest: "inside" names the
part each one is counted in. Shares are of the whole update's time measured in the same rounds.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict
from contextlib import contextmanager

import numpy as np
import torch

from algos import sac as sac_module
from algos.estimators import ar_dae
from algos.policies import implicit
from runner import build
from runner.host import prepare_host
from runner.validate import resolve_device
from scripts.bench_throughput import compose_config, synchronize

# (part, owner, attribute, the part it is counted inside). The owner's attribute is wrapped by a timer.
PARTS = [
    ("critic step", sac_module.SAC, "_critic_step", "update"),
    ("  target: next actions and log pi", sac_module, "soft_target", "critic step"),
    ("  critic loss, backward, Adam", sac_module.SAC, "_critic_optim_step", "critic step"),
    ("actor step", sac_module.SAC, "_actor_step", "update"),
    ("  actor log pi: psi's score", ar_dae.ARDAEEstimator, "actor_log_prob", "actor step"),
    ("  Jacobian clamping", implicit.ImplicitPolicy, "penalty", "actor step"),
    ("psi step (loss, double backward, Adam)", ar_dae.ARDAEEstimator, "update", "update"),
    ("  psi's loss (forward, input gradient)", ar_dae.ARDAEEstimator, "loss", "psi step"),
    ("temperature step", sac_module.SAC, "_temperature_step", "update"),
    ("target critic (Polyak)", sac_module.SAC, "_polyak", "update"),
    ("log Z (importance sampling)", ar_dae.ARDAEEstimator, "log_normalizer", "target, actor"),
    ("offset and spread probes", ar_dae.ARDAEEstimator, "offset_and_spread", "target, actor, psi"),
    ("centring (score mean)", ar_dae.ARDAEEstimator, "score_mean", "target, actor"),
    ("target calibration", ar_dae.ARDAEEstimator, "target_shift", "critic step"),
]


class PartTimer:
    """Wraps each part's function with a wall-clock timer; `totals` holds seconds per part, summed over calls."""

    def __init__(self, device: torch.device):
        self.device = device
        self.totals: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._originals = []

    def wrap(self, name: str, owner, attribute: str) -> None:
        original = getattr(owner, attribute, None)
        if original is None:
            return
        self._originals.append((owner, attribute, original))
        timer = self

        def timed(*args, **kwargs):
            synchronize(timer.device)
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                synchronize(timer.device)
                timer.totals[name] += time.perf_counter() - start
                timer.calls[name] += 1

        setattr(owner, attribute, timed)

    def restore(self) -> None:
        for owner, attribute, original in reversed(self._originals):
            setattr(owner, attribute, original)


@contextmanager
def timed_parts(device: torch.device):
    timer = PartTimer(device)
    for name, owner, attribute, _ in PARTS:
        timer.wrap(name, owner, attribute)
    try:
        yield timer
    finally:
        timer.restore()


def build_agent_and_buffer(args, overrides: list[str]):
    cfg = compose_config(args.algo, args.env, args.updates, args.warmup, overrides)
    prepare_host(cfg.torch_threads)
    env, _ = build.build_envs(cfg)
    obs_dim, act_dim = build.dims(env)
    device = resolve_device(cfg.device)
    if args.seeds is None:
        agent = build.build_agent(cfg, obs_dim, act_dim, device)
    else:
        agent = build.build_group_agent(cfg, list(range(args.seeds)), obs_dim, act_dim, device)
    buffer = build.build_buffer(cfg, obs_dim, act_dim, device, agent.members)
    lead = () if args.seeds is None else (args.seeds,)
    obs, _ = env.reset(seed=0)
    for _ in range(args.warmup):
        action = env.action_space.sample()
        next_obs, reward, terminated, truncated, _ = env.step(action)
        buffer.add(*(np.broadcast_to(x, (*lead, *np.shape(x))) for x in (obs, action, reward, next_obs, terminated)))
        obs = env.reset()[0] if terminated or truncated else next_obs
    return cfg, agent, buffer, device


def profile(args, overrides: list[str]) -> tuple[dict[str, float], float]:
    """Seconds per update of each part (median over rounds) and of the whole update."""
    cfg, agent, buffer, device = build_agent_and_buffer(args, overrides)
    batches = [buffer.sample(cfg.sac.batch_size) for _ in range(args.updates)]
    agent.update(batches[0])  # allocations and first calls, not timed
    whole, parts = [], defaultdict(list)
    for _ in range(args.rounds):
        synchronize(device)
        start = time.perf_counter()
        for batch in batches:
            agent.update(batch)
        synchronize(device)
        whole.append((time.perf_counter() - start) / args.updates)
        with timed_parts(device) as timer:
            for batch in batches:
                agent.update(batch)
        for name, seconds in timer.totals.items():
            parts[name].append(seconds / args.updates)
    return {name: statistics.median(v) for name, v in parts.items()}, statistics.median(whole)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algo", default="sac_ar_dae")
    parser.add_argument("--env", default="hopper")
    parser.add_argument("--seeds", type=int, default=None, help="a group of this many seeds (default: one seed)")
    parser.add_argument("--updates", type=int, default=50, help="updates per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1000, help="random transitions in the buffer")
    parser.add_argument("--override", action="append", default=[], help="a Hydra override (repeatable)")
    args = parser.parse_args()
    overrides = ["scale=cpu", "torch_threads=1", *args.override]
    seconds, whole = profile(args, overrides)
    inside = {name: where for name, _, _, where in PARTS}
    who = f"{args.seeds}-seed group" if args.seeds else "one seed"
    print(f"{args.algo} on {args.env}, {who}, {' '.join(overrides)}: {1e3 * whole:.2f} ms per update "
          f"({args.updates} updates x {args.rounds} rounds, {torch.get_num_threads()} thread(s))\n")
    print("| part | inside | ms per update | share of the update |")
    print("| --- | --- | ---: | ---: |")
    for name, _, _, _ in PARTS:
        if name in seconds:
            print(f"| {name.strip()} | {inside[name]} | {1e3 * seconds[name]:.2f} | "
                  f"{100 * seconds[name] / whole:.1f}% |")


if __name__ == "__main__":
    main()

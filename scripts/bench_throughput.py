"""Updates per second of the full loop (env step + one update) for each algorithm, against Stable-Baselines3
SAC configured identically and measured in the same run, plus each update's FLOP floor on this machine.

    python -m scripts.bench_throughput                         # SAC-Gaussian vs SB3 on HalfCheetah-v5
    python -m scripts.bench_throughput --algos sac_gaussian,sac_nf,sac_flow_vi --steps 2000
    python -m scripts.bench_throughput --algos sac_gaussian,sac_ar_dae --updates-only 5 --no-sb3   # Table 7 cost
    python -m scripts.bench_throughput --algos sac_gaussian,sac_nf --updates-only 100 --seeds 5 --no-sb3
    python -m scripts.bench_throughput --updates-only 200 --seeds 10 --no-sb3 --no-apart \
        --override device=cuda --override compile=true                          # a group on a GPU, compiled
    python -m scripts.bench_throughput --algos sac_ar_dae --updates-only 20 --no-sb3 --precisions fp32,bf16

Rounds alternate ours / SB3 so drift in machine speed hits both; updates/s are medians over rounds, ratios are
medians of the per-round ratios. With --seeds N (updates alone), each round times N seeds trained as one group
(algos.members; N * K member-updates over the time of K group updates) against one seed, in alternating order
on the same threads, and the table compares the two. `--override device=cuda` times updates on the GPU (the
buffer lives there too); `--override compile=true` compiles the policy and critic as the runner does, and each
measurement then starts from an empty compile cache. `--precisions fp32,tf32,bf16` times each algorithm at each
matmul precision (algos.precision) in the same rounds; its ratio column is against the first precision.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from hydra import compose, initialize_config_dir
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from runner import build
from runner.host import prepare_host
from runner.identity import RunIdentity
from runner.validate import resolve_device

CONF = Path(__file__).resolve().parents[1] / "conf"


class FlopCount(TorchDispatchMode):
    """Counts FLOPs with torch's own per-op formulas (matmuls, convolutions, attention) at the dispatch level.

    torch's FlopCounterMode also tracks modules through hooks, which `autograd.grad` (AR-DAE's input gradient)
    does not support; this counts the same ops without them.
    """

    def __init__(self):
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        formula = flop_registry.get(func._overloadpacket)
        if formula is not None:
            self.total += formula(*args, **kwargs, out_val=out)
        return out


def update_flops(agent, batch) -> int:
    with FlopCount() as counter:
        agent.update(batch)
    return counter.total


def compose_config(algo: str, env: str, steps: int, warmup: int, overrides: list[str]):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="config", overrides=[
            f"algo={algo}", f"env={env}", f"total_steps={warmup + steps}", f"warmup_steps={warmup}",
            f"eval_every={warmup + steps}", "eval_episodes=1", f"log_every={steps // 4}",
            f"checkpoint_every={10 * (warmup + steps)}", "diagnostics.num_samples=8", "logger=disabled",
            "logger.sinks=[]", "progress=false", *overrides])


def ours_updates_per_s(algo: str, env_name: str, steps: int, warmup: int, overrides: list[str]) -> tuple[float, float]:
    """Median updates/s of the real Trainer loop over its logged intervals (the first is discarded as warm-up),
    and the FLOPs of one update."""
    cfg = compose_config(algo, env_name, steps, warmup, overrides)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = build.build_trainer(cfg, Path(tmp), RunIdentity.unnamed(cfg), torch.device("cpu"))
        trainer.run()
        trainer.close()
        agent, buffer, logger = trainer.agent, trainer.buffer, trainer.logger
        rates = [float(r["time/updates_per_s"]) for r in logger.train_log.rows()][1:]
    return statistics.median(rates), update_flops(agent, buffer.sample(cfg.sac.batch_size))


def updates_only_per_s(algo: str, env_name: str, updates: int, warmup: int, overrides: list[str],
                       seeds: int | None = None, ready=None) -> tuple[float, float]:
    """Updates/s of agent.update alone on a buffer of random transitions, for algorithms whose update is too
    expensive on a CPU to time the whole loop (SAC-AR-DAE at Table 7 settings); and the FLOPs of one update.
    With `seeds`, a group of that many members, each with its own copy of the transitions: member-updates/s
    (seeds * updates over the time) and the FLOPs of one group update per member. `ready`, if given, is called
    just before the timed updates (processes measured side by side wait there for each other)."""
    cfg = compose_config(algo, env_name, updates, warmup, overrides)
    env, _ = build.build_envs(cfg)
    obs_dim, act_dim = build.dims(env)
    device = resolve_device(cfg.device)
    torch.compiler.reset()
    if seeds is None:
        agent = build.build_agent(cfg, obs_dim, act_dim, device)
    else:
        agent = build.build_group_agent(cfg, list(range(seeds)), obs_dim, act_dim, device)
    buffer = build.build_buffer(cfg, obs_dim, act_dim, device, agent.members)
    lead = () if seeds is None else (seeds,)
    obs, _ = env.reset(seed=0)
    for _ in range(warmup):
        action = env.action_space.sample()
        next_obs, reward, terminated, truncated, _ = env.step(action)
        buffer.add(*(np.broadcast_to(x, (*lead, *np.shape(x))) for x in (obs, action, reward, next_obs, terminated)))
        obs = env.reset()[0] if terminated or truncated else next_obs
    for _ in range(3 if cfg.compile else 1):  # the first calls allocate and compile; not timed
        agent.update(buffer.sample(cfg.sac.batch_size))
    if ready is not None:
        ready()
    synchronize(device)
    start = time.perf_counter()
    for _ in range(updates):
        agent.update(buffer.sample(cfg.sac.batch_size))
    synchronize(device)
    members = seeds or 1
    rate = members * updates / (time.perf_counter() - start)
    if cfg.compile:  # the counter sees eager ops only
        return rate, float("nan")
    return rate, update_flops(agent, buffer.sample(cfg.sac.batch_size)) / members


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work, so a timer read after it covers the work."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def sb3_updates_per_s(env_id: str, steps: int, warmup: int) -> float:
    """SB3 SAC with the same sizes: 256x256 nets, batch 256, one gradient step per env step, CPU."""
    from stable_baselines3 import SAC as SB3SAC
    from stable_baselines3.common.callbacks import BaseCallback

    class Clock(BaseCallback):
        def _on_step(self) -> bool:
            if self.num_timesteps == warmup:
                self.start = time.perf_counter()
            return True

    clock = Clock()
    model = SB3SAC("MlpPolicy", env_id, learning_starts=warmup, batch_size=256, train_freq=1, gradient_steps=1,
                   policy_kwargs={"net_arch": [256, 256]}, device="cpu", seed=0, verbose=0)
    model.learn(total_timesteps=warmup + steps, callback=clock)
    return steps / (time.perf_counter() - clock.start)


def matmul_flops_per_s(rows: int, size: int = 256, seconds: float = 1.0) -> float:
    """The machine's rate for [rows, 256] @ [256, 256], the layer shape of every network here."""
    a, b = torch.randn(rows, size), torch.randn(size, size)
    for _ in range(5):
        a @ b
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        done += 1
    return 2 * rows * size * size * done / (time.perf_counter() - start)


def floor_rate() -> float:
    """The best matmul rate over batch sizes from one SAC batch (256 rows) to AR-DAE's 256 x 128 samples: the
    floor assumes every FLOP runs at the machine's best rate for this layer width."""
    return max(matmul_flops_per_s(rows) for rows in (256, 4096, 32768))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algos", default="sac_gaussian", help="comma-separated conf/algo names")
    parser.add_argument("--env", default="halfcheetah")
    parser.add_argument("--steps", type=int, default=2000, help="timed env steps (= updates) per round")
    parser.add_argument("--warmup", type=int, default=1000, help="random steps before the first update")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-sb3", action="store_true", help="skip the Stable-Baselines3 reference")
    parser.add_argument("--updates-only", type=int, default=0, metavar="N",
                        help="time N updates alone instead of the loop (for SAC-AR-DAE at Table 7 settings)")
    parser.add_argument("--seeds", type=int, default=0, metavar="N",
                        help="with --updates-only: N seeds in one process as one group, against one seed")
    parser.add_argument("--no-apart", action="store_true",
                        help="with --seeds: skip the N single-seed processes side by side")
    parser.add_argument("--override", action="append", default=[], help="extra Hydra override, repeatable")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch CPU threads (0: torch's default, one per core); README, \"Threads\"")
    parser.add_argument("--precisions", default="",
                        help="comma-separated matmul precisions (fp32, tf32, bf16) to time each algorithm at")
    args = parser.parse_args()
    prepare_host(args.threads)  # as python -m runner does
    algos = args.algos.split(",")
    if args.seeds:
        if not args.updates_only:
            parser.error("--seeds needs --updates-only")
        if args.precisions:
            parser.error("--precisions times one seed; with --seeds, pass --override precision=<p>")
        seeds_table(algos, args)
        return
    env_id = compose_config(algos[0], args.env, args.steps, args.warmup, []).env.id
    precisions = [p for p in args.precisions.split(",") if p]
    variants = {(f"{a} {p}" if precisions else a): (a, [*args.override, *([f"precision={p}"] if p else [])])
                for a in algos for p in (precisions or [""])}

    ours: dict[str, list[float]] = {v: [] for v in variants}
    flops: dict[str, float] = {}
    reference: list[float] = []
    for round_ in range(args.rounds):
        for label, (algo, overrides) in variants.items():
            measure = updates_only_per_s if args.updates_only else ours_updates_per_s
            count = args.updates_only or args.steps
            rate, flops[label] = measure(algo, args.env, count, args.warmup, overrides)
            ours[label].append(rate)
            print(f"round {round_ + 1}: {label:14s} {rate:7.1f} updates/s", flush=True)
        if not args.no_sb3:
            reference.append(sb3_updates_per_s(env_id, args.steps, args.warmup))
            print(f"round {round_ + 1}: {'SB3 SAC':14s} {reference[-1]:7.1f} updates/s", flush=True)

    rate = floor_rate()
    sb3 = statistics.median(reference) if reference else None
    what = f"{args.updates_only} updates alone" if args.updates_only else f"{args.steps} loop steps"
    print(f"\n{env_id}, {torch.get_num_threads()} CPU threads, best matmul rate {rate / 1e9:.0f} GFLOP/s, "
          f"medians of {args.rounds} rounds of {what}; ratios are medians of per-round ratios")
    first = next(iter(variants))
    # the ratio column: against the first algorithm, or with --precisions against each algorithm's first precision
    base = {label: next(b for b, (a, _) in variants.items() if a == algo) if precisions else first
            for label, (algo, _) in variants.items()}
    print(f"| algo | updates/s | vs SB3 | vs {precisions[0] if precisions else first} | GFLOP/update | "
          "time / FLOP floor |")
    print("|---|---|---|---|---|---|")
    for label in variants:
        ups = statistics.median(ours[label])
        floor_s = flops[label] / rate
        vs_sb3 = f"{paired_ratio(ours[label], reference):.2f}" if reference else "-"
        print(f"| {label} | {ups:.1f} | {vs_sb3} | {paired_ratio(ours[label], ours[base[label]]):.2f} | "
              f"{flops[label] / 1e9:.2f} | {(1 / ups) / floor_s:.2f} |")
    if sb3:
        print(f"| SB3 SAC | {sb3:.1f} | 1.00 | {paired_ratio(reference, ours[first]):.2f} | | |")


def _side_by_side_worker(args: tuple, barrier, results) -> None:
    prepare_host(1)
    rate, _ = updates_only_per_s(*args, ready=barrier.wait)
    results.put(rate)


def side_by_side_per_s(algo: str, args: argparse.Namespace, processes: int) -> float:
    """Aggregate updates/s of `processes` single-seed processes on one thread each, timed over the same window
    (they wait for each other before their timed updates): the alternative to a group on the same machine."""
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(processes), context.Queue()
    work = (algo, args.env, args.updates_only, args.warmup, args.override)
    workers = [context.Process(target=_side_by_side_worker, args=(work, barrier, results)) for _ in range(processes)]
    for worker in workers:
        worker.start()
    rates = [results.get() for _ in workers]
    for worker in workers:
        worker.join()
    return sum(rates)


def seeds_table(algos: list[str], args: argparse.Namespace) -> None:
    """Aggregate member-updates/s of --seeds members in one group against one seed on the same threads, and
    against --seeds single-seed processes side by side on one thread each, as many at once as there are cores
    or all at once, whichever is faster (not with --no-apart). Each round times them in rotating order, so a slow
    spell of a shared machine lands on every side across rounds."""
    layouts = sorted({min(args.seeds, os.cpu_count() or 1), args.seeds})
    measured: dict[str, dict[str, list[float]]] = {a: {"single": [], "group": [], "apart": []} for a in algos}
    flops: dict[str, tuple[float, float]] = {}
    for round_ in range(args.rounds):
        for algo in algos:
            measure = {
                "single": lambda: updates_only_per_s(algo, args.env, args.updates_only, args.warmup, args.override),
                "group": lambda: updates_only_per_s(algo, args.env, args.updates_only, args.warmup, args.override,
                                                    args.seeds)}
            if not args.no_apart:
                measure["apart"] = lambda: (max(side_by_side_per_s(algo, args, p) for p in layouts), None)
            names = list(measure)
            shift = round_ % len(names)
            results = {name: measure[name]() for name in names[shift:] + names[:shift]}
            for name, (rate, _) in results.items():
                measured[algo][name].append(rate)
            flops[algo] = (results["single"][1], results["group"][1])
            apart = f", {args.seeds} processes {results['apart'][0]:7.1f}" if "apart" in results else ""
            print(f"round {round_ + 1}: {algo:14s} one seed {results['single'][0]:7.1f} updates/s, {args.seeds} seeds "
                  f"{results['group'][0]:7.1f} member-updates/s{apart}", flush=True)
    cfg = compose_config(algos[0], args.env, args.updates_only, args.warmup, args.override)
    device = resolve_device(cfg.device)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{torch.get_num_threads()} CPU threads"
    print(f"\n{cfg.env.id}, {where} for one seed and the group, compile={cfg.compile}, {args.updates_only} "
          f"updates alone per measurement, medians of {args.rounds} rounds; ratios are medians of per-round ratios. "
          + ("" if args.no_apart else f"{args.seeds} processes: single-seed processes on one thread each, "
             f"{' or '.join(map(str, layouts))} at once, the faster"))
    print(f"| algo | 1 seed: updates/s | {args.seeds} seeds: member-updates/s | {args.seeds} seeds / 1 seed | "
          f"{args.seeds} processes: updates/s | {args.seeds} seeds / {args.seeds} processes | "
          "GFLOP/member-update (1 seed, group) |")
    print("|---|---|---|---|---|---|---|")
    for algo in algos:
        rates = measured[algo]
        apart = (f"{statistics.median(rates['apart']):.1f} | {paired_ratio(rates['group'], rates['apart']):.2f}"
                 if rates["apart"] else "- | -")
        print(f"| {algo} | {statistics.median(rates['single']):.1f} | {statistics.median(rates['group']):.1f} | "
              f"{paired_ratio(rates['group'], rates['single']):.2f} | {apart} | {flops[algo][0] / 1e9:.3f}, "
              f"{flops[algo][1] / 1e9:.3f} |")


def paired_ratio(rates: list[float], reference: list[float]) -> float:
    """Median over rounds of rate / reference rate in the same round: a round's two runs are measured back to
    back, so slow spells of a shared machine cancel in the ratio instead of landing on one side."""
    return statistics.median(a / b for a, b in zip(rates, reference))

if __name__ == "__main__":
    main()

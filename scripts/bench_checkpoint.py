"""What checkpoints cost over a long run: a simulated Humanoid-v5 run whose replay fills with synthetic rows of the
real task's sizes, checkpointed every `--every` steps by the runner's own code, once with the replay written as
chunk files (runner.checkpoint.save_with_replay) and once with the whole buffer inside checkpoint.pt, as checkpoints
were written before (runner.checkpoint.save_checkpoint of the trainer's state with `buffer.state_dict()`).

    python -m scripts.bench_checkpoint                  # 1M steps, the whole-buffer scheme timed at every 10th
    python -m scripts.bench_checkpoint --quick          # 100k steps, both schemes at every checkpoint, seconds

Each scheme runs in its own process, so its peak memory (ru_maxrss) is its own. Bytes written are what the
process handed to write(2) during checkpoints (/proc/self/io wchar). No env is stepped and no update is made: the
networks, optimizers and RNG states are a freshly built agent's, of the sizes a real run saves.
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from hydra import compose, initialize_config_dir

from algos.replay import ReplayBuffer
from runner import build
from runner.checkpoint import rng_state, save_checkpoint, save_with_replay
from runner.host import peak_rss_bytes, prepare_host
from runner.replay_store import ReplayStore

CONF = Path(__file__).resolve().parents[1] / "conf"
SCHEMES = ("whole buffer", "chunks")
PAIRED_ROUNDS = 5  # rounds of the paired comparison of one checkpoint at the end against one at the start


def written_bytes() -> int:
    """Bytes this process has passed to write(2) so far."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    raise RuntimeError("/proc/self/io has no wchar line")


def simulate(scheme: str, env: str, algo: str, steps: int, every: int, timed_every: int, run_dir: str) -> dict:
    """One scheme's run: fill `every` synthetic rows, checkpoint, repeat to `steps`. The whole-buffer scheme is
    written (and timed) only at every `timed_every`-th checkpoint, the rows at the others are counted only."""
    prepare_host(1)
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[f"env={env}", f"algo={algo}", f"total_steps={steps}",
                                                       "logger=disabled"])
    train_env, _ = build.build_envs(cfg)
    obs_dim, act_dim = build.dims(train_env)
    device = torch.device("cpu")
    agent = build.build_agent(cfg, obs_dim, act_dim, device)
    buffer = build.build_buffer(cfg, obs_dim, act_dim, device)
    store, folder = ReplayStore(Path(run_dir)), Path(run_dir)
    generator = torch.Generator().manual_seed(0)
    points = []
    for n, step in enumerate(range(every, steps + 1, every), start=1):
        state = advance(buffer, agent, every, generator)
        if scheme == "whole buffer" and n % timed_every and step != steps:
            continue
        before, clock = written_bytes(), time.perf_counter()
        if scheme == "chunks":
            save_with_replay(folder, state, store, buffer)
        else:
            save_checkpoint(folder, {**state, "buffer": buffer.state_dict()})
        points.append({"rows": buffer.size, "seconds": time.perf_counter() - clock,
                       "bytes": written_bytes() - before})
    disk = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    paired = paired_ratios(folder, store, buffer, agent, every, generator) if scheme == "chunks" else []
    return {"points": points, "peak_rss": peak_rss_bytes(),
            "buffer_bytes": buffer.size * buffer.storage.shape[-1] * 4, "width": buffer.storage.shape[-1],
            "checkpoints": steps // every, "disk": disk, "env_id": cfg.env.id, "paired": paired}


def advance(buffer: ReplayBuffer, agent, rows: int, generator: torch.Generator) -> dict:
    """`rows` more synthetic transitions in the ring, and the trainer's state at that step (the replay aside)."""
    start = buffer.position
    buffer.storage[start:start + rows].uniform_(-1, 1, generator=generator)
    buffer.set_ring_state((buffer.added + rows) % buffer.capacity, min(buffer.size + rows, buffer.capacity),
                          buffer.added + rows)
    step = buffer.added
    return {"agent": agent.state_dict(), "rng": {**rng_state(buffer.device), "env": {}},
            "counters": {"step": step, "updates": step, "episodes": 0, "next_checkpoint": step + rows}}


def paired_ratios(folder: Path, store: ReplayStore, buffer: ReplayBuffer, agent, every: int,
                  generator: torch.Generator) -> list[float]:
    """Time of one checkpoint of the full run (`every` more rows, the ring wrapping) over that of a run at its first
    checkpoint (`every` rows in all), in PAIRED_ROUNDS rounds of alternating order: a disk whose speed drifts
    slows both sides of a round alike."""
    ratios = []
    for round_ in range(PAIRED_ROUNDS):
        small = ReplayBuffer(buffer.obs.shape[-1], buffer.rows().shape[-1] - 2 * buffer.obs.shape[-1] - 2, every,
                             buffer.device)  # the action width: a row is [obs | action | reward | next_obs | done]
        small_dir = folder.parent / f"{folder.name}_small"
        small_dir.mkdir()
        sides = {"full": (folder, store, buffer), "small": (small_dir, ReplayStore(small_dir), small)}
        seconds = {}
        for name in (("full", "small") if round_ % 2 else ("small", "full")):
            run_dir, run_store, run_buffer = sides[name]
            state = advance(run_buffer, agent, every, generator)
            clock = time.perf_counter()
            save_with_replay(run_dir, state, run_store, run_buffer)
            seconds[name] = time.perf_counter() - clock
        shutil.rmtree(small_dir)
        ratios.append(seconds["full"] / seconds["small"])
    return ratios


def _worker(function, args: tuple, results) -> None:
    try:
        results.put(function(*args))
    except BaseException as err:  # noqa: BLE001 - handed to the parent, which raises it
        results.put(err)
        raise


def in_own_process(function, *args):
    """`function(*args)` in a fresh process, so that its peak memory is its own; its exception is raised here."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    worker = context.Process(target=_worker, args=(function, args, results))
    worker.start()
    result = results.get()
    worker.join()
    if isinstance(result, BaseException):
        raise result
    return result


def totals(result: dict, every: int) -> tuple[float, float, str]:
    """Total seconds and bytes over every checkpoint of the run: summed where each was measured, else from a
    straight line through the measured ones against rows (the whole-buffer cost is the buffer's size)."""
    points, count = result["points"], result["checkpoints"]
    if len(points) == count:
        return sum(p["seconds"] for p in points), sum(p["bytes"] for p in points), "measured at every checkpoint"
    rows = np.array([p["rows"] for p in points], dtype=float)
    every_rows = np.minimum(np.arange(1, count + 1) * every, result["buffer_bytes"] // (4 * result["width"]))
    fit = {key: np.polyfit(rows, [p[key] for p in points], 1) for key in ("seconds", "bytes")}
    total = {key: float(np.polyval(fit[key], every_rows).sum()) for key in fit}
    return total["seconds"], total["bytes"], f"measured at {len(points)} of {count}, the rest from a linear fit"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=None, help="simulated steps (default 1M, 100k with --quick)")
    parser.add_argument("--every", type=int, default=10_000, help="steps between checkpoints")
    parser.add_argument("--env", default="humanoid")
    parser.add_argument("--algo", default="sac_gaussian")
    parser.add_argument("--timed-every", type=int, default=10,
                        help="write the whole-buffer scheme at every Nth checkpoint only (its total is then fitted)")
    parser.add_argument("--quick", action="store_true", help="100k steps (unless --steps), every checkpoint of both "
                        "schemes timed")
    parser.add_argument("--dir", default=None, help="where the run folders go (default: a temporary folder)")
    args = parser.parse_args()
    if args.quick:
        args.timed_every = 1
    args.steps = args.steps or (100_000 if args.quick else 1_000_000)
    if args.steps % args.every or args.steps < 3 * args.every:
        parser.error("--steps must be a multiple of --every, at least 3 checkpoints")
    results = {}
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for scheme in SCHEMES:
            folder = Path(tmp) / scheme.replace(" ", "_")
            folder.mkdir()
            results[scheme] = in_own_process(simulate, scheme, args.env, args.algo, args.steps, args.every,
                                             args.timed_every, str(folder))
            print(f"{scheme}: done", flush=True)
    report(results, args)


def report(results: dict, args: argparse.Namespace) -> None:
    old, new = results["whole buffer"], results["chunks"]
    print(f"\n{new['env_id']} ({new['width']} floats a transition), {args.algo}, {args.steps} steps, a checkpoint "
          f"every {args.every}, final buffer {new['buffer_bytes'] / 1e9:.2f} GB; one CPU thread")
    print("| | whole buffer in checkpoint.pt | chunk files | chunks / whole |")
    print("|---|---|---|---|")
    sums = {name: totals(result, args.every) for name, result in results.items()}
    rows = [("total written (MB)", lambda r, s: s[1] / 1e6),
            ("total seconds checkpointing", lambda r, s: s[0]),
            ("one checkpoint, first (s)", lambda r, s: r["points"][0]["seconds"]),
            ("one checkpoint, last (s)", lambda r, s: r["points"][-1]["seconds"]),
            ("one checkpoint, first (MB)", lambda r, s: r["points"][0]["bytes"] / 1e6),
            ("one checkpoint, last (MB)", lambda r, s: r["points"][-1]["bytes"] / 1e6),
            ("peak memory of the process (MB)", lambda r, s: r["peak_rss"] / 1e6),
            ("run folder at the end (MB)", lambda r, s: r["disk"] / 1e6)]
    for label, value in rows:
        a, b = value(old, sums["whole buffer"]), value(new, sums["chunks"])
        print(f"| {label} | {a:.{1 if a >= 100 else 3}f} | {b:.{1 if b >= 100 else 3}f} | {b / a:.3f} |")
    print(f"whole buffer: {sums['whole buffer'][2]}; chunks: {sums['chunks'][2]}")
    networks = sum(p["bytes"] for p in new["points"]) - new["buffer_bytes"]
    bound = 1.1 * new["buffer_bytes"] + networks
    print(f"target: written <= 1.1 x final buffer + checkpoint.pt files ({bound / 1e9:.2f} GB): "
          f"{sums['chunks'][1] / 1e9:.2f} GB, {'met' if sums['chunks'][1] <= bound else 'MISSED'}")
    ratio = statistics.median(new["paired"])
    print(f"target: one checkpoint at {new['points'][-1]['rows']} rows within 2x of one at {args.every} rows "
          f"(median over {len(new['paired'])} paired rounds of time at {new['points'][-1]['rows']} / time at "
          f"{args.every}; rounds {', '.join(f'{r:.2f}' for r in new['paired'])}): {ratio:.2f}, "
          f"{'met' if ratio <= 2 else 'MISSED'}")


if __name__ == "__main__":
    main()

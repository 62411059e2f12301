"""What a sweep will cost before it is sent: each (algorithm, task) cell of a preset is measured on this machine's
device for a few hundred updates, an evaluation and a checkpoint, then projected to the configured run length.

    python -m scripts.sweep_cost experiment=paper_table3                 # the whole grid, 5 seeds a cell
    python -m scripts.sweep_cost experiment=paper_table3 env=hopper --updates 100 --group 5
    python -m scripts.sweep_cost experiment=paper_table1 algo=sac_gaussian,sac_nf torch_threads=1

Per run it prints device-hours, peak host and device memory, disk, and the SLURM request a job needs
(`timeout_min` and the requeues it then takes, `mem_gb`, GPUs), for one seed a job and for a group of `--group`
seeds a job (`seeds=[...]`, measured as a group too); then the whole sweep's totals. The projection:
training steps at the measured loop rate (env step + update), warm-up steps and every evaluation episode at the
measured rate of an evaluation step, evaluation episodes taken at the env's full length (an upper bound), every
evaluation's entropy diagnostics, and every checkpoint (networks, and `checkpoint_every` new replay rows). Memory
adds the full replay buffer (not filled here) to what the measuring process used; disk counts the replay's chunk
files, the two checkpoints and the CSV files, not W&B's offline run. Each cell is measured in its own process.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf

from runner import build
from runner.checkpoint import CHECKPOINT_NAME, save_with_replay
from runner.evaluation import entropy_diagnostics, run_episodes
from runner.host import mujoco_log_in, peak_rss_bytes, prepare_host
from runner.identity import RunIdentity
from runner.metrics import EVAL_FILE, TRAIN_FILE
from runner.replay_store import ReplayStore
from runner.validate import resolve_device
from scripts.bench_checkpoint import in_own_process

CONF = Path(__file__).resolve().parents[1] / "conf"


def composed(overrides: list[str], hydra: bool = False) -> DictConfig:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("config", overrides=overrides, return_hydra_config=hydra)


def sweep_grid(arguments: list[str]) -> tuple[list[list[str]], list[str]]:
    """The sweep's cells, one override list per point of its grid but the seed, and the seeds: the preset's
    `hydra.sweeper.params` with the command line's overrides (fixed or swept) taking their keys' place."""
    parser = OverridesParser.create()
    given = parser.parse_overrides(arguments)
    fixed = [a for a, o in zip(arguments, given) if not o.is_sweep_override()]
    params = composed(fixed, hydra=True).hydra.sweeper.params or {}
    grid = {key: str(value) for key, value in OmegaConf.to_container(params).items()}
    grid.update({o.get_key_element(): a.split("=", 1)[1] for a, o in zip(arguments, given)})
    axes = {}
    for key, value in grid.items():
        (parsed,) = parser.parse_overrides([f"{key}={value}"])
        axes[key] = list(parsed.sweep_string_iterator()) if parsed.is_sweep_override() else [value]
    seeds = axes.pop("seed", [str(composed(fixed).seed)])
    cells = [[]]
    for key, values in axes.items():
        cells = [[*cell, f"{key}={v}"] for cell in cells for v in values]
    return cells, seeds


def measure(cell: list[str], updates: int, warmup: int, group: int) -> dict:
    """One cell's rates and sizes, measured here: `group` seeds trained as one group when above 1."""
    full = composed(cell)
    prepare_host(full.torch_threads)
    seeds = [] if group == 1 else [f"seeds=[{','.join(map(str, range(group)))}]"]
    warmup = max(warmup, int(full.sac.batch_size))  # updates begin once the buffer holds a batch
    steps = warmup + updates
    cfg = composed([*cell, *seeds, f"total_steps={steps}", f"warmup_steps={warmup}", f"eval_every={steps}",
                    "eval_episodes=1", f"log_every={max(1, updates // 4)}", f"checkpoint_every={10 * steps}",
                    "logger=disabled", "logger.sinks=[]", "progress=false"])
    device = resolve_device(cfg.device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    with tempfile.TemporaryDirectory() as tmp:
        identities = [RunIdentity.unnamed(OmegaConf.merge(cfg, {"seed": s})) for s in range(group)]
        run_dirs = [identity.run_dir(tmp) for identity in identities]
        for run_dir in run_dirs:
            run_dir.mkdir(parents=True)
        if group == 1:
            trainer = build.build_trainer(cfg, run_dirs[0], identities[0], device)
        else:
            trainer = build.build_group_trainer(cfg, run_dirs, identities, device)
        with mujoco_log_in(Path(tmp)):
            trainer.run()
        loggers = [trainer.logger] if group == 1 else [m.logger for m in trainer.members]
        rates = [float(row["time/updates_per_s"]) for row in loggers[0].train_log.rows()]
        rates = rates[1:] or rates  # the first interval holds the first calls' allocations
        agent = trainer.agent if group == 1 else trainer.probe
        env = trainer.eval_env if group == 1 else trainer.members[0].eval_env
        clock = time.perf_counter()
        episode = run_episodes(agent, env, 1, cfg.eval_deterministic, 0, 0)
        eval_step_s = (time.perf_counter() - clock) / episode["length_mean"]
        clock = time.perf_counter()
        states = trainer.buffer.obs if group == 1 else trainer.buffer.obs[0]
        entropy_diagnostics(agent, states[:cfg.diagnostics.num_states], cfg.diagnostics.num_samples,
                            cfg.diagnostics.knn_k, 0, 0)
        diagnostics_s = time.perf_counter() - clock
        networks_s, networks_bytes = time_network_save(trainer, run_dirs, group)
        width = trainer.buffer.storage.shape[-1]
        chunk_s = time_chunk_write(Path(tmp) / "interval", full.checkpoint_every, width)
        folder = run_dirs[0]
        csv_bytes = {name: row_bytes(folder / name) for name in (EVAL_FILE, TRAIN_FILE)}
        trainer.close()
    peak_device = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else 0
    return {"updates_per_s": statistics.median(rates), "eval_step_s": eval_step_s, "diagnostics_s": diagnostics_s,
            "networks_save_s": networks_s, "networks_bytes": networks_bytes, "chunk_write_s": chunk_s,
            "width": width, "csv_row_bytes": csv_bytes, "peak_rss": peak_rss_bytes(),
            "peak_device": peak_device, "device": device_name(device),
            "episode_steps": int(env.spec.max_episode_steps or episode["length_mean"])}


def time_network_save(trainer, run_dirs: list[Path], group: int) -> tuple[float, int]:
    """Seconds and bytes of a checkpoint with no new replay rows: what every checkpoint costs besides its rows."""
    clock = time.perf_counter()
    if group == 1:
        save_with_replay(run_dirs[0], trainer.state_dict(), trainer.replay_store, trainer.buffer)
    else:
        for g, member in enumerate(trainer.members):
            save_with_replay(member.run_dir, trainer.member_state_dict(g), member.replay_store, trainer.buffer, g)
    return time.perf_counter() - clock, (run_dirs[0] / CHECKPOINT_NAME).stat().st_size


def time_chunk_write(folder: Path, rows: int, width: int) -> float:
    """Seconds to write one checkpoint interval's replay rows as a chunk file."""
    folder.mkdir()
    clock = time.perf_counter()
    ReplayStore(folder).write(torch.zeros(rows, width), position=0, size=rows, added=rows)
    return time.perf_counter() - clock


def row_bytes(path: Path) -> float:
    lines = path.read_bytes().splitlines(keepends=True)
    return sum(map(len, lines[1:])) / max(1, len(lines) - 1)


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} thread(s)"


def measure_apart(cell: list[str], *args) -> dict:
    """`measure` in a fresh process, so that its peak memory is its own; a failure ends the script in one line."""
    try:
        return in_own_process(measure, cell, *args)
    except Exception as err:  # noqa: BLE001 - any failure of a cell's measurement is reported the same way
        raise SystemExit(f"error: measuring {' '.join(cell)} failed: {type(err).__name__}: {err}") from None


def project(cfg: DictConfig, m: dict, members: int, margin: float, launcher: DictConfig) -> dict:
    """One job's cost over the configured run: `members` seeds (1, or a group's) from the measurement `m`."""
    steps, warmup = int(cfg.total_steps), int(cfg.warmup_steps)
    evals = math.ceil(steps / cfg.eval_every)
    checkpoints = steps // cfg.checkpoint_every + 1
    seconds = ((steps - warmup) / m["updates_per_s"] + warmup * m["eval_step_s"] * members
               + evals * members * (cfg.eval_episodes * m["episode_steps"] * m["eval_step_s"] + m["diagnostics_s"])
               + checkpoints * (m["networks_save_s"] + members * m["chunk_write_s"]))
    capacity = min(int(cfg.buffer_size), steps)
    buffer = members * capacity * m["width"] * 4
    on_gpu = m["peak_device"] > 0
    host = m["peak_rss"] + (0 if on_gpu else buffer)
    device = m["peak_device"] + buffer if on_gpu else 0
    rows = evals * m["csv_row_bytes"][EVAL_FILE] + (steps - warmup) / cfg.log_every * m["csv_row_bytes"][TRAIN_FILE]
    disk = members * ((capacity + 2 * cfg.checkpoint_every) * m["width"] * 4 + 2 * m["networks_bytes"] + rows)
    need_min = seconds / 60 * margin
    usable = launcher.timeout_min - launcher.signal_delay_s / 60
    requeues = max(0, math.ceil(need_min / usable) - 1)
    return {"hours": seconds / 3600, "host_gb": host / 1e9, "device_gb": device / 1e9, "disk_gb": disk / 1e9,
            "timeout_min": min(launcher.timeout_min, 10 * math.ceil(need_min / 10)), "requeues": requeues,
            "fits": requeues <= launcher.max_num_timeout, "mem_gb": math.ceil(host / 1e9 * margin),
            "gpus": 1 if on_gpu else 0}


def bad_numbers(args: argparse.Namespace) -> str | None:
    """What is wrong with the numbers on the command line, or None: each must mean something for a projection."""
    if args.updates < 4:
        return f"--updates must be at least 4 (the rate is the median over four train rows), got {args.updates}"
    if args.warmup < 0:
        return f"--warmup must be a number of steps >= 0, got {args.warmup}"
    if args.group < 0:
        return f"--group must be a number of seeds a job (0: the sweep's seed count, 1: no groups), got {args.group}"
    if not (math.isfinite(args.margin) and args.margin >= 1):
        return f"--margin must be a safety factor >= 1 (1.25 asks for a quarter more than measured), got {args.margin}"
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("overrides", nargs="*", help="a preset and Hydra overrides, as for python -m runner")
    parser.add_argument("--updates", type=int, default=300, help="updates measured per cell")
    parser.add_argument("--warmup", type=int, default=300,
                        help="random steps before the measured updates (at least the batch size)")
    parser.add_argument("--group", type=int, default=0,
                        help="seeds per group job (default: the sweep's seed count; 1 skips groups)")
    parser.add_argument("--margin", type=float, default=1.25, help="safety factor on time and memory requests")
    args = parser.parse_args()
    bad = bad_numbers(args)
    if bad:
        print(f"error: {bad}", file=sys.stderr)
        sys.exit(2)
    try:
        cells, seeds = sweep_grid(args.overrides)
        launcher = composed(["hydra/launcher=slurm", *cells[0]], hydra=True).hydra.launcher
        configs = [composed(cell) for cell in cells]
    except HydraException as err:
        print(f"error: {' '.join(str(err).split())}", file=sys.stderr)
        sys.exit(2)
    group = min(args.group or len(seeds), len(seeds))
    print(f"{len(cells)} cells x {len(seeds)} seeds = {len(cells) * len(seeds)} runs; each cell measured for "
          f"{args.updates} updates after {args.warmup} warm-up steps; margin {args.margin} on time and memory; "
          f"launcher timeout_min {launcher.timeout_min}, max_num_timeout {launcher.max_num_timeout}", flush=True)
    layouts = [1] + ([group] if group > 1 else [])
    print("| cell | seeds/job | jobs | device-hours/job | host GB | device GB | disk GB/job | timeout_min x (1 + "
          "requeues) | mem_gb | GPUs |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    totals = {n: {"hours": 0.0, "disk": 0.0, "host": 0.0, "device": 0.0, "jobs": 0} for n in layouts}
    where = ""
    for cell, cfg in zip(cells, configs):
        algo = next((o.split("=", 1)[1] for o in cell if o.startswith("algo=")), cfg.algo.name)
        name = f"{algo}/{cfg.env.name}" + "".join(f" {o}" for o in cell
                                                  if not o.startswith(("algo=", "env=", "experiment=")))
        for members in layouts:
            m = measure_apart(cell, args.updates, args.warmup, members)
            where = m["device"]
            p = project(cfg, m, members, args.margin, launcher)
            jobs = math.ceil(len(seeds) / members)
            t = totals[members]
            t["hours"] += jobs * p["hours"]
            t["disk"] += jobs * p["disk_gb"]
            t["host"], t["device"] = max(t["host"], p["host_gb"]), max(t["device"], p["device_gb"])
            t["jobs"] += jobs
            flag = "" if p["fits"] else " (more than max_num_timeout)"
            print(f"| {name} | {members} | {jobs} | {p['hours']:.2f} | {p['host_gb']:.2f} | {p['device_gb']:.2f} | "
                  f"{p['disk_gb']:.2f} | {p['timeout_min']} x {1 + p['requeues']}{flag} | {p['mem_gb']} | "
                  f"{p['gpus']} |", flush=True)
    print(f"\nmeasured on: {where}")
    for members, t in totals.items():
        print(f"sweep, {members} seed(s) a job: {t['jobs']} jobs, {t['hours']:.1f} device-hours, peak host "
              f"{t['host']:.2f} GB and device {t['device']:.2f} GB a job, {t['disk']:.1f} GB of disk")


if __name__ == "__main__":
    sys.exit(main())

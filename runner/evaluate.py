"""Evaluate a run folder's checkpoint again, without training: `python -m runner.evaluate <run folder> [episodes=N]
[video=true] [checkpoint=latest|previous] [deterministic=true] [device=auto]`.

The policy is built from the folder's config.yaml and loaded from its checkpoint without the replay buffer; the
episodes are seeded as the run's evaluation at that step was, so evaluating the final checkpoint with the run's
settings reproduces the last row of eval.csv. Works on any run folder, a group member's included.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from envs import EnvSpecError, make_env
from runner.build import build_agent, dims
from runner.checkpoint import CHECKPOINT_NAME, PREVIOUS_NAME, read_networks
from runner.errors import RunError
from runner.evaluation import play_episodes
from runner.host import mujoco_log_in, prepare_host
from runner.run_folder import SAVED_CONFIG
from runner.validate import checkpoint_mismatch, resolve_device
from runner.video import VIDEO_DIR, VideoRecorder

USAGE = ("usage: python -m runner.evaluate <run folder> [episodes=N (default: the run's eval_episodes)] [video=true] "
         "[checkpoint=latest|previous] [deterministic=true] [device=auto]")
# What evaluate reads from a run's config.yaml; a file without them is not a config of this runner.
NEEDED_KEYS = ("env.id", "algo.name", "seed", "eval_episodes", "torch_threads")
# Video settings of run folders whose config predates them: conf/config.yaml's values.
VIDEO_DEFAULTS = {"video_frames": 1000, "video_width": 320, "video_height": 240}


@dataclass(frozen=True)
class Options:
    run_dir: Path
    episodes: int | None = None         # None: the run's own eval_episodes
    video: bool = True
    checkpoint: str = "latest"          # latest (falling back to previous when it cannot be read) or previous
    deterministic: bool = True          # the mode action; false samples the policy
    device: str = "auto"


@dataclass(frozen=True)
class Evaluation:
    step: int                           # the checkpoint's env step
    checkpoint: Path
    returns: list[float]
    lengths: list[int]
    video: Path | None


def parse(argv: list[str]) -> Options:
    """The command line as Options; RunError names the first word that is not one."""
    if not argv or "=" in argv[0]:
        raise RunError(USAGE)
    values: dict = {}
    for word in argv[1:]:
        key, sep, text = word.partition("=")
        if not sep or key not in Options.__dataclass_fields__ or key == "run_dir":
            raise RunError(f"{word!r} is not an option; {USAGE}")
        if key == "episodes":
            if not text.isdigit() or int(text) < 1:
                raise RunError(f"episodes must be a positive integer, got {text!r}")
            values[key] = int(text)
        elif key in ("video", "deterministic"):
            if text.lower() not in ("true", "false"):
                raise RunError(f"{key} must be true or false, got {text!r}")
            values[key] = text.lower() == "true"
        elif key == "checkpoint":
            if text not in ("latest", "previous"):
                raise RunError(f"checkpoint must be latest or previous, got {text!r}")
            values[key] = text
        else:
            values[key] = text
    return Options(Path(argv[0]), **values)


def read_policy_state(path: Path) -> tuple[dict, int]:
    """The agent's state (`SAC.state_dict()`) and the env step of the checkpoint at `path`; the replay (chunk files,
    or an earlier format's buffer inside the file) is never read."""
    state = read_networks(path, torch.device("cpu"))
    return state["agent"], int(state["counters"]["step"])


def load_policy(run_dir: Path, which: str) -> tuple[dict, int, Path]:
    """The agent state and step of the folder's `which` checkpoint; `latest` falls back to the previous one with a
    warning when it cannot be read."""
    names = [CHECKPOINT_NAME, PREVIOUS_NAME] if which == "latest" else [PREVIOUS_NAME]
    failures = []
    for path in (run_dir / name for name in names):
        if not path.exists():
            failures.append(f"no {path.name}")
            continue
        try:
            agent_state, step = read_policy_state(path)
        except Exception as err:  # noqa: BLE001 - any failure to read makes the file unusable; reported below
            failures.append(f"{path.name} cannot be read ({type(err).__name__})")
            continue
        if failures:
            print(f"warning: {failures[0]}; evaluating {path.name} (step {step})", file=sys.stderr, flush=True)
        return agent_state, step, path
    raise RunError(f"no readable checkpoint in {run_dir}: {'; '.join(failures)}")


def load_modules(agent, agent_state: dict, path: Path) -> None:
    """Every network of the agent from the checkpoint (optimizers are not needed to act); a checkpoint of another
    configuration does not fit and is refused."""
    try:
        mismatch = checkpoint_mismatch(agent_state, agent)
    except (KeyError, TypeError, AttributeError) as err:
        mismatch = f"no networks in it ({type(err).__name__})"
    if mismatch is not None:
        raise RunError(f"{path} does not hold a checkpoint of this run's configuration: {mismatch}")
    for name, module in agent.modules().items():
        module.load_state_dict(agent_state["modules"][name])


def saved_config(run_dir: Path) -> DictConfig:
    if not run_dir.is_dir():
        raise RunError(f"no run folder at {run_dir}")
    path = run_dir / SAVED_CONFIG
    if not path.is_file():
        raise RunError(f"{run_dir} is not a run folder: it has no {SAVED_CONFIG}")
    try:
        cfg = OmegaConf.load(path)
    except Exception as err:  # noqa: BLE001 - a damaged or foreign file
        raise RunError(f"{path} cannot be read ({type(err).__name__})") from None
    absent = [key for key in NEEDED_KEYS if not isinstance(cfg, DictConfig) or OmegaConf.select(cfg, key) is None]
    if absent:
        raise RunError(f"{path} is not the config of a run of this runner (no {', '.join(absent)}); pass a run "
                       "folder (runs/<experiment>/<task>/<label>/seed<n>)")
    return OmegaConf.merge(VIDEO_DEFAULTS, cfg, {"compile": False})


def evaluate(options: Options) -> Evaluation:
    """Build the run's policy, load it from the checkpoint, play the episodes; the first is recorded on request."""
    cfg = saved_config(options.run_dir)
    device = resolve_device(options.device)
    agent_state, step, path = load_policy(options.run_dir, options.checkpoint)
    prepare_host(cfg.torch_threads)
    episodes = options.episodes or int(cfg.eval_episodes)
    render_size = (cfg.video_width, cfg.video_height) if options.video else None
    try:
        env = make_env(cfg.env.id, render_size)
    except EnvSpecError as err:
        raise RunError(str(err)) from None
    try:
        agent = build_agent(cfg, *dims(env), device)
        load_modules(agent, agent_state, path)
        videos = VideoRecorder(options.run_dir / VIDEO_DIR, cfg.video_frames)
        clip = videos.clip(env) if options.video else None
        with mujoco_log_in(options.run_dir):
            returns, lengths = play_episodes(agent, env, episodes, options.deterministic, cfg.seed, step, clip)
        name = f"evaluate-step{step}" + ("" if options.deterministic else "-sampled")
        video = videos.save(clip, name, step)
    finally:
        env.close()
    return Evaluation(step, path, returns, lengths, None if video is None else video.path)


def report(options: Options, result: Evaluation) -> str:
    mode = "mean action" if options.deterministic else "sampled actions"
    lines = [f"{options.run_dir}: {result.checkpoint.name} (step {result.step}), {len(result.returns)} episodes, "
             f"{mode}",
             f"  return: {np.mean(result.returns):.2f} ± {np.std(result.returns):.2f}",
             f"  episode lengths: {' '.join(str(n) for n in result.lengths)}"]
    if result.video is not None:
        lines.append(f"  video: {result.video}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    try:
        options = parse(argv)
        result = evaluate(options)
    except RunError as err:
        print(f"{err.label}: {err}", file=sys.stderr, flush=True)
        return err.exit_code
    print(report(options, result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""What one evaluation video adds to an evaluation: the same episode played with and without rendering its frames,
and the encodings (the MP4, and the GIF TensorBoard gets), on one machine in one process.

    python -m scripts.video_cost                                   # HalfCheetah-v5, 1000 frames at 320x240
    python -m scripts.video_cost --env hopper --rounds 3 --override video_width=640 --override video_height=480

Rounds alternate the plain and the recorded episode so that drift in machine speed hits both; times are medians
over rounds, wall clock and this process's CPU time (the software renderer's threads included).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir

from envs import make_env
from runner.build import CONF_DIR, build_agent, dims
from runner.evaluation import play_episodes
from runner.host import prepare_host
from runner.sinks import gif_bytes
from runner.video import VideoRecorder, headless_gl


def timed(action) -> tuple[float, float, object]:
    """(wall seconds, CPU seconds, result) of calling `action`."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = action()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="halfcheetah", help="a conf/env/ name")
    parser.add_argument("--algo", default="sac_gaussian", help="the policy that acts (untrained)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--override", action="append", default=[], help="a config override, repeatable")
    args = parser.parse_args()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[f"env={args.env}", f"algo={args.algo}", *args.override])
    prepare_host(cfg.torch_threads)
    backend = headless_gl()
    if backend is None:
        raise SystemExit("no headless OpenGL backend here: nothing to measure")
    env = make_env(cfg.env.id, (cfg.video_width, cfg.video_height))
    torch.manual_seed(cfg.seed)
    agent = build_agent(cfg, *dims(env), torch.device("cpu"))
    plain, recorded, mp4, gif = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        recorder = VideoRecorder(Path(tmp), cfg.video_frames)
        for round_ in range(args.rounds):
            wall, cpu, (_, lengths) = timed(lambda: play_episodes(agent, env, 1, True, cfg.seed, round_))
            plain.append((wall, cpu))
            clip = recorder.clip(env)
            wall, cpu, _ = timed(lambda: play_episodes(agent, env, 1, True, cfg.seed, round_, clip))
            recorded.append((wall, cpu))
            wall, cpu, video = timed(lambda: recorder.save(clip, f"round{round_}", round_))
            mp4.append((wall, cpu))
            wall, cpu, _ = timed(lambda: gif_bytes(video))
            gif.append((wall, cpu))
    env.close()

    def median(pairs, i):
        return statistics.median(p[i] for p in pairs)

    print(f"{cfg.env.id}, {lengths[0]}-step episode, {len(clip.frames)} frames at {cfg.video_width}x"
          f"{cfg.video_height}, MUJOCO_GL={backend}, torch_threads={cfg.torch_threads}, {args.rounds} rounds\n")
    print("| part | wall s | CPU s |\n| --- | ---: | ---: |")
    rows = {"episode, not recorded": (plain, None), "episode, recorded": (recorded, None),
            "rendering (the difference)": (recorded, plain), "MP4 encoding": (mp4, None),
            "TensorBoard's GIF": (gif, None)}
    for label, (pairs, minus) in rows.items():
        values = [median(pairs, i) - (median(minus, i) if minus else 0.0) for i in (0, 1)]
        print(f"| {label} | {values[0]:.1f} | {values[1]:.1f} |")


if __name__ == "__main__":
    main()

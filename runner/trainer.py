"""The training loop: one env step and one SAC update per step, evaluation, logging and checkpoints."""

from __future__ import annotations

import math
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import gymnasium as gym
import numpy as np
import torch

from algos.knn_reference import KNN_DEFAULT
from algos.replay import ReplayBuffer
from algos.sac import SAC
from envs.episode import EpisodeLog
from envs.make import get_rng_state, set_rng_state
from runner.checkpoint import restore_replay, rng_state, save_with_replay
from runner.checkpoint import set_rng_state as set_torch_rng_state
from runner.errors import Diverged
from runner.evaluation import entropy_diagnostics, run_episodes
from runner.host import peak_rss_bytes
from runner.interrupt import StopRequest
from runner.metrics import MetricsLogger
from runner.replay_store import ReplayStore
from runner.schedule import TrainingSchedule
from runner.video import VIDEO_DIR, VideoRecorder


# How long a stop request may wait for the episode's end before the checkpoint is taken inside the episode instead;
# RUNNER_STOP_WAIT_S changes it (docs/checkpoints.md).
STOP_WAIT_S = float(os.environ.get("RUNNER_STOP_WAIT_S", "60"))


class Trainer(TrainingSchedule):
    """Runs one seed of one algorithm on one task to `total_steps`, resuming from `run_dir` when it can.

    Checkpoints are taken at the first episode boundary after every `checkpoint_every` steps: with the env's
    generator saved and the next episode not begun, a resumed run replays the uninterrupted one exactly (CPU).
    A `stop` request (SIGINT, SIGTERM) is honoured at the next episode boundary for the same reason, unless that
    boundary is more than STOP_WAIT_S away at the current rate: then the checkpoint is taken after the current step
    with the episode so far (its start and actions, as a group's member keeps them), which a resume replays, so the
    resume stays exact there too.
    """

    def __init__(self, env: gym.Env, eval_env: gym.Env, agent: SAC, buffer: ReplayBuffer, logger: MetricsLogger,
                 run_dir: Path, *, seed: int, total_steps: int, warmup_steps: int, batch_size: int,
                 eval_every: int, eval_episodes: int, eval_deterministic: bool, log_every: int,
                 checkpoint_every: int, diagnostic_states: int, diagnostic_samples: int, knn_k: int = 3,
                 progress: bool = True, stop: StopRequest | None = None, video_every: int = 0,
                 video_frames: int = 1000, knn_method: str = KNN_DEFAULT, warmup_action_range: float = 1.0):
        self.env, self.eval_env, self.agent, self.buffer, self.logger = env, eval_env, agent, buffer, logger
        self.run_dir = run_dir
        self.replay_store = ReplayStore(run_dir)
        self.seed = seed
        self._set_schedule(total_steps=total_steps, warmup_steps=warmup_steps, batch_size=batch_size,
                           eval_every=eval_every, eval_episodes=eval_episodes, eval_deterministic=eval_deterministic,
                           log_every=log_every, checkpoint_every=checkpoint_every,
                           diagnostic_states=diagnostic_states, diagnostic_samples=diagnostic_samples, knn_k=knn_k,
                           progress=progress, stop=stop, video_every=video_every, knn_method=knn_method,
                           warmup_action_range=warmup_action_range)
        self.videos = VideoRecorder(run_dir / VIDEO_DIR, video_frames)
        self.action_rng = np.random.default_rng(seed)  # warm-up actions
        self.episode = EpisodeLog()
        self.episode_open = False  # whether the env stands inside an episode (a checkpoint then saves it)
        self.episode_return = 0.0
        if stop is not None:
            stop.safe_point = (f"the end of this episode, or after this step when that end is more than "
                               f"{STOP_WAIT_S:g} s away")
        self.episodes = 0
        self.last_eval: float | None = None
        self.last_episode_return: float | None = None

    def close(self) -> None:
        """Finish the metric sinks and close both envs."""
        self.logger.close()
        self.env.close()
        self.eval_env.close()

    def report(self) -> str:
        """The end-of-run summary: how far it got, where its files are, where each sink's output went."""
        resumed = f" (resumed from step {self.resumed_from})" if self.resumed_from is not None else ""
        lines = [f"done: {self.step} env steps, {self.updates} updates{resumed}",
                 f"  last eval return: {self.last_eval:.1f}" if self.last_eval is not None else "",
                 f"  run folder: {self.run_dir}",
                 f"  metrics:    {self.run_dir / 'eval.csv'}, {self.run_dir / 'train.csv'}",
                 f"  videos:     {self.videos.folder}" if self.videos.folder.is_dir() else "",
                 *self.logger.describe()]
        return "\n".join(line for line in lines if line)

    # --- state -----------------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Everything but the replay, which `save_with_replay` writes as chunk files and names in "buffer"."""
        return {"agent": self.agent.state_dict(),
                "rng": {**rng_state(self.agent.device), "actions": self.action_rng.bit_generator.state,
                        "env": get_rng_state(self.env)},
                "counters": {"step": self.step, "updates": self.updates, "episodes": self.episodes,
                             "next_checkpoint": self.next_checkpoint},
                "episode": {"last_return": self.last_episode_return, **self._open_episode()}}

    def _open_episode(self) -> dict:
        """The episode under way (its start, actions and return so far), for a checkpoint taken inside it."""
        if not self.episode_open:
            return {}
        episode = self.episode.state_dict()
        return {"start": episode["start"], "actions": torch.from_numpy(episode["actions"]),
                "return": self.episode_return}

    def load_state_dict(self, state: dict) -> None:
        self.agent.load_state_dict(state["agent"])
        restore_replay(state["buffer"], self.replay_store, self.buffer)
        set_torch_rng_state(state["rng"], self.agent.device)
        self.action_rng.bit_generator.state = state["rng"]["actions"]
        set_rng_state(self.env, state["rng"]["env"])
        counters = state["counters"]
        self.step, self.updates, self.episodes = counters["step"], counters["updates"], counters["episodes"]
        self.next_checkpoint = counters["next_checkpoint"]
        self.checkpoint_step = self.step
        # the train rows after a resume carry the return of the episode before it (checkpoints before this key
        # existed leave that cell empty until the next episode ends)
        self.last_episode_return = state.get("episode", {}).get("last_return")

    def _checkpoint(self, metrics: dict[str, torch.Tensor] | None) -> None:
        self._check_finite(metrics)
        save_with_replay(self.run_dir, self.state_dict(), self.replay_store, self.buffer)
        self.checkpoint_step = self.step

    def _check_finite(self, metrics: dict[str, torch.Tensor] | None) -> None:
        """One host sync: any non-finite loss or parameter stops the run before it can overwrite a checkpoint."""
        tensors = list((metrics or {}).values()) + [p for m in self.agent.modules().values() for p in m.parameters()]
        if tensors and not bool(torch.stack([torch.isfinite(t).all() for t in tensors]).all()):
            bad = [k for k, v in (metrics or {}).items() if not bool(torch.isfinite(v).all())]
            self._diverged(", ".join(bad) or "parameters")

    def _check_row(self, row: dict) -> None:
        """No non-finite number reaches a CSV file: it stops the run instead."""
        bad = [k for k, v in row.items() if isinstance(v, float) and not math.isfinite(v)]
        if bad:
            self._diverged(", ".join(bad[:4]))

    def _diverged(self, what: str) -> None:
        if self.checkpoint_step is None:
            kept = (f"no checkpoint was written before it; restart=true starts over (the rows kept move to "
                    f"{self.run_dir / '.previous'})")
        else:
            kept = f"the checkpoint of step {self.checkpoint_step} is kept in {self.run_dir}"
        raise Diverged(f"non-finite values at step {self.step} ({what}); stopping: {kept}")

    # --- loop ------------------------------------------------------------------------------------------------
    def run(self, state: dict | None = None) -> None:
        """Train from `state` (a checkpoint) or from scratch to `total_steps`."""
        if state is not None:
            self.load_state_dict(state)
            self.resumed_from = self.step
            self.logger.truncate_after(self.step)
            obs = self._resume_episode(state)
        else:
            self.logger.truncate_after(0)  # rows of an attempt that wrote no history worth keeping
            obs, _ = self.episode.reset(self.env, seed=self.seed)
        self.episode_open = True
        self.logger.open()
        bar = self._progress_bar()
        metrics: dict[str, torch.Tensor] | None = None
        timer = RateTimer(self.step, self.updates, self.agent.device)
        clock = time.perf_counter()
        while self.step < self.total_steps:
            if self.step < self.warmup_steps:
                action = self._warmup_action(self.action_rng, self.env.action_space.shape)
            else:
                action = self.agent.act(obs)
                if not np.isfinite(action).all():  # act() already synced: the check is free, and MuJoCo never
                    self._diverged("actions")      # steps on NaN
            next_obs, reward, terminated, truncated, _ = self.episode.step(self.env, action)
            self.buffer.add(obs, action, reward, next_obs, terminated)
            obs, self.episode_return, self.step = next_obs, self.episode_return + float(reward), self.step + 1
            metrics = self._after_step(metrics, timer, bar)
            if terminated or truncated:
                self.episodes += 1
                self.episode_open = False
                self.last_episode_return, self.episode_return = self.episode_return, 0.0
                if self.step >= self.next_checkpoint:
                    self.next_checkpoint = self.step + self.checkpoint_every
                    with timer.phase("checkpoint"):
                        self._checkpoint(metrics)
                if self.stop:
                    self._stop_here(metrics, bar)
                obs, _ = self.episode.reset(self.env)
                self.episode_open = True
            elif self.stop and self._episode_end_s(time.perf_counter() - clock) > STOP_WAIT_S:
                self._stop_here(metrics, bar, where=f" (inside an episode, after its {len(self.episode.actions)} "
                                                    "steps, which the resume replays)")
            clock = time.perf_counter()
            bar.update(1)
        bar.close()
        self._checkpoint(metrics)

    def _resume_episode(self, state: dict) -> np.ndarray:
        """Where the env stands after loading `state`: the saved episode replayed when the checkpoint was taken
        inside one (then the env's generator as it was at that step), else a new episode."""
        episode = state.get("episode", {})
        if "actions" not in episode:
            return self.episode.reset(self.env)[0]
        obs = self.episode.restore(self.env, {"start": episode["start"],
                                              "actions": episode["actions"].cpu().numpy()})
        set_rng_state(self.env, state["rng"]["env"])
        self.episode_return = episode["return"]
        return obs

    def _episode_end_s(self, step_s: float) -> float:
        """Seconds to the end of this episode at `step_s` a step, if it runs to the task's step limit."""
        limit = self.env.spec.max_episode_steps if self.env.spec is not None else None
        return max(0, (limit or 1000) - len(self.episode.actions)) * step_s

    def _saved_where(self) -> str:
        return f"checkpoint saved in {self.run_dir}; the same command resumes from it"

    def _log_train(self, metrics: dict[str, torch.Tensor], timer: RateTimer) -> None:
        row = {"step": self.step, "updates": self.updates, **{k: float(v) for k, v in metrics.items()}}
        if not all(math.isfinite(v) for v in row.values()):
            self._check_finite(metrics)
        row.update(timer.rates(self.step, self.updates))
        if self.last_episode_return is not None:
            row["train/episode_return"] = self.last_episode_return
        self._check_row(row)
        self.logger.log_train(row)

    def _eval_return(self) -> float:
        return self.last_eval

    def _evaluate(self) -> None:
        clip = self.videos.clip(self.eval_env) if self._video_due() else None
        row = {"step": self.step, **run_episodes(self.agent, self.eval_env, self.eval_episodes,
                                                 self.eval_deterministic, self.seed, self.step, clip)}
        if self.buffer.size >= self.diagnostic_states:
            states = self.buffer.obs[:self.diagnostic_states]
            row.update(entropy_diagnostics(self.agent, states, self.diagnostic_samples, self.knn_k, self.seed,
                                           self.step, self.knn_method))
        self._check_row(row)
        self.last_eval = row["return_mean"]
        self.logger.log_eval(row)
        video = self.videos.save(clip, f"step{self.step}", self.step)
        if video is not None:
            self.logger.log_video(video)


class RateTimer:
    """What each train row says about the interval since the previous one: env steps and updates per second, the
    seconds of it spent in evaluations and in checkpoints, and the process's peak memory so far (host, and the
    CUDA device's when the agent is on one)."""

    PHASES = ("eval", "checkpoint")

    def __init__(self, step: int, updates: int, device: torch.device | None = None):
        self.time, self.step, self.updates = time.perf_counter(), step, updates
        self.device = device
        self.spent = dict.fromkeys(self.PHASES, 0.0)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Count the block's wall time toward `name` in the next row."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.spent[name] += time.perf_counter() - start

    def rates(self, step: int, updates: int) -> dict[str, float]:
        now = time.perf_counter()
        elapsed = max(now - self.time, 1e-9)
        rates = {"time/env_steps_per_s": (step - self.step) / elapsed,
                 "time/updates_per_s": (updates - self.updates) / elapsed,
                 **{f"time/{name}_s": seconds for name, seconds in self.spent.items()},
                 "memory/peak_rss_mb": peak_rss_bytes() / 2**20}
        if self.device is not None and self.device.type == "cuda":
            rates["memory/peak_device_mb"] = torch.cuda.max_memory_allocated(self.device) / 2**20
        self.time, self.step, self.updates = now, step, updates
        self.spent = dict.fromkeys(self.PHASES, 0.0)
        return rates

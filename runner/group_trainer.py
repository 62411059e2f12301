"""The training loop of a group of seeds (`seeds=[...]`): one env per seed stepped together, one batched SAC update
per step for every member, and each member's evaluation, rows and checkpoint in its own run folder."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

from algos.knn_reference import KNN_DEFAULT
from algos.replay import ReplayBuffer
from algos.sac import SAC
from algos.stacking import (
    load_member_modules,
    load_stacked_state_dicts,
    member_state_dict,
)
from envs.episode import EpisodeLog
from envs.make import get_rng_state, set_rng_state
from runner.checkpoint import restore_replay, save_together
from runner.errors import Diverged
from runner.evaluation import entropy_diagnostics, run_episodes
from runner.interrupt import StopRequest
from runner.metrics import MetricsLogger
from runner.replay_store import ReplayStore
from runner.schedule import TrainingSchedule
from runner.trainer import RateTimer
from runner.video import VIDEO_DIR, VideoRecorder


@dataclass
class MemberRun:
    """One seed of the group: its envs, run folder and metrics, and where its current episode stands. Its warm-up
    actions come from `default_rng(seed)`, as a single run's do."""
    seed: int
    run_dir: Path
    env: gym.Env
    eval_env: gym.Env
    logger: MetricsLogger
    episode: EpisodeLog = field(default_factory=EpisodeLog)
    obs: np.ndarray | None = None
    episode_return: float = 0.0
    last_episode_return: float | None = None
    last_eval: float | None = None
    episodes: int = 0

    def __post_init__(self):
        self.action_rng = np.random.default_rng(self.seed)
        self.replay_store = ReplayStore(self.run_dir)


class GroupTrainer(TrainingSchedule):
    """Trains every member to `total_steps` in lockstep; the settings are the single Trainer's.

    Members reach episode boundaries at different steps, so a checkpoint does not wait for one: each member's
    episode is kept as an EpisodeLog (its start and actions), and a resumed member replays it to stand exactly
    where it stood. Checkpoints are therefore taken every `checkpoint_every` steps, and a `stop` request is honoured
    after the step it arrives in. Member g is evaluated by `probe`, a single-seed agent loaded with member g's
    networks, so its evaluation and entropy diagnostics are a single run's code on member g's parameters.
    """

    def __init__(self, members: list[MemberRun], agent: SAC, probe: SAC, buffer: ReplayBuffer, *, total_steps: int,
                 warmup_steps: int, batch_size: int, eval_every: int, eval_episodes: int, eval_deterministic: bool,
                 log_every: int, checkpoint_every: int, diagnostic_states: int, diagnostic_samples: int,
                 knn_k: int = 3, progress: bool = True, stop: StopRequest | None = None, video_every: int = 0,
                 video_frames: int = 1000, knn_method: str = KNN_DEFAULT, warmup_action_range: float = 1.0):
        self.members, self.agent, self.probe, self.buffer = members, agent, probe, buffer
        self._set_schedule(total_steps=total_steps, warmup_steps=warmup_steps, batch_size=batch_size,
                           eval_every=eval_every, eval_episodes=eval_episodes, eval_deterministic=eval_deterministic,
                           log_every=log_every, checkpoint_every=checkpoint_every,
                           diagnostic_states=diagnostic_states, diagnostic_samples=diagnostic_samples, knn_k=knn_k,
                           progress=progress, stop=stop, video_every=video_every, knn_method=knn_method,
                           warmup_action_range=warmup_action_range)
        self.videos = [VideoRecorder(member.run_dir / VIDEO_DIR, video_frames) for member in members]
        if stop is not None:
            stop.safe_point = "after this step"

    def close(self) -> None:
        for member in self.members:
            member.logger.close()
            member.env.close()
            member.eval_env.close()

    def report(self) -> str:
        """The end-of-run summary: how far the group got, and each member's folder, last return and sinks."""
        resumed = f" (resumed from step {self.resumed_from})" if self.resumed_from is not None else ""
        lines = [(f"done: {self.step} env steps and {self.updates} updates for each of {len(self.members)} seeds"
                  f"{resumed}; eval.csv, train.csv and checkpoint.pt in each run folder")]
        for member in self.members:
            last = f", last eval return {member.last_eval:.1f}" if member.last_eval is not None else ""
            lines.append(f"  seed {member.seed}{last}: {member.run_dir}")
            lines += ["  " + line for line in member.logger.describe()]
        return "\n".join(lines)

    # --- state -----------------------------------------------------------------------------------------------
    def member_state_dict(self, g: int) -> dict:
        """Member g's checkpoint: its slice of every part in a single run's format, plus its episode so far; its
        replay rows are written by `save_together`."""
        member = self.members[g]
        episode = member.episode.state_dict()
        return {"agent": member_state_dict(self.agent, g),
                "rng": {"torch": self.agent.members.generators[g].get_state(),
                        "actions": member.action_rng.bit_generator.state, "env": get_rng_state(member.env)},
                "episode": {"start": episode["start"], "actions": torch.from_numpy(episode["actions"]),
                            "return": member.episode_return, "last_return": member.last_episode_return},
                "counters": {"step": self.step, "updates": self.updates, "episodes": member.episodes,
                             "next_checkpoint": self.next_checkpoint}}

    def load_state_dicts(self, states: list[dict]) -> None:
        """Every member from its checkpoint; all of one step (runner.checkpoint.load_group)."""
        load_stacked_state_dicts(self.agent, [state["agent"] for state in states])
        for g, (member, state) in enumerate(zip(self.members, states)):
            restore_replay(state["buffer"], member.replay_store, self.buffer, g)
            self.agent.members.generators[g].set_state(state["rng"]["torch"].cpu())
            member.action_rng.bit_generator.state = state["rng"]["actions"]
            episode = state["episode"]
            member.obs = member.episode.restore(member.env, {"start": episode["start"],
                                                             "actions": episode["actions"].cpu().numpy()})
            set_rng_state(member.env, state["rng"]["env"])
            member.episode_return, member.last_episode_return = episode["return"], episode["last_return"]
            member.episodes = state["counters"]["episodes"]
        counters = states[0]["counters"]
        self.step, self.updates = counters["step"], counters["updates"]
        self.next_checkpoint = counters["next_checkpoint"]
        self.checkpoint_step = self.step

    def _checkpoint(self, metrics: dict[str, torch.Tensor] | None) -> None:
        """Every member's checkpoint, or none: a non-finite member stops the group before any is overwritten."""
        self._check_finite(metrics)
        save_together([(member.run_dir, self.member_state_dict(g), member.replay_store, g)
                       for g, member in enumerate(self.members)], self.buffer)
        self.checkpoint_step = self.step

    def _check_finite(self, metrics: dict[str, torch.Tensor] | None) -> None:
        """One host sync: which members, if any, have a non-finite metric or parameter."""
        size = len(self.members)
        tensors = list((metrics or {}).values()) + [p for m in self.agent.modules().values() for p in m.parameters()]
        finite = torch.stack([torch.isfinite(t).reshape(size, -1).all(1) for t in tensors]).all(0).tolist()
        for g, (member, ok) in enumerate(zip(self.members, finite)):
            if not ok:
                bad = [k for k, v in (metrics or {}).items() if not bool(torch.isfinite(v[g]))]
                self._diverged(member, ", ".join(bad) or "parameters")

    def _check_row(self, row: dict, member: MemberRun) -> None:
        bad = [k for k, v in row.items() if isinstance(v, float) and not math.isfinite(v)]
        if bad:
            self._diverged(member, ", ".join(bad[:4]))

    def _diverged(self, member: MemberRun, what: str) -> None:
        if self.checkpoint_step is None:
            kept = "no checkpoint was written before it; restart=true starts the group over"
        else:
            kept = f"every member's checkpoint of step {self.checkpoint_step} is kept in its folder"
        raise Diverged(f"non-finite values at step {self.step} in {member.run_dir} ({what}); stopping the group "
                       f"of {len(self.members)} seeds: {kept}")

    # --- loop ------------------------------------------------------------------------------------------------
    def run(self, states: list[dict] | None = None) -> None:
        """Train from the members' checkpoints `states` or from scratch to `total_steps`."""
        if states is not None:
            self.load_state_dicts(states)
            self.resumed_from = self.step
        for member in self.members:
            member.logger.truncate_after(self.step)
            if states is None:
                member.obs, _ = member.episode.reset(member.env, seed=member.seed)
            member.logger.open()
        bar = self._progress_bar()
        metrics: dict[str, torch.Tensor] | None = None
        timer = RateTimer(self.step, self.updates, self.agent.device)
        while self.step < self.total_steps:
            obs = np.stack([member.obs for member in self.members])
            if self.step < self.warmup_steps:
                actions = np.stack([self._warmup_action(m.action_rng, m.env.action_space.shape)
                                    for m in self.members])
            else:
                actions = self.agent.act(obs)
                for member, finite in zip(self.members, np.isfinite(actions).all(axis=-1)):
                    if not finite:  # act() already synced: the check is free, and MuJoCo never steps on NaN
                        self._diverged(member, "actions")
            outcomes = [m.episode.step(m.env, action) for m, action in zip(self.members, actions)]
            next_obs, rewards, terminated, truncated, _ = (np.array(column) for column in zip(*outcomes))
            self.buffer.add(obs, actions, rewards, next_obs, terminated)
            self.step += 1
            for member, observation, reward in zip(self.members, next_obs, rewards):
                member.obs, member.episode_return = observation, member.episode_return + float(reward)
            metrics = self._after_step(metrics, timer, bar)
            for member, done in zip(self.members, terminated | truncated):
                if done:
                    member.episodes += 1
                    member.last_episode_return, member.episode_return = member.episode_return, 0.0
                    member.obs, _ = member.episode.reset(member.env)
            bar.update(1)
            if self.step >= self.next_checkpoint and self.step < self.total_steps:
                self.next_checkpoint = self.step + self.checkpoint_every
                with timer.phase("checkpoint"):
                    self._checkpoint(metrics)
            if self.stop:
                self._stop_here(metrics, bar)
        bar.close()
        self._checkpoint(metrics)

    def _saved_where(self) -> str:
        return (f"checkpoints saved in {', '.join(str(m.run_dir) for m in self.members)}; the same command resumes "
                "from them")

    def _log_train(self, metrics: dict[str, torch.Tensor], timer: RateTimer) -> None:
        values = {name: value.tolist() for name, value in metrics.items()}
        rates = timer.rates(self.step, self.updates)
        for g, member in enumerate(self.members):
            row = {"step": self.step, "updates": self.updates, **{k: v[g] for k, v in values.items()}}
            if not all(math.isfinite(v) for v in row.values()):
                self._check_finite(metrics)
            row.update(rates)
            if member.last_episode_return is not None:
                row["train/episode_return"] = member.last_episode_return
            self._check_row(row, member)
            member.logger.log_train(row)

    def _eval_return(self) -> float:
        """The members' mean last evaluation return, for the progress bar."""
        return float(np.mean([m.last_eval for m in self.members]))

    def _evaluate(self) -> None:
        for g, (member, videos) in enumerate(zip(self.members, self.videos)):
            load_member_modules(self.probe, self.agent, g)
            clip = videos.clip(member.eval_env) if self._video_due() else None
            row = {"step": self.step, **run_episodes(self.probe, member.eval_env, self.eval_episodes,
                                                     self.eval_deterministic, member.seed, self.step, clip)}
            if self.buffer.size >= self.diagnostic_states:
                row.update(entropy_diagnostics(self.probe, self.buffer.obs[g, :self.diagnostic_states],
                                               self.diagnostic_samples, self.knn_k, member.seed, self.step,
                                               self.knn_method))
            self._check_row(row, member)
            member.last_eval = row["return_mean"]
            member.logger.log_eval(row)
            video = videos.save(clip, f"step{self.step}", self.step)
            if video is not None:
                member.logger.log_video(video)

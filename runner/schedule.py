"""What the single-seed Trainer and the GroupTrainer share: the loop's settings, its progress bar, and what follows
each environment step."""

from __future__ import annotations

import sys

import numpy as np
import torch
from tqdm import tqdm

from algos.knn_reference import KNN_DEFAULT
from runner.errors import Interrupted
from runner.interrupt import StopRequest


class TrainingSchedule:
    """The step loop's schedule. A subclass provides `agent`, `buffer`, `_log_train(metrics, timer)`,
    `_evaluate()`, `_eval_return()`, `_checkpoint(metrics)` and `_saved_where()`, and calls `_set_schedule` in its
    constructor."""

    def _set_schedule(self, *, total_steps: int, warmup_steps: int, batch_size: int, eval_every: int,
                      eval_episodes: int, eval_deterministic: bool, log_every: int, checkpoint_every: int,
                      diagnostic_states: int, diagnostic_samples: int, knn_k: int, progress: bool,
                      stop: StopRequest | None, video_every: int = 0, knn_method: str = KNN_DEFAULT,
                      warmup_action_range: float = 1.0) -> None:
        self.total_steps, self.warmup_steps, self.batch_size = total_steps, warmup_steps, batch_size
        self.warmup_action_range = warmup_action_range
        self.eval_every, self.eval_episodes, self.eval_deterministic = eval_every, eval_episodes, eval_deterministic
        self.log_every, self.checkpoint_every = log_every, checkpoint_every
        self.video_every = video_every
        self.diagnostic_states, self.diagnostic_samples, self.knn_k = diagnostic_states, diagnostic_samples, knn_k
        self.knn_method = knn_method
        self.progress, self.stop = progress, stop
        self.step = self.updates = 0
        self.next_checkpoint = checkpoint_every
        self.resumed_from: int | None = None
        self.checkpoint_step: int | None = None  # step of the newest checkpoint on disk

    def _warmup_action(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        """A uniform action in [-r, r]^d of the policy's [-1, 1]^d box, r = `warmup_action_range` (1.0: the whole
        box; the AR-DAE authors' Humanoid received 0.4 of it, docs/fidelity.md item 5)."""
        bound = self.warmup_action_range
        return rng.uniform(-bound, bound, shape).astype(np.float32)

    def _video_due(self) -> bool:
        """Whether the evaluation at this step records a video: the n-th evaluation (the one at a step in
        ((n - 1) * eval_every, n * eval_every]) does when `video_every` divides n."""
        evaluation = -(-self.step // self.eval_every)
        return self.video_every > 0 and evaluation % self.video_every == 0

    def _stop_here(self, metrics: dict[str, torch.Tensor] | None, bar: tqdm, where: str = "") -> None:
        """Ends the loop on a stop request: a checkpoint of this step (unless the newest already is) and an
        Interrupted that says where it went (`where`: what kind of safe point this step is, when not the usual)."""
        bar.close()
        if self.checkpoint_step != self.step:
            self._checkpoint(metrics)
        raise Interrupted(f"{self.stop.name} at step {self.step}{where} of {self.total_steps}: "
                          f"{self._saved_where()}", self.stop.signum)

    def _progress_bar(self) -> tqdm:
        """Steps done of `total_steps` on stderr; refreshed every second on a terminal, every 30 s in a log."""
        return tqdm(total=self.total_steps, initial=self.step, disable=not self.progress, unit="step",
                    dynamic_ncols=True, mininterval=1.0 if sys.stderr.isatty() else 30.0, file=sys.stderr)

    def _after_step(self, metrics: dict[str, torch.Tensor] | None, timer,
                    bar: tqdm) -> dict[str, torch.Tensor] | None:
        """One update once warm-up is over and the buffer holds a batch (a train row every `log_every` updates),
        then an evaluation every `eval_every` steps and at the last. Returns the newest update's metrics."""
        if self.step > self.warmup_steps and self.buffer.size >= self.batch_size:
            metrics = self.agent.update(self.buffer.sample(self.batch_size))
            self.updates += 1
            if self.updates % self.log_every == 0:
                self._log_train(metrics, timer)
        if self.step % self.eval_every == 0 or self.step == self.total_steps:
            with timer.phase("eval"):
                self._evaluate()
            bar.set_postfix(eval_return=f"{self._eval_return():.1f}")
        return metrics

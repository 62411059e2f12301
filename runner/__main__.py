"""Entry point: `python -m runner algo=... env=... seed=...`. Builds the parts and hands them to the Trainer."""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig

from runner import build
from runner.checkpoint import load_latest
from runner.errors import RunError
from runner.host import prepare_host
from runner.interrupt import stop_on_signals
from runner.run_folder import open_run_folder
from runner.schema import validated
from runner.trainer import Trainer
from runner.validate import check_run_folder, resolve_device, run_folder


def train(cfg: DictConfig) -> Path:
    """Validate, build, train; returns the run folder. Nothing is written before every check has passed."""
    composed, cfg = cfg, validated(cfg)
    run_dir = run_folder(cfg)
    device = resolve_device(cfg.device)
    check_run_folder(run_dir, cfg)
    with stop_on_signals() as stop:
        state = None if cfg.restart else load_latest(run_dir, device)
        prepare_host(cfg.torch_threads)
        torch.manual_seed(cfg.seed)

        env, eval_env = build.build_envs(cfg)
        obs_dim, act_dim = build.dims(env)
        agent = build.build_agent(cfg, obs_dim, act_dim, device)
        buffer = build.build_buffer(cfg, obs_dim, act_dim, device)
        open_run_folder(run_dir, cfg, composed, restart=cfg.restart)
        logger = build.build_logger(cfg, run_dir)
        trainer = Trainer(env, eval_env, agent, buffer, logger, run_dir, seed=cfg.seed, total_steps=cfg.total_steps,
                          warmup_steps=cfg.warmup_steps, batch_size=cfg.sac.batch_size, eval_every=cfg.eval_every,
                          eval_episodes=cfg.eval_episodes, eval_deterministic=cfg.eval_deterministic,
                          log_every=cfg.log_every, checkpoint_every=cfg.checkpoint_every,
                          diagnostic_states=cfg.diagnostics.num_states,
                          diagnostic_samples=cfg.diagnostics.num_samples, progress=cfg.progress, stop=stop)
        try:
            trainer.run(state)
        finally:
            logger.wandb.finish()
            env.close()
            eval_env.close()
    _report(run_dir, trainer, logger)
    return run_dir


def _report(run_dir: Path, trainer: Trainer, logger) -> None:
    resumed = f" (resumed from step {trainer.resumed_from})" if trainer.resumed_from is not None else ""
    lines = [f"done: {trainer.step} env steps, {trainer.updates} updates{resumed}",
             f"  last eval return: {trainer.last_eval:.1f}" if trainer.last_eval is not None else "",
             f"  run folder: {run_dir}",
             f"  metrics:    {run_dir / 'eval.csv'}, {run_dir / 'train.csv'}"]
    segments = logger.wandb.segments()
    if segments:
        lines.append(f"  W&B run:    {len(segments)} offline segment(s), one per start; upload them all later: "
                     f"wandb sync {run_dir / 'wandb'}/offline-run-*")
    print("\n".join(line for line in lines if line), flush=True)


@hydra.main(config_path="../conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    try:
        train(cfg)
    except RunError as err:
        print(f"{err.label}: {err}", file=sys.stderr, flush=True)
        sys.exit(err.exit_code)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # Ctrl-C while no run has its own handler armed (starting up, between sweep runs)
        print("stopped: SIGINT outside a run's training loop; a run that had started resumes from its last "
              "checkpoint", file=sys.stderr, flush=True)
        sys.exit(130)

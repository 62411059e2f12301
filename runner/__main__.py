"""Entry point: `python -m runner algo=... env=... seed=...`. Builds the parts and hands them to the Trainer."""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from runner import build
from runner.errors import RunError
from runner.host import prepare_host
from runner.trainer import Trainer
from runner.validate import check_budgets, check_run_folder, resolve_device, save_config


def train(cfg: DictConfig) -> Path:
    """Validate, build, train; returns the run folder."""
    check_budgets(cfg)
    device = resolve_device(cfg.device)
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    check_run_folder(run_dir, cfg, has_checkpoint=(run_dir / "checkpoint.pt").exists())
    prepare_host(cfg.torch_threads)
    torch.manual_seed(cfg.seed)

    env, eval_env = build.build_envs(cfg)
    obs_dim, act_dim = build.dims(env)
    agent = build.build_agent(cfg, obs_dim, act_dim, device)
    buffer = build.build_buffer(cfg, obs_dim, act_dim, device)
    save_config(run_dir, cfg)
    logger = build.build_logger(cfg, run_dir)
    trainer = Trainer(env, eval_env, agent, buffer, logger, run_dir, seed=cfg.seed, total_steps=cfg.total_steps,
                      warmup_steps=cfg.warmup_steps, batch_size=cfg.sac.batch_size, eval_every=cfg.eval_every,
                      eval_episodes=cfg.eval_episodes, eval_deterministic=cfg.eval_deterministic,
                      log_every=cfg.log_every, checkpoint_every=cfg.checkpoint_every,
                      diagnostic_states=cfg.diagnostics.num_states, diagnostic_samples=cfg.diagnostics.num_samples,
                      progress=cfg.progress)
    try:
        trainer.run()
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
    if logger.wandb.files_dir:
        lines.append(f"  W&B run:    {logger.wandb.files_dir}  (upload later: wandb sync {logger.wandb.files_dir})")
    print("\n".join(line for line in lines if line), flush=True)


@hydra.main(config_path="../conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    try:
        train(cfg)
    except RunError as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        sys.exit(2)


if __name__ == "__main__":
    main()

"""Stable-Baselines3 SAC as an independent reference inside this harness: the same networks, batch, learning rate,
warm-up, fixed temperature and evaluation protocol as SAC-Gaussian here, written to the same run-folder layout
(`<run_root>/<experiment>/<task>/sb3_sac/seed<n>/` with eval.csv and train.csv), so that tables and plots show it
as one more column and curve.

    python -m scripts.sb3_reference experiment=validation                 # every task and seed the preset sweeps
    python -m scripts.sb3_reference experiment=validation env=hopper seed=0

Arguments are Hydra overrides of this project's config, composed as `python -m runner` composes them: the budget,
warm-up, evaluation interval and episodes, and the SAC settings come from there. A key the preset sweeps (env,
seed) may be given a single value to run part of the sweep. Matched settings: actor and critics of
`algo.policy.depth` x `hidden_dim` ReLU layers, `sac.critic.num_members` critics, batch, Adam step size, gamma,
tau, one gradient step per env step after `warmup_steps` uniform-random actions, alpha fixed at `sac.alpha`
(SB3's default tunes it; `sac.autotune_alpha=true` tunes both from the same start), the policy's log-std clamped to
[-20, 2] (ours by default; not with `algo.policy.log_std_map=tanh`). Not matched: SB3 adds 1e-6 inside its
log(1 - tanh(x)^2), where ours is exact. Evaluation episodes are seeded exactly as ours (runner/evaluation.py).
An interrupted reference run starts over (its old files move to `.previous/`): SB3 saves no exact mid-run state
here, and a run is minutes.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch
import yaml
from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from stable_baselines3 import SAC
from stable_baselines3.common.callbacks import BaseCallback

from envs.make import make_env
from runner.errors import RunError
from runner.evaluation import run_episodes
from runner.host import prepare_host
from runner.identity import RunIdentity
from runner.lock import run_folder_lock
from runner.metrics import EVAL_FILE, TRAIN_FILE, CsvLog
from runner.run_folder import SAVED_CONFIG, set_aside

CONF = Path(__file__).resolve().parents[1] / "conf"
LABEL = "sb3_sac"
SWEPT = ("env", "seed")  # the preset's sweep keys this script runs over


class _Actor:
    """What runner.evaluation.run_episodes needs of an agent: `act` and the device its RNG lives on."""
    device = torch.device("cpu")

    def __init__(self, model):
        self.model = model

    def act(self, obs, eval_mode: bool = True):
        return self.model.predict(obs, deterministic=eval_mode)[0]


def sweep_points(overrides: list[str]) -> list[list[str]]:
    """One override list per (task, seed): the preset's sweep of env and seed, unless the command line fixes them."""
    given = {o.split("=", 1)[0] for o in overrides}
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        hydra_cfg = compose("config", overrides=overrides, return_hydra_config=True).hydra
    params = OmegaConf.to_container(hydra_cfg.sweeper.params) if hydra_cfg.sweeper.params else {}
    points = [[]]
    for key in SWEPT:
        if key in given or key not in params:
            continue
        (parsed,) = OverridesParser.create().parse_overrides([f"{key}={params[key]}"])
        values = list(parsed.sweep_string_iterator()) if parsed.is_sweep_override() else [parsed.get_value_string()]
        points = [[*p, f"{key}={v}"] for p in points for v in values]
    return [[*overrides, *p] for p in points]


def composed(overrides: list[str]) -> DictConfig:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("config", overrides=[*overrides, "algo=sac_gaussian"])


def finished(run_dir: Path, total_steps: int) -> bool:
    rows = CsvLog(run_dir / EVAL_FILE).rows()
    return bool(rows) and int(float(rows[-1]["step"])) >= total_steps


def sb3_settings(cfg: DictConfig) -> dict:
    """SB3 SAC's arguments matched to this config (module docstring)."""
    policy, critic, sac = cfg.algo.policy, cfg.sac.critic, cfg.sac
    alpha = f"auto_{sac.alpha}" if sac.autotune_alpha else float(sac.alpha)
    return {"learning_rate": float(sac.lr), "buffer_size": min(int(cfg.buffer_size), int(cfg.total_steps)),
            "learning_starts": int(cfg.warmup_steps), "batch_size": int(sac.batch_size), "tau": float(sac.tau),
            "gamma": float(sac.gamma), "train_freq": 1, "gradient_steps": 1, "ent_coef": alpha,
            "target_entropy": "auto" if sac.target_entropy is None else float(sac.target_entropy),
            "policy_kwargs": {"net_arch": {"pi": [int(policy.hidden_dim)] * int(policy.depth),
                                           "qf": [int(critic.hidden_dim)] * int(critic.depth)},
                              "n_critics": int(critic.num_members)}}


def train_reference(cfg: DictConfig) -> Path:
    """Train one seed of SB3 SAC in its run folder (skipped when that folder holds a finished run)."""
    identity = RunIdentity(str(cfg.experiment_name), str(cfg.env.name), LABEL, "exact", True, "", {}, int(cfg.seed),
                           str(cfg.env.id))
    run_dir = identity.run_dir(cfg.run_root)
    run_dir.mkdir(parents=True, exist_ok=True)
    with run_folder_lock(run_dir):
        if finished(run_dir, cfg.total_steps):
            print(f"done already: {run_dir}", flush=True)
            return run_dir
        moved = set_aside(run_dir)
        if moved is not None:
            print(f"note: {run_dir} held an unfinished reference run; it starts over (old files in {moved})",
                  file=sys.stderr, flush=True)
        settings = sb3_settings(cfg)
        (run_dir / SAVED_CONFIG).write_text(yaml.safe_dump(
            {"env": OmegaConf.to_container(cfg.env, resolve=True), "seed": int(cfg.seed),
             "total_steps": int(cfg.total_steps), "eval_every": int(cfg.eval_every),
             "eval_episodes": int(cfg.eval_episodes), "eval_deterministic": bool(cfg.eval_deterministic),
             "sb3_sac": settings}, sort_keys=False))
        identity.save(run_dir)
        env = make_env(cfg.env.id)
        model = SAC("MlpPolicy", env, seed=int(cfg.seed), device="cpu", verbose=0, **settings)
        model.learn(total_timesteps=int(cfg.total_steps), callback=_Recorder(cfg, run_dir), progress_bar=False)
        env.close()
    print(f"done: {run_dir}", flush=True)
    return run_dir


class _Recorder(BaseCallback):
    """Writes eval.csv at every `eval_every` env steps and train.csv rows (rates) every `log_every` updates."""

    def __init__(self, cfg: DictConfig, run_dir: Path):
        super().__init__()
        self.cfg = cfg
        self.eval_env = make_env(cfg.env.id)
        self.eval_log, self.train_log = CsvLog(run_dir / EVAL_FILE), CsvLog(run_dir / TRAIN_FILE)
        self.clock, self.last_step, self.last_updates = time.perf_counter(), 0, 0

    def _on_step(self) -> bool:
        step, cfg = self.num_timesteps, self.cfg
        updates = max(0, step - int(cfg.warmup_steps))  # one gradient step per env step after the warm-up
        if updates > self.last_updates and updates % cfg.log_every == 0:
            now = time.perf_counter()
            elapsed = max(now - self.clock, 1e-9)
            self.train_log.write({"step": step, "updates": updates,
                                  "time/env_steps_per_s": (step - self.last_step) / elapsed,
                                  "time/updates_per_s": (updates - self.last_updates) / elapsed})
            self.clock, self.last_step, self.last_updates = now, step, updates
        if step % cfg.eval_every == 0 or step == cfg.total_steps:
            row = run_episodes(_Actor(self.model), self.eval_env, int(cfg.eval_episodes),
                               bool(cfg.eval_deterministic), int(cfg.seed), step)
            self.eval_log.write({"step": step, **row})
            print(f"{cfg.env.name} {LABEL} seed{cfg.seed}: step {step}, return {row['return_mean']:.1f}",
                  flush=True)
        return True

    def _on_training_end(self) -> None:
        self.eval_env.close()


def main(argv: list[str] | None = None) -> int:
    overrides = list(sys.argv[1:] if argv is None else argv)
    try:
        for point in sweep_points(overrides):
            cfg = composed(point)
            prepare_host(int(cfg.torch_threads))
            train_reference(cfg)
    except (RunError, HydraException) as err:
        print("error: " + " ".join(line.strip() for line in str(err).splitlines() if line.strip()), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

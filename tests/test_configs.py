"""Every config group composes, and every task in conf/env/ constructs and steps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from envs import make_env

CONF = Path(__file__).resolve().parents[1] / "conf"


def choices(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def compose_with(*overrides: str):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides), return_hydra_config=False)


@pytest.mark.parametrize("algo", choices("algo"))
@pytest.mark.parametrize("env", choices("env"))
def test_algo_and_env_compose(algo: str, env: str):
    cfg = compose_with(f"algo={algo}", f"env={env}")
    OmegaConf.resolve(cfg)
    assert algo.startswith(cfg.algo.name) and cfg.env.name == env  # sac_ar_dae_no_jc is sac_ar_dae, jc off
    assert cfg.entropy.name in choices("entropy")
    assert cfg.total_steps == cfg.env.total_steps > cfg.warmup_steps >= 0


@pytest.mark.parametrize("group", ["entropy", "logger", "experiment", "ablation", "scale"])
def test_other_groups_compose(group: str):
    for choice in choices(group):
        cfg = compose_with("algo=sac_flow_vi", f"{group}={choice}")
        OmegaConf.resolve(cfg)


@pytest.mark.parametrize("env", choices("env"))
def test_every_task_constructs_and_steps(env: str):
    task = make_env(compose_with(f"env={env}").env.id)
    obs, _ = task.reset(seed=0)
    assert task.action_space.low.min() == -1.0 and task.action_space.high.max() == 1.0
    for _ in range(5):
        obs, reward, terminated, truncated, _ = task.step(task.action_space.sample())
        assert np.all(np.isfinite(obs)) and np.isfinite(reward)
        if terminated or truncated:
            obs, _ = task.reset()
    task.close()


@pytest.mark.parametrize("env", ["hopper", "halfcheetah", "walker2d", "ant", "humanoid"])
def test_scale_cpu_shrinks_ar_dae_and_keeps_its_task_settings(env: str):
    paper = compose_with("algo=sac_ar_dae", f"env={env}")
    cpu = compose_with("algo=sac_ar_dae", f"env={env}", "scale=cpu")
    smaller = ("entropy.hidden_dim", "entropy.num_actions", "algo.policy.hidden_dim")
    not_larger = ("entropy.depth", "entropy.action_encoder_depth", "algo.policy.head_dim", "algo.policy.encoder_depth",
                  "algo.policy.head_depth")  # num_proposal: 16 everywhere, above Ant's and Humanoid's paper value 10
    for key in smaller:
        assert OmegaConf.select(cpu, key) < OmegaConf.select(paper, key), key
    for key in not_larger:
        assert OmegaConf.select(cpu, key) <= OmegaConf.select(paper, key), key
    method = ("algo.policy.eta", "algo.policy.noise_dim", "entropy.target_calibration", "entropy.num_sigmas",
              "entropy.lr", "entropy.standardize")
    for key in method:
        assert OmegaConf.select(cpu, key) == OmegaConf.select(paper, key), key


AR_DAE_CPU_SIZES = {"hidden_dim": 64, "depth": 3, "state_encoder_depth": 1, "action_encoder_depth": 0,
                    "num_actions": 16, "num_proposal": 16}


@pytest.mark.parametrize("pairing", [("algo=sac_ar_dae",), ("algo=sac_gaussian", "entropy=ar_dae"),
                                     ("algo=sac_nf", "entropy=ar_dae"), ("algo=sac_flow_vi", "entropy=ar_dae"),
                                     ("algo=sac_flow_vi", "ablation=flow_ar_dae"),
                                     ("experiment=flow_estimators", "algo=sac_flow_vi", "ablation=flow_ar_dae"),
                                     ("experiment=paper_table1", "algo=sac_ar_dae")])
@pytest.mark.parametrize("env", ["hopper", "halfcheetah", "ant"])
def test_scale_cpu_reaches_the_ar_dae_estimator_under_every_policy(pairing: tuple, env: str):
    cpu = compose_with(*pairing, f"env={env}", "scale=cpu")
    assert {k: cpu.entropy[k] for k in AR_DAE_CPU_SIZES} == AR_DAE_CPU_SIZES
    paper = compose_with(*pairing, f"env={env}", "scale=paper")
    assert paper.entropy.hidden_dim == 256 and paper.entropy.num_actions >= 64  # Table 7's, per task
    assert compose_with(*pairing, f"env={env}", "scale=cpu", "entropy.num_actions=32").entropy.num_actions == 32


@pytest.mark.parametrize("algo", ["sac_gaussian", "sac_nf", "sac_flow_vi"])
def test_scale_cpu_leaves_algorithms_without_cpu_sizes_alone(algo: str):
    paper, cpu = compose_with(f"algo={algo}", "env=hopper"), compose_with(f"algo={algo}", "env=hopper", "scale=cpu")
    assert {k: v for k, v in paper.items() if k != "scale"} == {k: v for k, v in cpu.items() if k != "scale"}


@pytest.mark.parametrize("env", ["hopper", "walker2d", "halfcheetah", "ant", "humanoid"])
def test_paper_presets_run_the_v4_tasks_and_v5_stays_the_default(env: str):
    for preset in ("paper_table1", "paper_table3"):
        cfg = compose_with(f"experiment={preset}", "algo=sac_gaussian", f"env={env}")
        assert cfg.env.version == "v4" and cfg.env.id.endswith("-v4"), cfg.env.id
    assert compose_with(f"env={env}").env.id.endswith("-v5")
    assert compose_with("experiment=paper_table1", f"env={env}", "env.version=v5").env.id.endswith("-v5")


def test_ant_v4_leaves_contact_forces_out_of_the_observation():
    """Under the paper's MuJoCo 2.0 Ant's contact forces read zero; v4 without them is the closest task."""
    ant = make_env(compose_with("experiment=paper_table1", "env=ant").env.id)
    assert ant.observation_space.shape == (27,)  # 13 qpos (no x, y) + 14 qvel; v5 appends 78 contact forces
    ant.close()


def test_paper_presets_run_paper_sizes_and_validation_runs_cpu_sizes():
    table = compose_with("experiment=paper_table3", "algo=sac_ar_dae", "env=hopper", "scale=cpu")
    assert table.scale.name == "cpu"  # the command line still wins
    table = compose_with("experiment=paper_table3", "algo=sac_ar_dae", "env=hopper")
    assert (table.scale.name, table.entropy.hidden_dim, table.entropy.num_actions) == ("paper", 256, 128)
    validation = compose_with("experiment=validation", "algo=sac_ar_dae", "env=hopper")
    assert (validation.scale.name, validation.entropy.hidden_dim, validation.entropy.num_actions) == ("cpu", 64, 16)


@pytest.mark.parametrize("preset", ["paper_table1", "paper_table3"])
@pytest.mark.parametrize("algo", ["sac_gaussian", "sac_nf", "sac_ar_dae"])
def test_paper_presets_run_the_sac_core_as_the_ar_dae_authors_code(preset: str, algo: str):
    cfg = compose_with(f"experiment={preset}", f"algo={algo}", "env=hopper")
    assert (cfg.sac.critic_update, cfg.sac.target_squash_floor) == ("sequential", 1e-7)
    assert (cfg.sac.alpha, cfg.sac.autotune_alpha, cfg.sac.lr, cfg.sac.batch_size) == (0.05, False, 3e-4, 256)
    default = compose_with(f"algo={algo}", "env=hopper")
    assert (default.sac.critic_update, default.sac.target_squash_floor) == ("joint", 0.0)
    if algo == "sac_ar_dae":  # the authors' estimator as it learned, pinned whatever the default
        assert (cfg.entropy.center_score, default.entropy.center_score) == (False, False)
        assert compose_with(f"experiment={preset}", f"algo={algo}", "env=hopper",
                            "entropy.center_score=true").entropy.center_score


@pytest.mark.parametrize("preset", ["paper_table1", "paper_table3"])
def test_paper_presets_calibrate_hoppers_ar_dae_target_by_the_cumulative_mean(preset: str):
    hopper = compose_with(f"experiment={preset}", "algo=sac_ar_dae", "env=hopper")
    assert (hopper.entropy.target_calibration, hopper.entropy.calibration_method) == (True, "mean")
    assert hopper.ar_dae_standardize == "fixed"
    cheetah = compose_with(f"experiment={preset}", "algo=sac_ar_dae", "env=halfcheetah")
    assert not cheetah.entropy.target_calibration

"""Run identity: which folder a config trains in. Composed with Hydra exactly as a job is, without training."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import open_dict

from runner.errors import RunError
from runner.identity import identify, variant_label
from runner.schema import safe_segment
from tests.helpers import REPO


def folder_of(*overrides: str) -> str:
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=list(overrides), return_hydra_config=True)
        HydraConfig.instance().set_config(cfg)
        with open_dict(cfg):
            del cfg["hydra"]
        return str(identify(cfg).run_dir("runs"))


@pytest.mark.parametrize("overrides, folder", [
    ([], "runs/default/inverted_pendulum/sac_gaussian/seed0"),
    # the default value of a key, or a key that does not change training, changes nothing
    (["algo=sac_flow_vi", "algo.policy.steps=4"], "runs/default/inverted_pendulum/sac_flow_vi/seed0"),
    (["device=cpu", "logger=disabled", "torch_threads=1", "progress=false", "log_every=7", "checkpoint_every=9",
      "run_root=elsewhere", "resume=false", "compile=true"], "runs/default/inverted_pendulum/sac_gaussian/seed0"),
    (["algo=sac_flow_vi", "algo.policy.steps=1"], "runs/default/inverted_pendulum/sac_flow_vi-steps1/seed0"),
    (["algo=sac_nf", "env=hopper", "sac.lr=1e-3", "seed=4"], "runs/default/hopper/sac_nf-lr0.001/seed4"),
    # the paper's w/o-jc column: the preset's algo file and the plain override are one and the same run
    (["algo=sac_ar_dae_no_jc", "env=hopper"], "runs/default/hopper/sac_ar_dae-jc-off/seed0"),
    (["algo=sac_ar_dae", "env=hopper", "algo.policy.jacobian_clamping=false"],
     "runs/default/hopper/sac_ar_dae-jc-off/seed0"),
    (["experiment=paper_table3", "algo=sac_ar_dae_no_jc", "env=walker2d", "seed=2"],
     "runs/paper_table3/walker2d/sac_ar_dae-jc-off/seed2"),
    # a scale is one part when it changes what the algorithm trains; a preset's own scale is its default
    (["algo=sac_ar_dae", "env=hopper", "scale=cpu"], "runs/default/hopper/sac_ar_dae-scale-cpu/seed0"),
    (["algo=sac_ar_dae", "env=hopper", "scale=cpu", "entropy.num_actions=32"],
     "runs/default/hopper/sac_ar_dae-scale-cpu-num_actions32/seed0"),
    (["algo=sac_gaussian", "env=hopper", "scale=cpu"], "runs/default/hopper/sac_gaussian/seed0"),
    (["experiment=validation", "algo=sac_ar_dae", "env=hopper", "seed=1"], "runs/validation/hopper/sac_ar_dae/seed1"),
    (["experiment=validation", "algo=sac_ar_dae", "env=hopper", "scale=paper"],
     "runs/validation/hopper/sac_ar_dae-scale-paper/seed0"),
    # the estimator's CPU sizes reach it under every policy, and the label says so
    (["algo=sac_gaussian", "entropy=ar_dae", "env=hopper", "scale=cpu"],
     "runs/default/hopper/sac_gaussian+ar_dae-scale-cpu/seed0"),
    (["algo=sac_flow_vi", "ablation=flow_ar_dae", "scale=cpu"],
     "runs/default/inverted_pendulum/sac_flow_vi+ar_dae-scale-cpu/seed0"),
    # the paper presets' task version is their default; another version is one part, not two (id follows it)
    (["experiment=paper_table1", "algo=sac_ar_dae", "env=hopper", "scale=cpu"],
     "runs/paper_table1/hopper/sac_ar_dae-scale-cpu/seed0"),
    (["experiment=paper_table1", "algo=sac_gaussian", "env=hopper", "env.version=v5"],
     "runs/paper_table1/hopper/sac_gaussian-version-v5/seed0"),
    (["algo=sac_gaussian", "env=hopper", "env.version=v4"], "runs/default/hopper/sac_gaussian-version-v4/seed0"),
    # a non-default estimator is named; its own defaults are not a variant
    (["algo=sac_flow_vi", "ablation=flow_exact"], "runs/default/inverted_pendulum/sac_flow_vi+exact-noise_std0/seed0"),
    (["algo=sac_flow_vi", "entropy=exact", "algo.policy.noise_std=0"],
     "runs/default/inverted_pendulum/sac_flow_vi+exact-noise_std0/seed0"),
    (["algo=sac_flow_vi", "ablation=flow_vi_bound"], "runs/default/inverted_pendulum/sac_flow_vi/seed0"),
])
def test_folder_names_what_makes_the_run_different(overrides, folder):
    assert folder_of(*overrides) == folder


def test_identity_names_the_task_version():
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        for overrides, task_id in ((["env=hopper"], "Hopper-v5"), (["experiment=paper_table1", "env=ant"], "Ant-v4")):
            cfg = compose("config", overrides=overrides, return_hydra_config=True)
            HydraConfig.instance().set_config(cfg)
            with open_dict(cfg):
                del cfg["hydra"]
            assert identify(cfg).task_id == task_id


def test_runs_that_train_differently_never_share_a_folder():
    commands = [["algo=sac_flow_vi", f"algo.policy.steps={k}"] for k in (1, 2, 8)]
    commands += [["algo=sac_flow_vi", "sac.gamma=0.98"], ["algo=sac_flow_vi", "sac.tau=0.01"],
                 ["algo=sac_flow_vi", "total_steps=5000"], ["algo=sac_flow_vi", "total_steps=6000"],
                 ["algo=sac_flow_vi", "ablation=flow_ar_dae"], ["algo=sac_flow_vi"]]
    folders = [folder_of(*c) for c in commands]
    assert len(set(folders)) == len(folders), folders


def test_long_variants_keep_the_algorithm_keys_and_a_digest_of_all():
    small = {"algo.policy.steps": 1, "total_steps": 600, "warmup_steps": 300, "eval_every": 300,
             "diagnostics.num_samples": 16}
    label = variant_label(small)
    assert label.startswith("steps1-v") and len(label) == len("steps1-v") + 8
    assert variant_label({**small, "total_steps": 700}) != label
    assert variant_label({"algo.policy.hidden_dim": 64, "entropy.hidden_dim": 64}) == (
        "policy.hidden_dim64-entropy.hidden_dim64")
    assert variant_label({"entropy.sigmas": [1, 2]}).startswith("v")


@pytest.mark.parametrize("value", ["../../../escape", "a/b", "..", ".hidden", "", "with space"])
def test_unsafe_folder_names_are_refused(value):
    with pytest.raises(RunError, match="must be a single folder name"):
        safe_segment(value, "experiment_name")

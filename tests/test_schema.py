"""Every shipped config passes the schema unchanged, so the schema knows every key the configs use."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from runner.errors import RunError
from runner.schema import safe_segment, validated
from tests.test_configs import choices, compose_with

COMBINATIONS = [[f"algo={a}", f"env={e}"] for a in choices("algo") for e in choices("env")] + \
    [[f"algo={a}", f"entropy={h}"] for a in choices("algo") for h in choices("entropy")]


@pytest.mark.parametrize("overrides", COMBINATIONS, ids=[" ".join(c) for c in COMBINATIONS])
def test_every_shipped_combination_passes_unchanged(overrides: list[str]):
    cfg = compose_with(*overrides)
    assert validated(cfg) == OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))


@pytest.mark.parametrize("group", ["experiment", "logger"])
def test_every_preset_passes(group: str):
    for choice in choices(group):
        validated(compose_with(f"{group}={choice}"))


@pytest.mark.parametrize("value, expected", [("1e6", 1000000), ("2000", 2000), ("3.0e3", 3000)])
def test_whole_numbers_written_as_floats_become_integers(value: str, expected: int):
    steps = validated(compose_with(f"total_steps={value}", "warmup_steps=100")).total_steps
    assert steps == expected and type(steps) is int


@pytest.mark.parametrize("name", ["..", ".", ".hidden", "a/b", "a\\b", "", "-x", "x" * 101, "a b"])
def test_unsafe_path_segments_are_refused(name: str):
    with pytest.raises(RunError, match="must be a single folder name"):
        safe_segment(name, "experiment_name")


@pytest.mark.parametrize("name", ["default", "paper_table1", "run-2.v3", "A"])
def test_safe_path_segments_pass(name: str):
    assert safe_segment(name, "experiment_name") == name

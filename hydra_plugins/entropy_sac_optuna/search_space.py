"""Hydra's sweep syntax read as Optuna distributions, so a search space is written like any other sweep:

    sac.alpha=tag(log, interval(0.01, 0.5))     FloatDistribution, log scale
    entropy.num_actions=tag(int, interval(4, 32))  IntDistribution (tag log too: both)
    algo.policy.steps=range(1, 5)               IntDistribution 1..4 (a float range: its values as choices)
    sac.critic_update=choice(joint, sequential) CategoricalDistribution
    total_steps=5000                            fixed in every trial
"""

from __future__ import annotations

import math

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, Override, RangeSweep
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from optuna.distributions import (BaseDistribution, CategoricalDistribution, FloatDistribution,
                                  IntDistribution)

KNOWN_TAGS = {"log", "int"}
_ABSENT = object()


class SearchSpaceError(ValueError):
    """A search space the sweeper cannot search; the message names the key and what is wrong."""


def range_values(sweep: RangeSweep) -> list[float]:
    """The values Hydra's range(start, stop, step) stands for (stop excluded)."""
    count = max(0, math.ceil((sweep.stop - sweep.start) / sweep.step - 1e-9))
    return [sweep.start + i * sweep.step for i in range(count)]


def distribution(key: str, sweep) -> BaseDistribution:
    """One sweep override's distribution; SearchSpaceError when Optuna cannot search it."""
    tags = set(getattr(sweep, "tags", set()))
    if tags - KNOWN_TAGS:
        raise SearchSpaceError(f"{key}: unknown tag(s) {sorted(tags - KNOWN_TAGS)}; use log and/or int")
    try:
        if isinstance(sweep, IntervalSweep):
            if "int" in tags:
                return IntDistribution(int(sweep.start), int(sweep.end), log="log" in tags)
            return FloatDistribution(float(sweep.start), float(sweep.end), log="log" in tags)
        if isinstance(sweep, RangeSweep):
            values = range_values(sweep)
            if not values:
                raise SearchSpaceError(f"{key}: range({sweep.start}, {sweep.stop}, {sweep.step}) is empty")
            if all(isinstance(v, int) for v in (sweep.start, sweep.stop, sweep.step)):
                return IntDistribution(values[0], values[-1], step=sweep.step)
            return CategoricalDistribution(values)
        if isinstance(sweep, ChoiceSweep):
            if not sweep.list:
                raise SearchSpaceError(f"{key}: choice() needs at least one value")
            return CategoricalDistribution(sweep.list)
    except ValueError as err:  # Optuna's own checks: low > high, log of a non-positive bound, a list as a choice
        if isinstance(err, SearchSpaceError):
            raise
        raise SearchSpaceError(f"{key}: {err}") from None
    raise SearchSpaceError(f"{key}: {type(sweep).__name__} cannot be searched; use interval, range or choice")


def known_key(config: DictConfig, key: str) -> bool:
    """A key of the composed config, or a config group (`algo`, `env`) Hydra chose an option for; `+key` adds."""
    if key.startswith("+"):
        return True
    key = key.lstrip("~")
    return OmegaConf.select(config, key, default=_ABSENT) is not _ABSENT or key in config.hydra.runtime.choices


def parse_space(config: DictConfig, entries: list[str], config_loader=None
                ) -> tuple[dict[str, BaseDistribution], list[str]]:
    """(searched key -> distribution, fixed `key=value` overrides) from `key=value` strings; SearchSpaceError on
    a key the config does not have, a value Hydra cannot parse or a distribution Optuna refuses."""
    parser = OverridesParser.create(config_loader=config_loader)
    space: dict[str, BaseDistribution] = {}
    fixed: list[str] = []
    for entry in entries:
        try:
            override: Override = parser.parse_override(entry)
        except HydraException as err:
            raise SearchSpaceError(f"{entry}: {str(err).splitlines()[0]}") from None
        key = override.get_key_element()
        if not known_key(config, key):
            raise SearchSpaceError(f"{key}: no such key in the config (`python -m runner --cfg job` lists them)")
        if override.is_sweep_override():
            space[key] = distribution(key, override.value())
        else:
            fixed.append(f"{key}={override.get_value_element_as_str()}")
    if not space:
        raise SearchSpaceError("nothing to search: give hydra.sweeper.params (or a search= preset) a key with "
                               "interval(...), range(...) or choice(...)")
    return space, fixed


def override_text(key: str, value) -> str:
    """`key=value` as Hydra reads it back: floats in full precision, so a resumed trial names the same folder."""
    return f"{key}={value!r}" if isinstance(value, float) else f"{key}={value}"

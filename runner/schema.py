"""Types and ranges of every config key, checked on the composed config before anything touches the disk.

Hydra composes and parses the command line; this layer gives each key a type and a range, turns whole numbers
written as floats (`total_steps=1e6`) into integers, and raises RunError with one line naming the key. Algorithm
and estimator sub-configs differ by choice, so their keys are checked by name (`PARAMETERS`).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass

from omegaconf import DictConfig, OmegaConf

from algos.estimators.ar_dae import CALIBRATION_METHODS, STANDARDIZE
from algos.knn_reference import METHODS as KNN_METHODS
from algos.networks import ACTIVATIONS
from algos.policies.gaussian import LOG_STD_MAPS
from algos.precision import PRECISIONS
from algos.sac import CRITIC_UPDATES
from runner.errors import RunError
from runner.sinks import SINKS

SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")
TASK_VERSIONS = ("v4", "v5")  # gymnasium's MuJoCo task versions on the maintained bindings (v2/v3 need mujoco-py)


@dataclass(frozen=True)
class Rule:
    """One key's type (`int`, `real`, `flag`, `text`, `texts`: a list of choices, `ints`: a list of distinct
    integers, described by its `hint`) and range; `low`/`high` are inclusive unless `open_low`/`open_high`."""
    kind: str
    low: float | None = None
    high: float | None = None
    open_low: bool = False
    open_high: bool = False
    nullable: bool = False
    choices: tuple[str, ...] = ()
    pattern: re.Pattern | None = None
    hint: str = ""

    def describe(self) -> str:
        if self.hint:
            return self.hint
        if self.kind == "flag":
            return "true or false"
        if self.kind == "texts":
            return f"a list of {', '.join(self.choices)}"
        if self.kind == "text":
            return f"one of {', '.join(self.choices)}" if self.choices else "a non-empty string"
        noun = "an integer" if self.kind == "int" else "a number"
        if self.kind == "int" and self.high is None and self.low in (0, 1):
            return "a positive integer" if self.low == 1 else "a non-negative integer"
        if self.low is None:
            return "a finite number"
        if self.high is None:
            return f"{noun} {'>' if self.open_low else '>='} {self.low:g}"
        return f"{noun} in {'(' if self.open_low else '['}{self.low:g}, {self.high:g}{')' if self.open_high else ']'}"


def whole(low: int = 1, high: int | None = None) -> Rule:
    return Rule("int", low, high)


def real(low: float | None = None, high: float | None = None, open_low: bool = False, nullable: bool = False) -> Rule:
    return Rule("real", low, high, open_low=open_low, nullable=nullable)


FLAG = Rule("flag")
TEXT = Rule("text")
NAME = Rule("text", pattern=SEGMENT, hint="a single folder name: letters, digits, '.', '_', '-', not starting "
                                             "with '.' or '-'")
POSITIVE = real(0.0, open_low=True)
UNIT = real(0.0, 1.0, open_low=True)
# Time-limit truncation bootstraps from the next state, so at gamma = 1 the soft value target is a sum without end:
# no fixed point, and the critic's targets grow with training.
DISCOUNT = Rule("real", 0.0, 1.0, open_low=True, open_high=True,
                hint="a number in (0, 1): at 1 the bootstrapped target of a time-limited episode has no bound")
ACTIVATION = Rule("text", choices=tuple(sorted(ACTIVATIONS)))

# Every key of conf/config.yaml, conf/env/ and conf/logger/.
KEYS: dict[str, Rule] = {
    "experiment_name": NAME,
    "seed": Rule("int", 0, 2**63 - 1, hint="a non-negative integer below 2**63"),
    "seeds": Rule("ints", 0, 2**63 - 1, nullable=True, hint="null or a list of distinct non-negative integers "
                                                            "below 2**63, at least one (seeds=[0,1,2])"),
    "total_steps": whole(1), "warmup_steps": whole(0), "eval_every": whole(1), "eval_episodes": whole(1),
    "eval_deterministic": FLAG,
    "device": Rule("text", pattern=DEVICE, hint="auto, cpu, cuda or cuda:N"),
    "resume": FLAG, "restart": FLAG,
    "run_root": TEXT,
    "log_every": whole(1), "checkpoint_every": whole(1), "buffer_size": whole(1), "torch_threads": whole(0),
    "compile": FLAG, "progress": FLAG, "precision": Rule("text", choices=PRECISIONS),
    "video_every": whole(0), "video_frames": whole(1), "video_width": whole(16), "video_height": whole(16),
    "diagnostics.num_states": whole(1),
    "diagnostics.num_samples": whole(2), "diagnostics.knn_k": whole(1),
    "diagnostics.knn_method": Rule("text", choices=KNN_METHODS),
    "sac.gamma": DISCOUNT, "sac.tau": UNIT, "sac.lr": POSITIVE, "sac.batch_size": whole(1), "sac.alpha": POSITIVE,
    "sac.autotune_alpha": FLAG, "sac.target_entropy": real(nullable=True),
    "sac.critic_update": Rule("text", choices=CRITIC_UPDATES), "sac.target_squash_floor": real(0.0),
    "sac.critic._target_": TEXT, "sac.critic.hidden_dim": whole(1), "sac.critic.depth": whole(0),
    "sac.critic.num_members": whole(1),
    "sac.critic.activation": ACTIVATION,
    "env.name": NAME, "env.id": TEXT, "env.version": Rule("text", choices=TASK_VERSIONS),
    "env.total_steps": whole(1), "env.warmup_steps": whole(0), "env.eval_every": whole(1),
    "env.warmup_action_range": UNIT, "humanoid_warmup_action_range": UNIT,
    "logger.mode": Rule("text", choices=("offline", "online", "disabled")),
    "logger.sinks": Rule("texts", choices=SINKS),
    "logger.project": TEXT, "logger.entity": Rule("text", nullable=True),
    "algo.name": NAME, "entropy.name": NAME, "scale.name": NAME, "entropy._target_": TEXT,
    "ar_dae_standardize": Rule("text", choices=STANDARDIZE),
    "ar_dae_center_score": FLAG,
}

# Keys of algo.policy and entropy, by name: every constructor argument used in conf/algo/ and conf/entropy/.
PARAMETERS: dict[str, Rule] = {
    "_target_": TEXT, "activation": ACTIVATION,
    "hidden_dim": whole(1), "head_dim": whole(1), "noise_dim": whole(1), "steps": whole(1),
    "num_perturb": whole(1), "num_actions": whole(1), "num_sigmas": whole(1), "num_updates": whole(1),
    "num_proposal": whole(1), "iw_samples": whole(1), "iw_chunk_size": whole(1),
    "depth": whole(0), "encoder_depth": whole(0), "head_depth": whole(0), "state_encoder_depth": whole(0),
    "action_encoder_depth": whole(0), "standardize": Rule("text", choices=STANDARDIZE),
    "min_spread": POSITIVE, "proposal_width": POSITIVE, "target_calibration": FLAG, "calibration_momentum": UNIT,
    "calibration_method": Rule("text", choices=CALIBRATION_METHODS),
    "num_flows": whole(0),
    "center_score": FLAG,
    "lr": POSITIVE, "perturb_step": POSITIVE, "eta": POSITIVE, "weight_power": POSITIVE, "weight_max": POSITIVE,
    "scale": POSITIVE, "delta_scale": POSITIVE, "weight_rate": real(0.0), "noise_std": real(0.0),
    "output_init_std": real(0.0, open_low=True, nullable=True),
    "log_std_min": real(), "log_std_max": real(), "log_std_map": Rule("text", choices=LOG_STD_MAPS, nullable=True),
    "proposal_log_var": real(),
    "jacobian_clamping": FLAG, "squash_before_clamping": FLAG,
}
PARAMETER_NODES = ("algo.policy", "entropy")


def safe_segment(value: object, key: str) -> str:
    """A value that becomes one folder of a run's path: a single, visible path segment, never `..` or `a/b`."""
    return _check(key, value, NAME)


def validated(cfg: DictConfig) -> DictConfig:
    """A resolved copy of `cfg` in which every key has its type and range; RunError names the first that has not."""
    data = OmegaConf.to_container(cfg, resolve=True)
    for key, value in flatten(data).items():
        rule = _rule(key)
        if rule is None:
            raise RunError(f"{key} is not a config key (see conf/config.yaml and the algo/entropy configs)")
        _put(data, key, _check(key, value, rule))
    _check_together(data)
    data["run_root"] = os.path.expanduser(data["run_root"])  # `run_root=~/runs` is the home folder's, not `./~`
    return OmegaConf.create(data)


def _rule(key: str) -> Rule | None:
    if key in KEYS:
        return KEYS[key]
    node, _, name = key.rpartition(".")
    return PARAMETERS.get(name) if node in PARAMETER_NODES else None


def _check(key: str, value: object, rule: Rule):
    if value is None and rule.nullable:
        return None
    bad = RunError(f"{key} must be {rule.describe()}, got {value!r}")
    if rule.kind == "flag":
        if not isinstance(value, bool):
            raise bad
        return value
    if rule.kind == "texts":
        if not isinstance(value, list) or not all(isinstance(v, str) and v in rule.choices for v in value):
            raise RunError(f"{key} must be a list of {', '.join(rule.choices)}, got {value!r}")
        return value
    if rule.kind == "ints":
        element = Rule("int", rule.low, rule.high)
        try:
            values = [_check(key, v, element) for v in value] if isinstance(value, list) and value else None
        except RunError:
            values = None
        if values is None or len(set(values)) != len(values):
            raise bad
        return values
    if rule.kind == "text":
        if rule is NAME and isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # experiment_name=2024 is parsed as a number
        if not isinstance(value, str):
            raise RunError(f"{key} must be {rule.describe()}, got {value!r}, which is not text (quote it: "
                           f"{key}=\"'{value}'\")")
        if not value or (rule.choices and value not in rule.choices):
            raise bad
        if rule.pattern is not None and (not rule.pattern.fullmatch(value) or value in (".", "..")):
            raise bad
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise bad
    if rule.kind == "int":
        if isinstance(value, float) and not value.is_integer():
            raise bad
        value = int(value)
    else:
        value = float(value)
    if rule.low is not None and (value < rule.low or (rule.open_low and value == rule.low)):
        raise bad
    if rule.high is not None and (value > rule.high or (rule.open_high and value == rule.high)):
        raise bad
    return value


def _check_together(data: dict) -> None:
    """Ranges that depend on two keys: the run must update at least once, its evaluations must have the entropy
    diagnostics, and bounds must be ordered."""
    total, warmup, batch = data["total_steps"], data["warmup_steps"], data["sac"]["batch_size"]
    if warmup >= total:
        raise RunError(f"warmup_steps ({warmup}) must be below total_steps ({total}): the run would never update")
    held = min(data["buffer_size"], total)
    if batch > held:
        raise RunError(f"sac.batch_size ({batch}) is more than the replay buffer ever holds ({held} transitions, "
                       "min(buffer_size, total_steps)): the run would never update")
    states = data["diagnostics"]["num_states"]
    if states > held:
        raise RunError(f"diagnostics.num_states ({states}) is more than the replay buffer ever holds ({held} "
                       "transitions, min(buffer_size, total_steps)): no evaluation would have the entropy columns")
    samples, k = data["diagnostics"]["num_samples"], data["diagnostics"]["knn_k"]
    if samples <= k:
        raise RunError(f"diagnostics.num_samples ({samples}) must be more than diagnostics.knn_k ({k}): the k-NN "
                       "reference needs a k-th neighbour for every sample")
    policy = data["algo"]["policy"]
    if "log_std_min" in policy and policy["log_std_min"] >= policy.get("log_std_max", math.inf):
        raise RunError(f"algo.policy.log_std_min ({policy['log_std_min']}) must be below algo.policy.log_std_max "
                       f"({policy['log_std_max']})")


def flatten(data: dict, prefix: str = "") -> dict:
    """{"a": {"b": 1}} -> {"a.b": 1}; lists stay values, empty sections add no key."""
    flat = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _put(data: dict, key: str, value) -> None:
    *parents, last = key.split(".")
    for part in parents:
        data = data[part]
    data[last] = value

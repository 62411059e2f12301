"""Run identity: the one folder a config trains in, named by what makes the run different from its defaults.

A run folder is `<run_root>/<experiment>/<task>/<label>/seed<n>`, where the label is the algorithm's name, then
`+<estimator>` when the estimator is not the algorithm's default, then `-<variant>`: one short part per key whose
value differs from the defaults of that (experiment, task, algorithm, estimator), e.g. `sac_flow_vi-steps1` or
`sac_ar_dae-jc-off`. Values are compared, not command lines, so the same training always maps to the same folder
(`algo.policy.steps=4`, the default, adds nothing) and two runs that train differently never share one. Keys that
do not change what is trained (OPERATIONAL_KEYS) never enter the identity. A variant longer than MAX_VARIANT
characters becomes `v<digest>`; the folder's `identity.yaml` always lists every changed key.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml
from hydra import compose
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from runner.files import read_yaml, write_atomic
from runner.schema import flatten, safe_segment

# Keys that change how a run is operated, not what it trains: they may differ when a run resumes, and they are
# not part of its identity.
OPERATIONAL_KEYS = ("resume", "restart", "progress", "logger", "device", "torch_threads", "run_root", "compile",
                    "log_every", "checkpoint_every", "video_every", "video_frames", "video_width", "video_height")
# Keys a resumed run's config may differ in: the operational ones; `scale`, a choice whose sizes are compared key
# by key (so a SAC-Gaussian run, which has no CPU sizes, is the same run at either scale); and `diagnostics`, which
# sets only the logged entropy checks, drawn under a forked RNG from a read-only batch of states (they still name
# the folder, so that no folder of a run begun with a diagnostics override moves).
RESUMABLE_CHANGES = (*OPERATIONAL_KEYS, "scale", "diagnostics")
# Keys that are folder segments of their own (experiment, seed; each seed of `seeds` has its own folder) or labels
# of a config group choice (a scale other than the experiment's reads `scale-cpu` in the variant).
SEGMENT_KEYS = ("experiment_name", "seed", "seeds", "algo.name", "entropy.name", "env.name", "scale.name")
# Short names for keys whose leaf name is long; a boolean key reads `<name>-on` / `<name>-off`.
SHORT_NAMES = {"jacobian_clamping": "jc"}
MAX_VARIANT = 48
ALGORITHM_KEYS = ("scale", "algo.", "entropy.", "sac.")  # named first in a variant; budgets and protocol keys follow
IDENTITY_FILE = "identity.yaml"
SAFE_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+=-]*")  # what a variant part may hold


@dataclass(frozen=True)
class RunIdentity:
    """Who a run is: the parts of its folder and the changed keys that make its variant."""
    experiment: str
    task: str
    algo: str
    estimator: str
    default_estimator: bool
    variant: str                                   # "" when the run uses the defaults
    changes: dict = field(default_factory=dict)    # dotted key -> value, every key that differs from the defaults
    seed: int = 0
    task_id: str = ""                              # the gymnasium task id, version included (Hopper-v4)

    @classmethod
    def unnamed(cls, cfg: DictConfig) -> "RunIdentity":
        """For callers outside a Hydra job (the benchmark), which have no defaults to compare with."""
        return cls(str(cfg.experiment_name), str(cfg.env.name), str(cfg.algo.name), str(cfg.entropy.name), True,
                   "", {}, int(cfg.seed), str(cfg.env.id))

    @property
    def label(self) -> str:
        """The algorithm-and-variant folder name, also the W&B group's last part and the tables' column key."""
        label = self.algo if self.default_estimator else f"{self.algo}+{self.estimator}"
        return f"{label}-{self.variant}" if self.variant else label

    def run_dir(self, run_root: str | Path) -> Path:
        return Path(run_root) / self.experiment / self.task / self.label / f"seed{self.seed}"

    def save(self, run_dir: Path) -> None:
        write_atomic(run_dir / IDENTITY_FILE, yaml.safe_dump({**asdict(self), "label": self.label}, sort_keys=False))


def _ignored(key: str) -> bool:
    top = key.split(".", 1)[0]
    return top in OPERATIONAL_KEYS or key in SEGMENT_KEYS


def training_values(cfg: DictConfig) -> dict:
    """Every key that changes what is trained, dotted, resolved."""
    return {k: v for k, v in flatten(OmegaConf.to_container(cfg, resolve=True)).items() if not _ignored(k)}


def changed_keys(values: dict, defaults: dict) -> dict:
    """The keys whose value differs from the defaults (or that the defaults lack), in the config's order."""
    missing = object()
    return {k: v for k, v in values.items() if defaults.get(k, missing) != v}


def _canonical(value):
    """One spelling per value: `noise_std=0` and `noise_std: 0.0` train alike, so they name alike."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _format(value) -> str:
    """Exact and short: repr of a float round-trips (3e-4 -> 0.0003, 1e-05 stays), so no two values share a name."""
    value = _canonical(value)
    return repr(value) if isinstance(value, float) else str(value)


def _part(name: str, value) -> str:
    if isinstance(value, bool):
        return f"{name}-{'on' if value else 'off'}"
    if value is None or isinstance(value, str):
        return f"{name}-{value}"
    return f"{name}{_format(value)}"


def _short_name(key: str, keys: list[str]) -> str:
    """The shortest dotted suffix of `key` that no other changed key ends with."""
    parts = key.split(".")
    for n in range(1, len(parts) + 1):
        suffix = ".".join(parts[-n:])
        if not any(other != key and (other == suffix or other.endswith("." + suffix)) for other in keys):
            leaf = SHORT_NAMES.get(parts[-1], parts[-1])
            return ".".join(parts[-n:-1] + [leaf])
    return key


def variant_label(changes: dict) -> str:
    """A readable name for a set of changed keys: one part per key, the algorithm's own keys first. When that
    would be long, the parts of the algorithm's keys that fit are kept and `v<8 hex digits>`, a digest of the
    other changes, stands for the rest: the label stays unique and still says what was ablated, and runs that
    differ only in a readable part (jc-on against jc-off at the same small budget) end in the same digest."""
    if not changes:
        return ""
    keys = sorted(changes, key=lambda k: not k.startswith(ALGORITHM_KEYS))
    parts = {k: _part(_short_name(k, keys), changes[k]) for k in keys}
    readable = [k for k in keys if not isinstance(changes[k], (list, dict)) and SAFE_SEGMENT.fullmatch(parts[k])]
    label = "-".join(dict.fromkeys(parts[k] for k in keys))
    if len(readable) == len(keys) and len(label) <= MAX_VARIANT:
        return label
    kept: list[str] = []
    for key in readable:
        if not key.startswith(ALGORITHM_KEYS) or len("-".join([*kept, parts[key]])) > MAX_VARIANT - 10:
            break
        kept.append(key)
    rest = {k: _canonical(v) for k, v in changes.items() if k not in kept}
    digest = "v" + hashlib.sha1(json.dumps(rest, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return "-".join([*dict.fromkeys(parts[k] for k in kept), digest])


def _defaults(overrides: list[str]) -> DictConfig:
    """The composed config of the same choices with no other override: what a variant is measured against."""
    return compose(config_name=HydraConfig.get().job.config_name, overrides=overrides)


def identify(cfg: DictConfig) -> RunIdentity:
    """The identity of the job Hydra is running now (needs HydraConfig: call it inside the task function)."""
    experiment = safe_segment(str(cfg.experiment_name), "experiment_name")
    task = safe_segment(str(cfg.env.name), "env.name")
    algo = safe_segment(str(cfg.algo.name), "algo.name")
    estimator = safe_segment(str(cfg.entropy.name), "entropy.name")
    choices = HydraConfig.get().runtime.choices
    base = [f"algo={algo}", f"env={choices['env']}"]
    if choices.get("experiment") is not None:
        base.append(f"experiment={choices['experiment']}")
    scaled = [*base, f"scale={choices['scale']}"]
    algo_default = _defaults(scaled)
    default_estimator = algo_default.entropy.name == estimator
    estimator_choice = [] if default_estimator else [f"entropy={estimator}"]
    defaults = _defaults(scaled + estimator_choice) if estimator_choice else algo_default
    changes = changed_keys(training_values(cfg), training_values(defaults))
    # The scale's sizes are defaults, not changes; a scale other than the experiment's is one part, `scale-cpu`,
    # when it changes what this algorithm trains (SAC-Gaussian has no CPU sizes: scale=cpu leaves it as it is).
    if training_values(_defaults(base + estimator_choice)) != training_values(defaults):
        changes = {"scale": str(cfg.scale.name), **changes}
    if "env.version" in changes:  # the task id follows from its version: one part, `version-v5`, says it
        changes.pop("env.id", None)
    return RunIdentity(experiment, task, algo, estimator, default_estimator, variant_label(changes), changes,
                       int(cfg.seed), str(cfg.env.id))


def read_identity(run_dir: Path) -> dict | None:
    """The saved identity of a run folder, or None for folders written before identities existed."""
    path = run_dir / IDENTITY_FILE
    if not path.exists():
        return None
    return read_yaml(path, "start the run again to write it anew (the same command resumes it), or delete it")

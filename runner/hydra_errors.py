"""Hydra's own errors on the command line (a mistyped key, a config group option that does not exist) as one line
that names the key or option and the closest valid names, exit 2, like every other bad input. Hydra's message stays
one environment variable away: with HYDRA_FULL_ERROR=1 it is shown as Hydra writes it."""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path

CONF = Path(__file__).resolve().parents[1] / "conf"
FULL_ERROR = "HYDRA_FULL_ERROR"
SHOW_HYDRA = f"{FULL_ERROR}=1 shows Hydra's own message"


def wants_full_error() -> bool:
    """Whether the user asked for Hydra's own messages and tracebacks."""
    return os.environ.get(FULL_ERROR, "") not in ("", "0")


def one_line(err: Exception) -> str:
    """The `error:` line for a Hydra composition error."""
    text = str(err)
    key = re.search(r"Could not (?:override|append to config\. An item is already at) '([^']+)'", text) or \
        re.search(r"Key '([^']+)' is not in struct", text)
    if key:
        name = key.group(1).lstrip("+~")
        return f"error: {name} is not a config key{_closest(name, config_keys())}; {SHOW_HYDRA}"
    missing = re.search(r"Could not (?:find|load) '([^']+)/([^'/]+)'", text)
    if missing:
        group, option = missing.groups()
        options = sorted(p.stem for p in (CONF / group).glob("*.yaml"))
        listed = f"; the options are {', '.join(options)}" if options else ""
        return f"error: {group}={option} is not an option of {group}{_closest(option, options)}{listed}; {SHOW_HYDRA}"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return f"error: {' '.join(lines)[:300] or type(err).__name__}; {SHOW_HYDRA}"


def _closest(name: str, names: list[str]) -> str:
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    return f" (did you mean {' or '.join(close)}?)" if close else ""


def config_keys() -> list[str]:
    """Every dotted key of the default config, and the config groups (algo, env, ...) one may choose."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf

    from runner.schema import flatten

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config")
    keys = list(flatten(OmegaConf.to_container(cfg, resolve=False)))
    groups = [p.name for p in CONF.iterdir() if p.is_dir() and p.name != "hydra"]
    parents = {k.rsplit(".", 1)[0] for k in keys if "." in k}
    return sorted(set(keys) | set(groups) | parents)

"""Small files a run depends on (config.yaml, identity.yaml, Hydra's metadata), written so that a kill never leaves
one half-written, and read so that a damaged one costs one line naming it and the fix."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from runner.errors import RunError


def write_atomic(path: Path, text: str) -> bool:
    """Write `text` to `path` through a temporary file (write, flush, fsync, rename), unless the file already holds
    it; returns whether it was written. A kill leaves the old file or the new one, never a mix."""
    try:
        if path.read_text() == text:
            return False
    except (OSError, UnicodeDecodeError):
        pass
    tmp = path.with_name(path.name + ".tmp")
    try:
        with tmp.open("w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
    return True


def read_yaml(path: Path, fix: str) -> dict:
    """A YAML file that must hold a mapping; RunError names the file, what is wrong and `fix` when it does not."""
    try:
        data = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise RunError(f"{path} is damaged ({type(err).__name__}: {str(err).splitlines()[0]}); {fix}") from None
    if not isinstance(data, dict):
        what = "empty" if data is None else f"not a mapping ({type(data).__name__})"
        raise RunError(f"{path} is damaged ({what}); {fix}")
    return data

"""Videos of evaluation episodes: a headless OpenGL backend for MuJoCo, the frames of one episode, and the MP4 in
`<run folder>/videos/` that every sink showing media is handed.

A video is a view, like a sink: when no backend renders or encoding fails, one warning says so and the run goes on.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np

from runner.disk import DiskError

VIDEO_DIR = "videos"
HEADLESS_BACKENDS = ("egl", "osmesa")  # tried in this order when MUJOCO_GL is not set
# Makes one GL context the way gymnasium's MuJoCo renderer will; run in a child process per backend.
PROBE = "import mujoco; context = mujoco.GLContext(16, 16); context.make_current(); context.free()"
PROBE_TIMEOUT_S = 120
_chosen: dict[str, str | None] = {}  # the backend this process renders with, once chosen
_warned: set[str] = set()


def warn_once(message: str) -> None:
    """Print a warning the first time this process meets it."""
    if message not in _warned:
        _warned.add(message)
        print(f"warning: {message}", file=sys.stderr, flush=True)


def headless_gl() -> str | None:
    """The MuJoCo OpenGL backend this process renders with, or None (after one warning) when none works.

    PyOpenGL fixes its platform when first imported, so a backend that fails in this process cannot be swapped for
    another: each is tried in a child process, and the first that makes a context is written to MUJOCO_GL here,
    before this process creates one. A MUJOCO_GL the user set is the only one tried.
    """
    if "backend" not in _chosen:
        asked = os.environ.get("MUJOCO_GL", "").strip()
        failures = []
        _chosen["backend"] = None
        for name in (asked,) if asked else HEADLESS_BACKENDS:
            why = _probe(name)
            if why is None:
                os.environ["MUJOCO_GL"] = name
                logging.getLogger("OpenGL").setLevel(logging.WARNING)  # PyOpenGL's note on its optional C module
                _chosen["backend"] = name
                break
            failures.append(f"MUJOCO_GL={name}: {why}")
        if _chosen["backend"] is None:
            warn_once(f"no evaluation videos: MuJoCo cannot render headless here ({'; '.join(failures)}); "
                      "`make setup` installs the EGL and OSMesa libraries (as root)")
    return _chosen["backend"]


def _probe(backend: str) -> str | None:
    """None when `backend` makes a GL context in a fresh process, else the last line of its error."""
    try:
        proc = subprocess.run([sys.executable, "-c", PROBE], env={**os.environ, "MUJOCO_GL": backend},
                              capture_output=True, text=True, timeout=PROBE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return f"no context within {PROBE_TIMEOUT_S} s"
    if proc.returncode == 0:
        return None
    lines = proc.stderr.strip().splitlines()
    return lines[-1][:200] if lines else f"exit status {proc.returncode}"


class Clip:
    """The frames of one episode as its env renders them after each step, at most `max_frames`. A render that
    fails ends the clip with one warning and leaves the episode, and so its return, as it was."""

    def __init__(self, max_frames: int, fps: float):
        self.max_frames, self.fps = max_frames, fps
        self.frames: list[np.ndarray] = []
        self.failed = False

    def capture(self, env: gym.Env) -> None:
        if self.failed or len(self.frames) >= self.max_frames:
            return
        try:
            self.frames.append(env.render())
        except Exception as err:  # noqa: BLE001 - a video is a view: it never ends an evaluation
            self.failed = True
            warn_once(f"no evaluation video: rendering failed ({type(err).__name__}: {err})")


@dataclass(frozen=True)
class EvalVideo:
    """One encoded video: the MP4 on disk and the frames it holds ([T, H, W, 3] uint8), for sinks that encode
    their own format."""
    step: int
    path: Path
    frames: np.ndarray
    fps: float


def out_of_space(err: Exception, folder: Path) -> bool:
    """Whether a failed encoding was a full disk: ffmpeg reports its own write errors as a broken pipe, so the
    folder's free space decides when the error does not say."""
    if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    try:
        return shutil.disk_usage(folder).free < (1 << 20)
    except OSError:
        return False


class VideoRecorder:
    """Clips of evaluation episodes, encoded as `<folder>/<name>.mp4` with imageio's ffmpeg plugin (its wheel
    ships the ffmpeg binary)."""

    def __init__(self, folder: Path, max_frames: int):
        self.folder, self.max_frames = folder, max_frames

    def clip(self, env: gym.Env) -> Clip | None:
        """An empty clip for the next episode of `env`, or None when this process cannot render."""
        if headless_gl() is None:
            return None
        return Clip(self.max_frames, float(env.metadata.get("render_fps", 30)))

    def save(self, clip: Clip | None, name: str, step: int) -> EvalVideo | None:
        """Encode a whole clip (written, then renamed); None for no clip, a failed one, or a failed encoding."""
        if clip is None or clip.failed or not clip.frames:
            return None
        frames = np.stack(clip.frames)
        path = self.folder / f"{name}.mp4"
        tmp = self.folder / f".{name}.tmp.mp4"  # ffmpeg takes the container from the extension
        try:
            import imageio.v2 as imageio

            self.folder.mkdir(parents=True, exist_ok=True)
            imageio.mimwrite(tmp, frames, format="FFMPEG", fps=clip.fps, macro_block_size=16)
            os.replace(tmp, path)
        except Exception as err:  # noqa: BLE001 - see Clip.capture
            tmp.unlink(missing_ok=True)
            if out_of_space(err, self.folder):  # not the video's fault: the next checkpoint would fail as well
                raise DiskError.of(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), self.folder, frames.nbytes // 50,
                                   f"the video {path.name}") from None
            warn_once(f"no evaluation video: encoding {path} failed ({type(err).__name__}: {err})")
            return None
        return EvalVideo(step, path, frames, clip.fps)

"""Metric sinks, the views of a run's CSV files: W&B, one console line per evaluation, TensorBoard event files.

Every sink takes the rows the CSV files take (`step` plus flat keys) through the same five methods: `open(history)`
when the run (re)starts, with every row the files already hold; `log_eval(row)`; `log_train(row)`; `close()`; and
`describe()`, lines for the end-of-run summary. A sink that shows media also takes `log_video(video)`, an
evaluation's video (runner/video.py). A sink that fails warns once and goes quiet: the files go on.
"""

from __future__ import annotations

import math
import os
import re
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from tqdm import tqdm

from runner.video import EvalVideo, warn_once
from runner.wandb_records import recorded_keys

SINKS = ("console", "wandb", "tensorboard")
VIDEO_KEY = "eval/video"
# TensorBoard shows a video as an animated GIF, which is large and slow to write: it gets at most this many frames
# (evenly spaced, played at the episode's speed) at half the video's width and height.
GIF_FRAMES = 250
RUN_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
# Eval-row keys shown on the console, in order, with their labels; a key the row lacks is left out.
CONSOLE_ENTROPY_KEYS = (("entropy/estimate", "est"), ("entropy/lower", "lower"), ("entropy/upper", "upper"),
                        ("entropy/reference", "ref"))


def namespaced(key: str, kind: str) -> str:
    """eval.csv keeps short column names; W&B and TensorBoard get them under `eval/` (entropy/ keys already are)."""
    return key if "/" in key else f"{kind}/{key}"


def numbers(row: dict, kind: str) -> dict[str, float]:
    """The finite numbers of a row under their namespaced keys, `step` left out."""
    return {namespaced(k, kind): v for k, v in row.items()
            if k != "step" and isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}


class Sink:
    """The sink interface, with the do-nothing default of each method."""

    def open(self, history: list[tuple[str, dict]]) -> None:
        pass

    def log_eval(self, row: dict) -> None:
        pass

    def log_train(self, row: dict) -> None:
        pass

    def log_video(self, video: EvalVideo) -> None:
        pass

    def close(self) -> None:
        pass

    def describe(self) -> list[str]:
        return []


class ConsoleSink(Sink):
    """One readable line per evaluation: step, return, the entropy estimate and its bounds, env steps per second
    since the previous evaluation (wall clock, evaluation included). Written above the progress bar; `name` (a
    group's `seed <n>`) starts the line, so that the members of a group tell their lines apart."""

    def __init__(self, total_steps: int, name: str = ""):
        self.total_steps = total_steps
        self.name = name
        self.last: tuple[int, float] | None = None

    def open(self, history: list[tuple[str, dict]]) -> None:
        steps = [row["step"] for kind, row in history if kind == "eval"]
        self.last = (steps[-1], time.perf_counter()) if steps else None

    def log_eval(self, row: dict) -> None:
        now, step = time.perf_counter(), int(row["step"])
        parts = [*([self.name] if self.name else []), f"eval step {step}/{self.total_steps}",
                 f"return {row['return_mean']:.1f} ± {row.get('return_std', 0.0):.1f}"]
        entropy = [f"{label} {row[key]:.3f}" for key, label in CONSOLE_ENTROPY_KEYS if key in row]
        if entropy:
            parts.append("entropy " + " ".join(entropy))
        if self.last is not None and step > self.last[0]:
            parts.append(f"{(step - self.last[0]) / max(now - self.last[1], 1e-9):.0f} steps/s")
        self.last = (step, now)
        tqdm.write("  ".join(parts), file=sys.stdout)


class TensorBoardSink(Sink):
    """Event files in `<run folder>/tensorboard/`, for `tensorboard --logdir runs/`. A restarted run marks what
    earlier processes wrote as purged and writes the files' history again, so TensorBoard shows exactly the CSV
    rows: no row a killed process wrote after its checkpoint, none it had not flushed."""

    def __init__(self, run_dir: Path):
        self.folder = run_dir / "tensorboard"
        self.writer = None

    def open(self, history: list[tuple[str, dict]]) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(log_dir=str(self.folder), purge_step=0 if history else None)
            for kind, row in history:
                self._add(row, kind)
            self.writer.flush()
        except Exception as err:  # noqa: BLE001 - tensorboard is an optional extra; a sink never ends a run
            self._drop(err)

    def _add(self, row: dict, kind: str) -> None:
        for key, value in numbers(row, kind).items():
            self.writer.add_scalar(key, value, int(row["step"]))

    def log_eval(self, row: dict) -> None:
        if self.writer is not None:
            self._add(row, "eval")
            self.writer.flush()  # an evaluation is rare and worth seeing at once

    def log_train(self, row: dict) -> None:
        if self.writer is not None:
            self._add(row, "train")

    def log_video(self, video: EvalVideo) -> None:
        """The video as an animated GIF in TensorBoard's images, what SummaryWriter.add_video writes (which needs
        moviepy 1.x to encode it)."""
        if self.writer is None:
            return
        try:
            from torch.utils.tensorboard.summary import Summary

            gif, (height, width) = gif_bytes(video)
            image = Summary.Image(height=height, width=width, colorspace=3, encoded_image_string=gif)
            self.writer.file_writer.add_summary(Summary(value=[Summary.Value(tag=VIDEO_KEY, image=image)]),
                                                video.step)
            self.writer.flush()
        except Exception as err:  # noqa: BLE001 - a video is a view; the scalars go on
            warn_once(f"no evaluation videos in TensorBoard ({type(err).__name__}: {_first_line(err)})")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()

    def describe(self) -> list[str]:
        return [f"  TensorBoard: tensorboard --logdir {self.folder}"] if self.writer is not None else []

    def _drop(self, err: Exception) -> None:
        print(f"warning: TensorBoard is off ({type(err).__name__}: {_first_line(err)}); eval.csv and train.csv "
              "go on", file=sys.stderr, flush=True)
        self.writer = None


class WandbSink(Sink):
    """One W&B run per run folder; its id lives in the folder's wandb_id.txt, so a restart resumes the same W&B
    run. Several may be open in one process (`reinit="create_new"`), one per seed of a group. Any W&B failure,
    at start or later, warns once and turns the sink off.

    `init_timeout_s`: how long an online start may wait for the server before W&B is off; the wait is announced
    when it begins, so a machine without network does not look stalled. `process_dir`: where W&B's files that
    belong to the process rather than to one run go (see `wandb_files_in`); the experiment's folder is shared by
    every run a process may train, so no run folder holds a log that a later run goes on writing.
    """

    def __init__(self, run_dir: Path, config: dict, mode: str, project: str, entity: str | None, group: str,
                 job_type: str, name: str, tags: list[str], init_timeout_s: float = 30.0,
                 process_dir: Path | None = None):
        self.run = None
        self.run_dir = run_dir
        self.process_dir = process_dir or run_dir / "wandb"
        self.id_file = run_dir / "wandb_id.txt"
        self.mode, self.init_timeout_s = mode, init_timeout_s
        self.init_args = dict(project=project, entity=entity, group=group, job_type=job_type, name=name, tags=tags,
                              resume="allow", dir=str(run_dir), mode=mode, config=config, reinit="create_new")

    def open(self, history: list[tuple[str, dict]]) -> None:
        """Start (or resume) the W&B run, then log every row of `history` that earlier starts did not get into
        W&B's files: a killed process loses the rows W&B had not yet written, while the CSV files kept them."""
        try:
            run_id = self._run_id()
        except ValueError as err:  # our own message, whole: it says which file and what to do
            self._off(str(err))
            return
        except OSError as err:
            self._drop(err)
            return
        if self.mode == "online":
            print(f"W&B: connecting to the server, up to {self.init_timeout_s:g} s (logger=offline needs no "
                  "network)", file=sys.stderr, flush=True)
        try:
            with wandb_files_in(self.process_dir):
                import wandb

                recorded = recorded_keys(self.run_dir)
                self.run = wandb.init(id=run_id, **self.init_args, settings=wandb.Settings(
                    console="off", disable_git=True, save_code=False, x_disable_stats=True, silent=True,
                    init_timeout=self.init_timeout_s))
        except Exception as err:  # noqa: BLE001 - see _drop
            self._drop(err)
            return
        for kind, row in history:
            values = numbers(row, kind)
            if not set(values) <= recorded.get(row["step"], set()):
                self._log(values, row["step"])

    def _run_id(self) -> str:
        if not self.id_file.exists():
            run_id = uuid.uuid4().hex[:8]
            self.id_file.write_text(run_id)
            return run_id
        run_id = self.id_file.read_text().strip()
        if not RUN_ID.fullmatch(run_id):
            raise ValueError(f"{self.id_file} holds {run_id[:40]!r}, not a W&B run id; delete it to start a new "
                             "W&B run")
        return run_id

    def segments(self) -> list[Path]:
        """Every offline folder of this run, one per start, oldest first."""
        folder = self.run_dir / "wandb"
        return sorted(folder.glob("offline-run-*")) if folder.is_dir() else []

    def _log(self, values: dict, step: int) -> None:
        if self.run is None:
            return
        try:
            self.run.log(values, step=step)
        except Exception as err:  # noqa: BLE001 - see _drop
            self._drop(err)

    def log_eval(self, row: dict) -> None:
        self._log(numbers(row, "eval"), int(row["step"]))

    def log_train(self, row: dict) -> None:
        self._log(numbers(row, "train"), int(row["step"]))

    def log_video(self, video: EvalVideo) -> None:
        """The MP4 as a wandb.Video under `eval/video`, at its evaluation's step."""
        if self.run is None:
            return
        try:
            import wandb

            media = wandb.Video(str(video.path), format="mp4")
        except Exception as err:  # noqa: BLE001 - a video is a view; the rows go on
            warn_once(f"no evaluation videos in W&B ({type(err).__name__}: {_first_line(err)})")
            return
        self._log({VIDEO_KEY: media}, video.step)

    def close(self) -> None:
        if self.run is None:
            return
        try:
            self.run.finish()
        except Exception as err:  # noqa: BLE001 - see _drop
            self._drop(err)

    def describe(self) -> list[str]:
        segments = self.segments()
        if not segments:
            return []
        return [f"  W&B run:    {len(segments)} offline segment(s), one per start; upload them all later: "
                f"wandb sync {self.run_dir / 'wandb'}/offline-run-*"]

    def _drop(self, err: Exception) -> None:
        """W&B is a mirror, not the record: when it fails (a broken folder, its service killed by SLURM's signal
        to every process of a requeued job) the run goes on with its CSV files, and a restart resumes the same
        W&B run."""
        self._off(f"{type(err).__name__}: {_first_line(err)}")

    def _off(self, why: str) -> None:
        print(f"warning: W&B is off ({why}); eval.csv and train.csv go on", file=sys.stderr, flush=True)
        self.run = None


def gif_bytes(video: EvalVideo) -> tuple[bytes, tuple[int, int]]:
    """The video's frames, thinned to GIF_FRAMES and halved in size, as GIF bytes and their (height, width)."""
    import imageio.v3 as iio

    stride = -(-len(video.frames) // GIF_FRAMES)
    frames = video.frames[::stride, ::2, ::2]
    gif = iio.imwrite("<bytes>", frames, extension=".gif", duration=1000.0 * stride / video.fps, loop=0)
    return gif, frames.shape[1:3]


# Where W&B's service writes its debug logs (the user's cache folder, by XDG_CACHE_HOME) and W&B its own cache.
WANDB_CACHE_VARIABLES = ("XDG_CACHE_HOME", "WANDB_CACHE_DIR")


@contextmanager
def wandb_files_in(folder: Path) -> Iterator[None]:
    """W&B's files that would land outside the run folder land in `folder` instead: the service's debug logs
    (`core-debug-*.log`, under the user's cache folder) and the temporary media folder (in the system's temporary
    folder, left there when a kill ends the process). W&B reads both places once, when it is imported and when
    its service starts, so they are pointed at `folder` only for that call; later runs in the same process keep
    the first one's."""
    folder.mkdir(parents=True, exist_ok=True)
    saved_env = {name: os.environ.get(name) for name in WANDB_CACHE_VARIABLES}
    saved_tmp = tempfile.tempdir
    (folder / "tmp").mkdir(exist_ok=True)
    os.environ.update({name: str(folder / "cache") for name in WANDB_CACHE_VARIABLES})
    tempfile.tempdir = str(folder / "tmp")
    try:
        yield
    finally:
        tempfile.tempdir = saved_tmp
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _first_line(err: Exception) -> str:
    return (str(err).strip().splitlines() or [""])[0][:200]

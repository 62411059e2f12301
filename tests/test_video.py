"""Evaluation videos: the MP4 holds the first evaluation episode frame by frame, W&B's offline run and TensorBoard's
event files hold it too, and a machine that cannot render gets one warning and a run that still finishes."""

from __future__ import annotations

import imageio.v3 as iio
import numpy as np
import pytest
import torch
import wandb

from envs import make_env
from runner import video
from runner.evaluation import play_episodes
from runner.sinks import TensorBoardSink
from runner.video import VideoRecorder
from tests.helpers import TINY, folder_for, read_csv, train_in_process

# Two evaluations of one episode each; video_every=2 records the second only.
RUN = [*TINY, "total_steps=1000", "eval_every=500", "eval_episodes=1", "video_every=2", "experiment_name=video"]


class RandomAgent:
    """Uniform actions from its own generator: a moving HalfCheetah without training one."""

    device = torch.device("cpu")

    def __init__(self, act_dim: int):
        self.rng, self.act_dim = np.random.default_rng(0), act_dim

    def act(self, obs: np.ndarray, eval_mode: bool = False) -> np.ndarray:
        return self.rng.uniform(-1.0, 1.0, self.act_dim).astype(np.float32)


def decoded(path) -> np.ndarray:
    return iio.imread(path)


def moving(frames: np.ndarray) -> bool:
    """Far more change between the first and the last frame than the encoding's noise."""
    return float(np.abs(frames[0].astype(float) - frames[-1].astype(float)).mean()) > 2.0


def test_a_capped_halfcheetah_video_holds_the_first_episode_frames_in_order(tmp_path):
    env = make_env("HalfCheetah-v5", render_size=(320, 240))
    recorder = VideoRecorder(tmp_path / "videos", max_frames=30)
    clip = recorder.clip(env)
    assert clip is not None, "this machine must render headless (make setup installs EGL)"
    returns, lengths = play_episodes(RandomAgent(6), env, 2, True, seed=0, step=0, clip=clip)
    saved = recorder.save(clip, "step0", 0)
    env.close()
    assert lengths == [1000, 1000] and len(clip.frames) == 30  # the cap, from the first episode only
    frames = decoded(saved.path)
    assert frames.shape == (30, 240, 320, 3)
    assert moving(frames)
    assert saved.path == tmp_path / "videos" / "step0.mp4" and not list((tmp_path / "videos").glob(".*"))


def test_training_records_every_kth_evaluation_into_the_folder_wandb_and_tensorboard(run_root):
    run = [*RUN, "logger=offline", "logger.sinks=[wandb,tensorboard]"]
    assert train_in_process(*run, run_root=run_root) == (0, "")
    wandb.teardown()  # the offline run's file is complete once W&B's service has stopped
    folder = folder_for(*run, run_root=run_root)
    assert [p.name for p in (folder / "videos").iterdir()] == ["step1000.mp4"]
    frames = decoded(folder / "videos" / "step1000.mp4")
    last = read_csv(folder / "eval.csv")[-1]
    assert len(frames) == int(float(last["length_mean"])) > 1  # one frame per step of the episode
    assert moving(frames)

    media = list(folder.glob("wandb/offline-run-*/files/media/videos/eval/*.mp4"))
    assert len(media) == 1 and media[0].read_bytes() == (folder / "videos" / "step1000.mp4").read_bytes()

    event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    accumulator = event_accumulator.EventAccumulator(str(folder / "tensorboard"), size_guidance={"images": 0})
    accumulator.Reload()
    assert accumulator.Tags()["images"] == ["eval/video"]
    (image,) = accumulator.Images("eval/video")
    gif = iio.imread(image.encoded_image_string, extension=".gif", index=None)
    assert image.step == 1000 and len(gif) == len(frames) and gif.shape[1:3] == (120, 160)


def test_no_renderer_gives_one_warning_and_the_run_still_finishes(run_root, monkeypatch, capsys):
    """PyOpenGL set to another platform makes both EGL and OSMesa refuse to start, as a machine without their
    libraries does."""
    monkeypatch.setattr(video, "_chosen", {})
    monkeypatch.setattr(video, "_warned", set())
    monkeypatch.delenv("MUJOCO_GL", raising=False)
    monkeypatch.setenv("PYOPENGL_PLATFORM", "glx")
    run = [*RUN, "video_every=1", "logger=disabled", "experiment_name=novideo"]
    assert train_in_process(*run, run_root=run_root) == (0, "")
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "no evaluation videos" in warnings[0] and "MUJOCO_GL=osmesa" in warnings[0]
    folder = folder_for(*run, run_root=run_root)
    assert len(read_csv(folder / "eval.csv")) == 2 and not (folder / "videos").exists()


class BrokenRenderEnv:
    """Steps like an env whose renderer dies on the third frame."""

    def __init__(self):
        self.renders = 0

    def render(self):
        self.renders += 1
        if self.renders == 3:
            raise RuntimeError("context lost")
        return np.zeros((4, 4, 3), np.uint8)


def test_a_render_that_fails_mid_episode_ends_the_clip_with_one_warning(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(video, "_warned", set())
    clip, env = video.Clip(max_frames=10, fps=20.0), BrokenRenderEnv()
    for _ in range(6):
        clip.capture(env)
    assert clip.failed and len(clip.frames) == 2 and env.renders == 3  # no render tried after the failure
    assert VideoRecorder(tmp_path, 10).save(clip, "step0", 0) is None and not list(tmp_path.iterdir())
    assert capsys.readouterr().err.count("warning: no evaluation video: rendering failed") == 1


def test_a_video_tensorboard_cannot_take_leaves_its_scalars_on(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(video, "_warned", set())
    sink = TensorBoardSink(tmp_path)
    sink.open([])
    unreadable = video.EvalVideo(500, tmp_path / "step500.mp4", np.zeros((3, 4), np.uint8), 20.0)  # no frames
    sink.log_video(unreadable)
    sink.log_eval({"step": 500, "return_mean": 7.0})
    sink.close()
    assert capsys.readouterr().err.count("warning: no evaluation videos in TensorBoard") == 1
    event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    accumulator = event_accumulator.EventAccumulator(str(tmp_path / "tensorboard"))
    accumulator.Reload()
    assert [(e.step, e.value) for e in accumulator.Scalars("eval/return_mean")] == [(500, 7.0)]

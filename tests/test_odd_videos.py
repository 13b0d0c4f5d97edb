"""Real video files that are legitimate but unusual: names FFmpeg misreads, header-only files, and
containers that report a time base as their frame rate. Each either plays correctly or is refused with one
line; none gives a traceback or a silently empty result."""

import functools
import shutil
import struct

import cv2
import numpy as np
import pytest
from conftest import EXERCISE_AVI, PUNCH_AVI, source_frames, write_variable_rate

from actionrec.data.clock import ModelClock
from actionrec.data.video import (FALLBACK_FPS, MAX_FPS, FrameSpec, FrameTimes, iter_decoded_frames, probe, read_clip,
                                  usable_fps)
from actionrec.live.camera import FrameGrabber


def _drain(source):
    grabber = FrameGrabber(str(source), realtime=False)
    frames = sum(1 for _ in iter(functools.partial(grabber.start().next_frame, 5.0), None))
    return grabber, frames


def test_a_relative_name_with_a_colon_opens(tmp_path, monkeypatch):
    """FFmpeg took "take:1.avi" for a protocol called "take": the camera-style timestamps people name files with."""
    for name in ("take:1.avi", "2024-01-01T10:30:00.avi"):
        shutil.copy(PUNCH_AVI, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    for name in ("take:1.avi", "2024-01-01T10:30:00.avi"):
        assert probe(name).frames == probe(PUNCH_AVI).frames
        frames, _ = read_clip(name, FrameSpec())
        assert len(frames) == len(read_clip(PUNCH_AVI, FrameSpec())[0])
        grabber, n = _drain(name)
        assert not grabber.failed and n == probe(PUNCH_AVI).frames, grabber.message


def test_a_header_only_video_is_refused_not_replayed_as_empty(tmp_path):
    path = tmp_path / "zero.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (64, 48))
    writer.release()  # a valid container with no frame in it
    cap = cv2.VideoCapture(str(path))
    opened = cap.isOpened()
    cap.release()
    if not opened:
        pytest.skip("this OpenCV build cannot open a header-only AVI: refused at open, as other broken files")
    grabber, n = _drain(path)
    assert n == 0 and grabber.failed
    assert str(path) in grabber.message and "no frame could be read" in grabber.message


def _with_frame_rate(src, dst, rate: int, scale: int = 1):
    """Copy an AVI with its video stream's rate (``strh.dwRate / dwScale``) set: what FFmpeg reports."""
    data = bytearray(src.read_bytes())
    strh = data.find(b"strh")
    assert data[strh + 8: strh + 12] == b"vids"
    struct.pack_into("<II", data, strh + 8 + 20, scale, rate)  # AVIStreamHeader.dwScale, dwRate
    dst.write_bytes(bytes(data))
    return dst


@pytest.mark.parametrize("rate", [90_000, 10_000_000])
def test_a_time_base_reported_as_the_frame_rate_is_taken_as_unknown(tmp_path, rate):
    """MPEG-TS reports 90000; believed, a 4 s clip lasted 4 ms, and 10 million asked the live ring buffer
    for 27 GiB. Above MAX_FPS the rate is unknown: FALLBACK_FPS, as for a container that reports none."""
    assert usable_fps(rate) == FALLBACK_FPS and usable_fps(MAX_FPS) == MAX_FPS and usable_fps(960.0) == 960.0
    path = _with_frame_rate(PUNCH_AVI, tmp_path / f"fps{rate}.avi", rate)
    cap = cv2.VideoCapture(str(path))
    reported = cap.get(cv2.CAP_PROP_FPS)
    cap.release()
    assert reported > MAX_FPS  # the file really says so
    assert probe(path).fps == FALLBACK_FPS
    frames, times = read_clip(path, FrameSpec(fps=10.0))
    assert times[-1] == pytest.approx((probe(path).frames - 1) / FALLBACK_FPS, abs=0.1) and len(frames) > 30
    grabber, n = _drain(path)
    assert grabber.fps == FALLBACK_FPS and not grabber.failed and n == probe(path).frames


def test_a_variable_rate_video_keeps_its_own_timing(tmp_path):
    """A phone in dim light: 30 fps for 2 s, then 12 fps for 2 s. Timed as index / the average rate that the
    container reports, the first half ran 1.4 times too slowly and the second 1.8 times too fast."""
    times = np.concatenate([np.arange(60) / 30, 2 + np.arange(24) / 12])
    real = source_frames(EXERCISE_AVI, 0, 40)  # the real person at 10 fps; each written frame shows its time's
    path = write_variable_rate(tmp_path / "phone.mp4", real[np.minimum((times * 10 + 1e-6).astype(int), 39)], times)
    decoded = [t for t, _ in iter_decoded_frames(path, FrameSpec(fps=0))]
    assert np.allclose(decoded, times, atol=1e-3)
    model_times = [t for t, _ in iter_decoded_frames(path, FrameSpec())]
    assert np.allclose(model_times, times[ModelClock(10.0).keep(times)], atol=1e-3) and len(model_times) == 40
    grabber = FrameGrabber(str(path), realtime=False).start()
    live = [f.t for f in iter(functools.partial(grabber.next_frame, 5.0), None)]
    assert np.allclose(live, times, atol=1e-3)


def turn_on_display(path, degrees: int = 90):
    """Set an MP4's display matrix (its track header's) to turn the picture ``degrees`` clockwise on
    playback: how a phone held upright stores its video, the picture on its side plus this matrix."""
    data = bytearray(path.read_bytes())
    at = data.rfind(b"tkhd") + 4 + 40  # the moov comes last; the matrix follows version..volume, 40 bytes
    one, minus_one = 0x00010000, 0xFFFF0000
    a, b, c, d = {90: (0, one, minus_one, 0), 270: (0, minus_one, one, 0)}[degrees]
    struct.pack_into(">9I", data, at, a, b, 0, c, d, 0, 0, 0, 0x40000000)
    path.write_bytes(bytes(data))


def test_a_portrait_phone_video_is_seen_upright(tmp_path):
    """A phone filming a player upright writes the picture on its side and a display matrix; read as stored,
    the person lies on their side, which neither BlazePose's detector nor MobileNet's features expect."""
    upright = source_frames(EXERCISE_AVI, 0, 20)  # (20, 288, 384, 3): the real person, at 10 fps
    times = np.arange(20) / 10
    path = write_variable_rate(tmp_path / "portrait.mp4", np.rot90(upright, 1, axes=(1, 2)), times)
    turn_on_display(path)
    info = probe(path)
    assert (info.width, info.height) == (384, 288)
    frames, _ = read_clip(path, FrameSpec(fps=0, width=384, height=288))
    assert frames.shape == upright.shape
    as_shown = np.abs(frames.astype(int) - upright).mean()
    turned_back = np.abs(np.rot90(frames, 2, axes=(1, 2)).astype(int) - upright).mean()
    assert as_shown < 6 < turned_back, (as_shown, turned_back)  # H.264's loss, against the wrong turn
    grabber = FrameGrabber(str(path), realtime=False).start()
    live = [f.bgr[..., ::-1] for f in iter(functools.partial(grabber.next_frame, 5.0), None)]
    assert len(live) == 20 and live[0].shape == upright.shape[1:]
    assert np.abs(live[5].astype(int) - upright[5]).mean() < 6


def test_broken_timestamps_fall_back_to_the_frame_rate():
    """Missing (nan), repeated, backwards or wildly jumping container timestamps: the previous time + 1 / rate."""
    clock = FrameTimes(25.0)
    stamps = [500.0, 540.0, float("nan"), 620.0, 620.0, 3_600_000.0, 700.0, 660.0]
    assert np.allclose([clock.next(ms) for ms in stamps], [0, 0.04, 0.08, 0.12, 0.16, 0.2, 0.24, 0.28])

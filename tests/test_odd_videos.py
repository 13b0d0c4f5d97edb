"""Real video files that are legitimate but unusual: names FFmpeg misreads, header-only files, and
containers that report a time base as their frame rate. Each either plays correctly or is refused with one
line; none gives a traceback or a silently empty result."""

import functools
import shutil
import struct

import cv2
import pytest
from conftest import PUNCH_AVI

from actionrec.data.video import FALLBACK_FPS, MAX_FPS, FrameSpec, probe, read_clip, usable_fps
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

"""Videos whose container header states more frames than the file holds, as many real ones do.

A phone video said 600 frames and decoded 597, and ``live`` and ``replay`` stopped with "video ended
early". Reproduced honestly: real AVI files whose header frame count (``avih.dwTotalFrames`` and the video
stream's ``strh.dwLength``, where OpenCV reads it) is patched upwards. Such a file plays to its end and the
shortfall is noted once; a file cut in half still fails (tests/test_stream.py).
"""

import functools
import struct

import cv2
import numpy as np
import pytest
from conftest import EXERCISE_AVI, PUNCH_AVI, build_class_dataset, source_frames, write_clip
from typer.testing import CliRunner

from actionrec.cli import app
from actionrec.data.video import FrameSpec, check_clip, read_clip
from actionrec.live.camera import FrameGrabber


def overstate_avi_frame_count(src, dst, claimed: int):
    """Copy an AVI with its header's frame counts set to ``claimed``."""
    data = bytearray(src.read_bytes())
    avih, strh = data.find(b"avih"), data.find(b"strh")
    assert avih > 0 and data[strh + 8: strh + 12] == b"vids"
    struct.pack_into("<I", data, avih + 8 + 16, claimed)  # MainAVIHeader.dwTotalFrames
    struct.pack_into("<I", data, strh + 8 + 32, claimed)  # AVIStreamHeader.dwLength
    dst.write_bytes(bytes(data))
    cap = cv2.VideoCapture(str(dst))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == claimed  # what OpenCV now reports
    cap.release()
    return dst


@pytest.fixture(scope="module")
def punch_said_111(tmp_path_factory):
    """The real 108-frame UCF101 punch clip with a header claiming 111 (3 more, as the phone video)."""
    return overstate_avi_frame_count(PUNCH_AVI, tmp_path_factory.mktemp("over") / "punch_111.avi", 111)


@pytest.fixture(scope="module")
def phone_like_600(tmp_path_factory):
    """597 frames written by OpenCV (MJPG, 30 fps) under a header that says 600: the reported case."""
    path = tmp_path_factory.mktemp("phone") / "phone.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (160, 90))
    rng = np.random.default_rng(0)
    for _ in range(597):
        writer.write(rng.integers(0, 256, (90, 160, 3), np.uint8))
    writer.release()
    return overstate_avi_frame_count(path, path, 600)


def _drain(path, realtime):
    grabber = FrameGrabber(str(path), realtime=realtime)
    frames = sum(1 for _ in iter(functools.partial(grabber.start().next_frame, 5.0), None))
    return grabber, frames


@pytest.mark.parametrize("realtime", [False, True])  # replay reads every frame; live paces like a camera
def test_overstated_header_ends_the_stream_normally_with_one_note(punch_said_111, realtime):
    grabber, frames = _drain(punch_said_111, realtime)
    assert grabber.read == 108 and frames + grabber.dropped == 108
    assert not grabber.failed
    assert grabber.message == (f"{punch_said_111}: end of video after 108 frames (3 fewer than the 111 its "
                               "header states, as many containers overstate)")


def test_phone_like_597_of_600_plays_to_the_end(phone_like_600):
    grabber, frames = _drain(phone_like_600, realtime=False)
    assert frames == 597 and not grabber.failed and "3 fewer than the 600" in grabber.message


def test_clip_reading_and_inspect_accept_an_overstated_header(punch_said_111):
    frames, times = read_clip(punch_said_111, FrameSpec(fps=0))
    assert len(frames) == 108
    assert check_clip(punch_said_111).frames == 111  # inspect opens it (the header's count is reported)


def test_replay_command_finishes_an_overstated_video(tmp_path, punch_said_111):
    runner = CliRunner()
    data = build_class_dataset(tmp_path / "data")
    exercise = source_frames(EXERCISE_AVI)  # the trigger needs a kick class too; what it looks like is moot here
    write_clip(data / "kick" / "front" / "k1.avi", exercise[300:320], fps=10)
    write_clip(data / "kick" / "front" / "k2.avi", exercise[340:360], fps=10)
    with open(data / "groups.csv", "a") as fh:
        fh.write("kick/front/k1.avi,alice\nkick/front/k2.avi,bob\n")
    model = tmp_path / "model"
    trained = runner.invoke(app, ["train", str(data), "--model", "frame", "--epochs", "1", "--out", str(model)])
    assert trained.exit_code == 0, trained.output
    result = runner.invoke(app, ["replay", str(punch_said_111), "--model", str(model)])
    assert result.exit_code == 0, result.output
    assert "ended early" not in result.output
    assert "108 frames at" in result.output
    assert result.stderr.count("note: ") == 1 and "3 fewer than the 111 its header states" in result.stderr

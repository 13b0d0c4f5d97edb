"""Camera backend choice per OS, and probing on a machine without cameras (CI has none)."""

import glob
import subprocess
import sys

import cv2
import pytest

from actionrec.errors import ActionrecError
from actionrec.live.camera import FrameGrabber
from actionrec.live.camera_backends import list_cameras, open_camera, preferred_backends

no_camera = pytest.mark.skipif(bool(glob.glob("/dev/video*")), reason="this machine has a video device")


@pytest.mark.parametrize("platform, expected", [
    ("linux", ("CAP_V4L2", "CAP_ANY")),
    ("darwin", ("CAP_AVFOUNDATION", "CAP_ANY")),
    ("win32", ("CAP_MSMF", "CAP_DSHOW", "CAP_ANY")),
    ("cygwin", ("CAP_MSMF", "CAP_DSHOW", "CAP_ANY")),
    ("freebsd14", ("CAP_ANY",)),
])
def test_backends_per_platform(platform, expected):
    assert preferred_backends(platform) == expected
    # Every name is a constant this OpenCV defines, so none is skipped silently on its own OS.
    assert all(isinstance(getattr(cv2, name), int) for name in expected)


@no_camera
def test_list_cameras_empty_and_quiet(capfd):
    assert list_cameras(max_index=4) == []
    out, err = capfd.readouterr()  # file-descriptor level: OpenCV logs from C++, not through sys.stderr
    assert out == "" and err == ""
    # The log level is restored afterwards (our silence must not leak into the rest of the program).
    assert cv2.utils.logging.getLogLevel() != cv2.utils.logging.LOG_LEVEL_SILENT


@no_camera
@pytest.mark.parametrize("platform, tried", [
    ("linux", "V4L2, ANY"),
    ("win32", "MSMF, DSHOW, ANY"),  # not built into Linux OpenCV: the chain still ends in one clear error
])
def test_open_camera_names_index_and_backends(platform, tried, capfd):
    with pytest.raises(ActionrecError) as e:
        open_camera(3, platform=platform)
    message = str(e.value)
    assert message.startswith("camera 3: ")
    assert f"tried OpenCV backends {tried}" in message
    assert "\n" not in message
    assert capfd.readouterr() == ("", "")


@no_camera
def test_macos_error_says_how_to_allow_the_camera():
    with pytest.raises(ActionrecError, match=r"Privacy & Security > Camera"):
        open_camera(5, platform="darwin")


def test_negative_index_rejected():
    with pytest.raises(ActionrecError, match=r"camera -1: a camera index is 0 or more"):
        open_camera(-1)


@no_camera
def test_live_source_index_goes_through_the_native_backends(capfd):
    # The live loop (and record) open a camera index through open_camera, not OpenCV's default order.
    with pytest.raises(ActionrecError, match=r"camera 6: could not be opened \(tried OpenCV backends "
                                             + ("V4L2, ANY" if sys.platform.startswith("linux") else "")):
        FrameGrabber(6)
    assert capfd.readouterr() == ("", "")


@no_camera
def test_cameras_command_says_none_found():
    run = subprocess.run([sys.executable, "-m", "actionrec", "cameras", "--max-index", "3"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [run.stdout.strip()]  # one line
    assert run.stdout.startswith("no camera found among indices 0-2; ")
    assert run.stderr == ""


def test_cameras_command_rejects_empty_range():
    run = subprocess.run([sys.executable, "-m", "actionrec", "cameras", "--max-index", "0"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert run.stderr.strip() == "error: max index 0: expected 1 or more camera indices to probe"

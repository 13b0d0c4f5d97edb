"""Open a camera by index with the capture backend that works on this OS, and list the cameras there are.

``cv2.VideoCapture(0)`` leaves the backend to OpenCV's own order, which on Windows starts with MSMF and on
some Linux builds with GStreamer, and prints a WARN line for every backend that fails. Asking for the
native backend first is what opens a webcam reliably on each system:

- Linux: V4L2 (the kernel's video API; /dev/videoN is index N).
- macOS: AVFoundation (the only camera API there; the terminal needs Camera permission).
- Windows: Media Foundation (MSMF), then DirectShow for older or virtual cameras MSMF does not list.

Then CAP_ANY, so a build without the native backend still gets OpenCV's own choice.
"""

from __future__ import annotations

import sys
from typing import NamedTuple

import cv2

from actionrec.data.video import quiet_opencv
from actionrec.errors import ActionrecError

# Backend constant names in the order they are tried, by the prefix of ``sys.platform``.
_PREFERRED = (
    ("linux", ("CAP_V4L2",)),
    ("darwin", ("CAP_AVFOUNDATION",)),
    ("win32", ("CAP_MSMF", "CAP_DSHOW")),
    ("cygwin", ("CAP_MSMF", "CAP_DSHOW")),
)


class CameraInfo(NamedTuple):
    index: int
    backend: str  # OpenCV's name for the backend that opened it, e.g. "V4L2", "AVFOUNDATION", "MSMF"
    width: int  # of the first frame delivered
    height: int

    def describe(self) -> str:
        return f"camera {self.index}: {self.backend}, {self.width}x{self.height}"


def preferred_backends(platform: str | None = None) -> tuple[str, ...]:
    """The OpenCV backend names tried for a camera index on ``platform`` (default ``sys.platform``), CAP_ANY last."""
    platform = sys.platform if platform is None else platform
    for prefix, names in _PREFERRED:
        if platform.startswith(prefix):
            return names + ("CAP_ANY",)
    return ("CAP_ANY",)


def _short(name: str) -> str:
    return name.removeprefix("CAP_")


def _try_open(index: int, platform: str | None) -> tuple[cv2.VideoCapture | None, list[str]]:
    """The first backend that opens camera ``index`` (or None) and the backends tried before it."""
    tried: list[str] = []
    for name in preferred_backends(platform):
        api = getattr(cv2, name, None)
        if api is None:  # a constant this OpenCV build does not define
            continue
        with quiet_opencv():
            cap = cv2.VideoCapture(index, api)
            if cap.isOpened():
                return cap, tried
            cap.release()
        tried.append(_short(name))
    return None, tried


def camera_hint(platform: str | None = None) -> str:
    """What to check when a camera does not open, for ``platform`` (default ``sys.platform``)."""
    platform = sys.platform if platform is None else platform
    return _permission_hint(platform).removeprefix("; ")


def _permission_hint(platform: str) -> str:
    if platform.startswith("darwin"):
        return ("; on macOS, allow the terminal (Terminal, iTerm) in System Settings > Privacy & Security > Camera, "
                "then restart it")
    if platform.startswith(("win32", "cygwin")):
        return "; on Windows, check Settings > Privacy & security > Camera and that no other program holds the camera"
    return "; check that the device exists (ls /dev/video*) and that this user may read it (group video)"


def open_camera(index: int, platform: str | None = None) -> cv2.VideoCapture:
    """An opened ``cv2.VideoCapture`` for camera ``index``, trying this OS's native backend(s) first, then CAP_ANY.

    Raises ActionrecError naming the index and the backends tried when none opens it.
    """
    if index < 0:
        raise ActionrecError(f"camera {index}: a camera index is 0 or more")
    platform = sys.platform if platform is None else platform
    cap, tried = _try_open(index, platform)
    if cap is None:
        raise ActionrecError(f"camera {index}: could not be opened (tried OpenCV backends {', '.join(tried)})"
                             f"{_permission_hint(platform)}; `actionrec cameras` lists the cameras found")
    return cap


def list_cameras(max_index: int = 10, platform: str | None = None) -> list[CameraInfo]:
    """Cameras among indices 0..max_index-1 that open and deliver a frame, each released again.

    All indices are probed, not up to the first gap: Linux gives a webcam two nodes (video0 for frames, video1
    for metadata), so a second camera is often index 2.
    """
    if max_index < 1:
        raise ActionrecError(f"max index {max_index}: expected 1 or more camera indices to probe")
    found: list[CameraInfo] = []
    for index in range(max_index):
        cap, _ = _try_open(index, platform)
        if cap is None:
            continue
        with quiet_opencv():
            try:
                ok, frame = cap.read()
                backend = cap.getBackendName()
            finally:
                cap.release()
        if ok and frame is not None and frame.size:
            found.append(CameraInfo(index, backend, int(frame.shape[1]), int(frame.shape[0])))
    return found

"""Frame sources: a camera index, a video file or a stream URL, read by a thread that keeps the newest frame.

``FrameGrabber`` drops stale frames (OpenCV would otherwise queue them), counts the ones it dropped, and says
why the source ended.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from actionrec.data.video import FrameTimes, header_count_slack, opencv_name, usable_fps
from actionrec.errors import ActionrecError
from actionrec.live.camera_backends import open_camera

Source = int | str  # camera index, video file path, or a stream URL OpenCV opens
# A file that decodes fewer frames than its header states ends normally, with the shortfall noted once,
# when it is within data.video.header_count_slack (a phone video said 600 and decoded 597); further short
# it was cut (truncated or corrupt), and the stream ends as failed.


def parse_source(text: str) -> Source:
    """``"0"`` -> camera 0; anything else is a file path or URL."""
    return int(text) if text.strip().isdigit() else text


def describe_source(source: Source) -> str:
    return f"camera {source}" if isinstance(source, int) else str(source)


def _is_url(source: Source) -> bool:
    return isinstance(source, str) and "://" in source


def open_capture(source: Source) -> cv2.VideoCapture:
    if isinstance(source, int):
        return open_camera(source)  # this OS's native backend first (V4L2, AVFoundation, MSMF/DirectShow)
    if isinstance(source, str) and not _is_url(source):
        if Path(source).is_dir():
            raise ActionrecError(f"{source}: is a folder; expected a camera index, a video file or a URL")
        if not Path(source).is_file():
            raise ActionrecError(f"{source}: no such video file (expected a camera index, a video file or a URL)")
        cap = cv2.VideoCapture(opencv_name(source))
    else:
        cap = cv2.VideoCapture(source)
    if not cap.isOpened():
        raise ActionrecError(f"{describe_source(source)}: OpenCV cannot open it as a video source")
    return cap


@dataclass(frozen=True)
class Frame:
    index: int  # frames read from the source before this one
    t: float  # seconds on the source's timeline: the container's timestamp for files, time since start for live
    captured_at: float  # wall clock (time.time()) when grabbed: the start of capture-to-hook latency
    bgr: np.ndarray


class FrameGrabber:
    """Read a source in a thread, handing over only the newest frame.

    ``realtime=True``: files play at their own rate and a slow consumer makes the grabber drop frames
    (counted in ``dropped``), as a camera would. ``realtime=False`` (files only): as fast as the consumer
    takes frames, none dropped, for replay.
    """

    def __init__(self, source: Source, realtime: bool = True) -> None:
        self.source = source
        self.realtime = realtime
        self.is_file = isinstance(source, str) and not _is_url(source)
        if not realtime and not self.is_file:
            raise ActionrecError(f"{describe_source(source)}: only a video file can be read without real-time pacing")
        self._cap = open_capture(source)
        self.fps = usable_fps(self._cap.get(cv2.CAP_PROP_FPS))
        self.expected_frames = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT)) if self.is_file else 0
        self.read = 0
        self.dropped = 0
        self.ended = False
        self.failed = False
        self.message = ""
        self.shortfall = 0  # frames fewer than the file's header states, at a normal end (noted in message)
        self._slot: Frame | None = None
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="actionrec-capture", daemon=True)

    def start(self) -> "FrameGrabber":
        """Start capturing (once; later calls do nothing)."""
        if self._thread.ident is None and not self._stop.is_set():
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread.ident is None:
            self._cap.release()  # never started: the capture thread would have released it
        elif self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)

    def next_frame(self, timeout: float) -> Frame | None:
        """The newest frame not yet handed out; None once the source ended or stalled ``timeout`` s."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._slot is not None or self.ended, timeout):
                self._finish(True, f"{describe_source(self.source)}: no frame for {timeout:g} s (source stalled)")
                return None
            frame, self._slot = self._slot, None
            self._cond.notify_all()  # a lossless grabber waits for the slot to empty
            return frame

    def _run(self) -> None:
        start = time.perf_counter()
        first_wall = None
        file_times = FrameTimes(self.fps)  # a file's frames are at its own timestamps (a camera's: the wall clock)
        try:
            while not self._stop.is_set():
                ok, bgr = self._cap.read()
                now = time.time()
                if not ok or bgr is None:
                    self._finish(*self._end_reason())
                    return
                if self.is_file:
                    t = file_times.next(self._cap.get(cv2.CAP_PROP_POS_MSEC))
                    delay = start + t - time.perf_counter()
                    if self.realtime and delay > 0:  # play the file at its own pace, as a camera delivers it
                        time.sleep(delay)
                        now = time.time()
                else:
                    first_wall = now if first_wall is None else first_wall
                    t = now - first_wall
                frame = Frame(self.read, t, now, bgr)
                with self._cond:
                    if self.realtime:
                        self.dropped += self._slot is not None
                    else:
                        self._cond.wait_for(lambda: self._slot is None or self._stop.is_set())
                    self._slot = frame
                    self.read += 1
                    self._cond.notify_all()
        except Exception as exc:  # a driver error ends the stream with a message, not a traceback
            self._finish(True, f"{describe_source(self.source)}: capture failed after {self.read} frames ({exc})")
        finally:
            self._cap.release()
            with self._cond:
                self.ended = True
                self._cond.notify_all()

    def _end_reason(self) -> tuple[bool, str]:
        where = describe_source(self.source)
        if not self.is_file:
            return True, f"{where}: stopped delivering frames after {self.read}"
        if self.read == 0:  # a header-only file: nothing to replay or score, so not a normal end
            return True, f"{where}: no frame could be read; expected a video with at least one frame (corrupt file?)"
        short = self.expected_frames - self.read
        if short > header_count_slack(self.expected_frames):
            return True, (f"{where}: video ended early, after {self.read} of {self.expected_frames} frames "
                          "(truncated or corrupt file?)")
        if short > 0:
            self.shortfall = short
            return False, (f"{where}: end of video after {self.read} frames ({short} fewer than the "
                           f"{self.expected_frames} its header states, as many containers overstate)")
        return False, f"{where}: end of video after {self.read} frames"

    def _finish(self, failed: bool, message: str) -> None:
        if not self.message:
            self.failed, self.message = failed, message
        self.ended = True
        self._stop.set()



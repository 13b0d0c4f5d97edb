"""Streaming inference: a camera (or file, or URL) in, class probabilities and game events out, per frame.

Three pieces, each usable alone:

- ``FrameGrabber``: a capture thread that keeps only the newest frame (OpenCV would otherwise queue stale
  camera frames), counts the ones it dropped, and says why the source ended.
- ``RingBuffer``: the last few seconds of (timestamp, embedding). The camera may run at 30 fps while the
  model was trained at 10 fps; each window is n embeddings sampled at the model's rate, ending at the
  newest frame, so every camera frame gets a prediction and no frame is embedded twice.
- ``StreamClassifier``: frame -> embed once -> ring buffer -> model window -> probabilities.

``stream_steps`` ties them to a ``TriggerPolicy``; ``replay`` runs that same loop over a video file as
fast as possible and scores the events against annotations.
"""

from __future__ import annotations

import math
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np

from .datasets import Segment
from .embed import EMBEDDING_DIM
from .errors import ActionrecError
from .datasets import read_annotations
from .events import EventScore, ProbRun, score_events, segments_for
from .trigger import Event, TriggerOptions, TriggerPolicy
from .video import FrameSpec, prepare

Source = int | str  # camera index, video file path, or a stream URL OpenCV opens
# Files whose header promises more frames than could be decoded are reported as cut short; a frame or
# two of slack covers containers whose frame count is an estimate.
FRAME_COUNT_SLACK = 2


def parse_source(text: str) -> Source:
    """``"0"`` -> camera 0; anything else is a file path or URL."""
    return int(text) if text.strip().isdigit() else text


def describe_source(source: Source) -> str:
    return f"camera {source}" if isinstance(source, int) else str(source)


def _is_url(source: Source) -> bool:
    return isinstance(source, str) and "://" in source


def open_capture(source: Source) -> cv2.VideoCapture:
    if isinstance(source, str) and not _is_url(source) and not Path(source).is_file():
        raise ActionrecError(f"{source}: no such video file (expected a camera index, a video file or a URL)")
    cap = cv2.VideoCapture(source)
    if not cap.isOpened():
        raise ActionrecError(f"{describe_source(source)}: OpenCV cannot open it as a video source")
    return cap


@dataclass(frozen=True)
class Frame:
    index: int  # frames read from the source before this one
    t: float  # seconds on the source's timeline: frame index / rate for files, time since start for live
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
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and math.isfinite(fps) and fps > 0 else 30.0
        self.expected_frames = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT)) if self.is_file else 0
        self.read = 0
        self.dropped = 0
        self.ended = False
        self.failed = False
        self.message = ""
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
        try:
            while not self._stop.is_set():
                if self.is_file and self.realtime:
                    # Play the file at its own rate, like a camera would deliver it.
                    delay = start + self.read / self.fps - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                ok, bgr = self._cap.read()
                now = time.time()
                if not ok or bgr is None:
                    self._finish(*self._end_reason())
                    return
                first_wall = now if first_wall is None else first_wall
                t = self.read / self.fps if self.is_file else now - first_wall
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
        if self.read + FRAME_COUNT_SLACK < self.expected_frames:
            return True, (f"{where}: video ended early, after {self.read} of {self.expected_frames} frames "
                          "(truncated or corrupt file?)")
        return False, f"{where}: end of video after {self.read} frames"

    def _finish(self, failed: bool, message: str) -> None:
        if not self.message:
            self.failed, self.message = failed, message
        self.ended = True
        self._stop.set()


def ring_capacity(window: int, model_fps: float, source_fps: float = 60.0) -> int:
    """Entries needed so the oldest of n model-rate ticks is still in the buffer at ``source_fps``."""
    if model_fps <= 0:
        return window
    return int(math.ceil((window - 1) / model_fps * source_fps)) + 2


class RingBuffer:
    """The last ``capacity`` (timestamp, embedding) pairs, and windows sampled from them at the model rate."""

    def __init__(self, window: int, model_fps: float, capacity: int, dim: int = EMBEDDING_DIM) -> None:
        if window < 1 or capacity < window:
            raise ActionrecError(f"ring buffer: need window >= 1 and capacity >= window, got {window}, {capacity}")
        self.window = window
        self.model_fps = model_fps  # 0: the model takes every frame
        self.capacity = capacity
        self._times = np.zeros(capacity, np.float64)
        self._embs = np.zeros((capacity, dim), np.float32)
        self._count = 0  # pushes so far; the newest entry is at (count - 1) % capacity

    def __len__(self) -> int:
        return min(self._count, self.capacity)

    def push(self, t: float, embedding: np.ndarray) -> None:
        i = self._count % self.capacity
        self._times[i] = t
        self._embs[i] = embedding
        self._count += 1

    def _ordered(self) -> np.ndarray:
        """Slot indices oldest first."""
        n = len(self)
        return (np.arange(self._count - n, self._count)) % self.capacity

    def window_indices(self) -> np.ndarray:
        """Slots of the current window, oldest first.

        For each of the n ticks ``newest - k / model_fps`` (k = n-1 .. 0) take the latest frame at or
        before it. Ticks before the first frame repeat the first frame, so the stream predicts from
        its very first frame.
        """
        if self._count == 0:
            raise ActionrecError("ring buffer is empty: push a frame before asking for a window")
        order = self._ordered()
        if self.model_fps <= 0:
            return order[np.maximum(np.arange(len(order) - self.window, len(order)), 0)]
        times = self._times[order]
        ticks = times[-1] - np.arange(self.window - 1, -1, -1) / self.model_fps
        # 1 ms of slack: timestamps computed as index / fps are not exact multiples of the tick.
        pos = np.searchsorted(times, ticks + 1e-3, side="right") - 1
        return order[np.maximum(pos, 0)]

    def window_array(self) -> np.ndarray:
        """(n, dim) float32 embeddings of the current window."""
        return self._embs[self.window_indices()]


@dataclass(frozen=True)
class StreamClassifier:
    """Frame in, probabilities out. ``embed`` and ``predict_window`` are the two model seams.

    ``embed``: one RGB frame (H, W, 3) uint8 -> (1024,) embedding. ``predict_window``: (n, 1024) ->
    (k,) probabilities. Swapping in a faster backend (TFLite) means passing other callables.
    """

    embed: Callable[[np.ndarray], np.ndarray]
    predict_window: Callable[[np.ndarray], np.ndarray]
    spec: FrameSpec
    buffer: RingBuffer

    @classmethod
    def for_session(cls, session, source_fps: float = 60.0) -> "StreamClassifier":
        """Wire a ``runtime.InferenceSession`` (LiteRT fast path, or the Keras reference)."""
        spec = session.frame_spec
        buffer = RingBuffer(session.window, spec.fps, ring_capacity(session.window, spec.fps, source_fps))
        return cls(session.embed_one, session.predict_window, spec, buffer)

    def step(self, bgr: np.ndarray, t: float) -> np.ndarray:
        """Embed this frame (once), add it to the buffer, and classify the window ending at it."""
        self.buffer.push(t, self.embed(prepare(bgr, self.spec)))
        return np.asarray(self.predict_window(self.buffer.window_array()), dtype=np.float64)


@dataclass(frozen=True)
class Step:
    frame: Frame
    probs: np.ndarray
    events: list[Event]
    seconds: float  # prepare + embed + model + trigger for this frame


@dataclass
class StreamStats:
    """Running figures of one stream: processed frames, their rate, and per-frame step times."""

    processed: int = 0
    first: float | None = None  # perf_counter at the first and the latest step
    last: float | None = None
    step_seconds: list[float] = field(default_factory=list)

    def add(self, step: Step) -> None:
        now = time.perf_counter()
        self.first = now if self.first is None else self.first
        self.last = now
        self.processed += 1
        self.step_seconds.append(step.seconds)

    def fps(self) -> float:
        """Frames processed per second between the first and the latest frame."""
        if self.processed < 2 or self.last == self.first:
            return 0.0
        return (self.processed - 1) / (self.last - self.first)

    def step_ms(self) -> tuple[float, float]:
        """p50 and p95 of the recent step times, in milliseconds."""
        if not self.step_seconds:
            return float("nan"), float("nan")
        recent = np.asarray(self.step_seconds[-2000:]) * 1000
        return float(np.percentile(recent, 50)), float(np.percentile(recent, 95))


def stream_steps(grabber: FrameGrabber, classifier: StreamClassifier, policy: TriggerPolicy,
                 stall_timeout: float = 5.0, stop: threading.Event | None = None) -> Iterator[Step]:
    """Classify frames as they come until the source ends, stalls, or ``stop`` is set.

    The grabber is started here if needed and always stopped on the way out; its ``message`` says why
    the stream ended.
    """
    grabber.start()
    try:
        while stop is None or not stop.is_set():
            frame = grabber.next_frame(stall_timeout)
            if frame is None:
                return
            began = time.perf_counter()
            probs = classifier.step(frame.bgr, frame.t)
            events = policy.update(probs, frame.t)
            yield Step(frame, probs, events, time.perf_counter() - began)
    finally:
        grabber.stop()


@dataclass
class ReplayResult:
    events: list[Event]
    times: np.ndarray  # (N,) every frame's time on the video's timeline
    probs: np.ndarray  # (N, k) the stream's probabilities for every frame
    seconds: float  # wall time the replay took
    message: str
    segments: tuple[Segment, ...] | None = None  # the video's annotation, if given
    score: EventScore | None = None

    @property
    def fps(self) -> float:
        return len(self.times) / self.seconds if self.seconds > 0 else 0.0

    def prob_run(self, fps: float) -> ProbRun:
        """The stored probabilities for re-scoring with other trigger options (needs annotations)."""
        if self.segments is None:
            raise ActionrecError("this replay had no annotations to score against")
        return ProbRun(self.times, self.probs, self.segments, len(self.times) / fps)


def replay(session, video: str | os.PathLike, annotations: str | os.PathLike | None = None,
           trigger: TriggerOptions | None = None, on_event: Callable[[Event], None] | None = None,
           late: float = 0.5) -> ReplayResult:
    """Run the live loop over a video file as fast as possible (no frame dropped); score it if annotated.

    ``session`` is a ``runtime.InferenceSession`` for the model.
    """
    video = Path(video)
    segments = tuple(segments_for(read_annotations(annotations), video)) if annotations is not None else None
    grabber = FrameGrabber(str(video), realtime=False)
    classifier = StreamClassifier.for_session(session, source_fps=max(60.0, grabber.fps))
    policy = TriggerPolicy(session.classes, trigger)
    events: list[Event] = []
    times, probs = [], []
    started = time.perf_counter()
    for step in stream_steps(grabber, classifier, policy):
        times.append(step.frame.t)
        probs.append(step.probs)
        for event in step.events:
            events.append(event)
            if on_event is not None:
                on_event(event)
    if grabber.failed:
        raise ActionrecError(grabber.message)
    result = ReplayResult(events, np.asarray(times), np.asarray(probs), time.perf_counter() - started,
                          grabber.message, segments)
    if segments is not None:
        result.score = score_events(events, segments, late=late, duration=len(times) / grabber.fps)
    return result

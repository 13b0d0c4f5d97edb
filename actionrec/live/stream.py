"""Streaming inference: a camera (or file, or URL) in, class probabilities and game events out, per frame.

Three pieces, each usable alone:

- ``FrameGrabber``: a capture thread that keeps only the newest frame (OpenCV would otherwise queue stale
  camera frames), counts the ones it dropped, and says why the source ended.
- ``RingBuffer``: the last few seconds of (timestamp, embedding). The camera may run at 30 fps while the
  model was trained at 10 fps; each window is n embeddings sampled at the model's rate, ending at the
  newest frame, so every camera frame gets a prediction and no frame is embedded twice. Features computed
  on the model's frames only (pose, diff: ``live/features.py``) keep only those frames (``ticks_only``):
  the window is then the last n of them, as training saw them. Sampling by time instead picked the frame
  before each tick, not the one the pose ran on, and at 25 fps or on a camera's jittery clock half the
  windows held a pose twice and missed one (the calisthenics clip at 25 fps: 10 attacks, 13 offline).
- ``StreamClassifier``: frame -> embed once -> ring buffer -> model window -> probabilities.

``stream_steps`` ties them to a ``TriggerPolicy``; ``replay`` runs that same loop over a video file as
fast as possible and scores the events against annotations. The policy sees no frame before the stream is
warm (``StreamClassifier.warm``): until the window holds n real frames, its oldest ticks repeat the first
frame, and every real clip tried fired a confident kick from such a window at t = 0.03 s.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np

from actionrec.data.video import FrameSpec, prepare
from actionrec.errors import ActionrecError
from actionrec.util.stats import p50_p95
from actionrec.events.trigger import Event, TriggerPolicy
from actionrec.features.mobilenet import EMBEDDING_DIM
from actionrec.live.camera import Frame, FrameGrabber
from actionrec.live.framing import FramingCheck

# Seconds of frames before the first event, even when the window fills sooner. A window of 8 at 10 fps is
# full at 0.7 s, and from it a model trained on synthetic sparring fired kick/back (p >= 0.99) at 0.76 s on
# the real UCF101 punch clip and at 0.80 s on the calisthenics clip: no player is in place and moving
# within the first second of a camera anyway.
WARMUP_SECONDS = 1.0


def ring_capacity(window: int, model_fps: float, source_fps: float = 60.0) -> int:
    """Entries needed so the oldest of n model-rate ticks is still in the buffer at ``source_fps``."""
    if model_fps <= 0:
        return window
    return int(math.ceil((window - 1) / model_fps * source_fps)) + 2


class RingBuffer:
    """The last ``capacity`` (timestamp, embedding) pairs, and windows sampled from them at the model rate."""

    def __init__(self, window: int, model_fps: float, capacity: int, dim: int = EMBEDDING_DIM,
                 ticks_only: bool = False) -> None:
        if window < 1 or capacity < window:
            raise ActionrecError(f"ring buffer: need window >= 1 and capacity >= window, got {window}, {capacity}")
        self.window = window
        self.model_fps = model_fps  # 0: the model takes every frame
        self.ticks_only = ticks_only  # keep only the pushes marked as the model's frames; windows are the last n
        self.capacity = capacity
        self._times = np.zeros(capacity, np.float64)
        self._embs = np.zeros((capacity, dim), np.float32)
        self._count = 0  # entries kept so far; the newest is at (count - 1) % capacity
        self._first_t = 0.0  # timestamps of the first and the newest push (since the last clear)
        self._newest_t = 0.0

    def __len__(self) -> int:
        return min(self._count, self.capacity)

    def clear(self) -> None:
        """Forget every frame: the next window starts from the next push (a new player, a new source)."""
        self._count = 0

    def push(self, t: float, embedding: np.ndarray, tick: bool = True) -> None:
        """Add the frame at ``t``; with ``ticks_only``, only when ``tick`` (it is one of the model's frames)."""
        if self._count == 0:
            self._first_t = t
        self._newest_t = t
        if self.ticks_only and not tick:
            return
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
        if self.model_fps <= 0 or self.ticks_only:
            return order[np.maximum(np.arange(len(order) - self.window, len(order)), 0)]
        times = self._times[order]
        ticks = times[-1] - np.arange(self.window - 1, -1, -1) / self.model_fps
        # 1 ms of slack: timestamps computed as index / fps are not exact multiples of the tick.
        pos = np.searchsorted(times, ticks + 1e-3, side="right") - 1
        return order[np.maximum(pos, 0)]

    def seconds(self) -> float:
        """Seconds from the first frame pushed to the newest (0 when empty)."""
        return float(self._newest_t - self._first_t) if self._count else 0.0

    def holds_full_window(self) -> bool:
        """True once every tick of the window falls on a frame of its own, none before the first frame."""
        if self.model_fps <= 0 or self.ticks_only:
            return self._count >= self.window
        return self._count > 0 and self.seconds() >= (self.window - 1) / self.model_fps - 1e-3

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
    # The model's features when they are not MobileNet's alone (``live/features.LiveFeatures``): then
    # ``features(bgr, t)`` gives the frame's vector and ``embed`` is not called.
    features: object | None = None
    framing: FramingCheck | None = None  # with a pose: says when nobody, or no leg, is in the picture
    # The latest window's probabilities and how many windows were classified. In a ring of ticks only (a
    # model with ``features``), a frame between the model's ticks leaves the window as it was, so its
    # probabilities are the last ones: at 30 fps the model runs on 1 frame in 3, not on all of them.
    held: dict = field(default_factory=lambda: {"probs": None, "windows": 0}, repr=False, compare=False)

    @classmethod
    def for_session(cls, session, source_fps: float = 60.0) -> "StreamClassifier":
        """Wire a ``runtime.InferenceSession`` (LiteRT fast path, or the Keras reference)."""
        spec = session.frame_spec
        dim = getattr(session, "feature_dim", EMBEDDING_DIM)
        features = None
        feats = getattr(session, "features", None)
        if feats is not None and feats.kind != "mobilenet":
            from actionrec.live.features import LiveFeatures

            features = LiveFeatures(feats, spec, session.embed_one if feats.runs_mobilenet else None,
                                    session.pose_estimator() if feats.uses_pose else None)
        buffer = RingBuffer(session.window, spec.fps, ring_capacity(session.window, spec.fps, source_fps), dim,
                            ticks_only=features is not None)
        framing = FramingCheck() if features is not None and features.features.uses_pose else None
        return cls(session.embed_one, session.predict_window, spec, buffer, features, framing)

    def warm(self) -> bool:
        """True once the window is real (``RingBuffer.holds_full_window``) and spans ``WARMUP_SECONDS``."""
        return self.buffer.holds_full_window() and self.buffer.seconds() >= WARMUP_SECONDS - 1e-3

    def step(self, bgr: np.ndarray, t: float) -> np.ndarray:
        """Embed this frame (once), add it to the buffer, and classify the window ending at it."""
        if self.features is not None:
            vector, tick = self.features(bgr, t), self.features.ticked
        else:
            vector, tick = self.embed(prepare(bgr, self.spec)), True
        self.buffer.push(t, vector, tick)
        if tick or not self.buffer.ticks_only or self.held["probs"] is None:
            self.held["probs"] = np.asarray(self.predict_window(self.buffer.window_array()), dtype=np.float64)
            self.held["windows"] += 1
        return self.held["probs"].copy()

    def framing_warning(self, t: float) -> str | None:
        """A framing problem that this frame's pose completes (``live/framing.py``), or None."""
        return self.framing.observe(self.features, t) if self.framing is not None else None

    def clear(self) -> None:
        """Start over, as TFLite's video classifier does: no frame before this call reaches a later window."""
        self.buffer.clear()
        self.held["probs"] = None
        if self.features is not None:
            self.features.clear()  # a new track: the next frame runs the pose detector, its difference is black
        if self.framing is not None:
            self.framing.clear()


@dataclass(frozen=True)
class Step:
    frame: Frame
    probs: np.ndarray
    events: list[Event]
    seconds: float  # prepare + embed + model + trigger for this frame
    warning: str | None = None  # a framing problem said at this frame (pose models)


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
        return p50_p95(self.step_seconds[-2000:], 1000)


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
            events = policy.update(probs, frame.t) if classifier.warm() else []
            yield Step(frame, probs, events, time.perf_counter() - began, classifier.framing_warning(frame.t))
    finally:
        grabber.stop()



"""``actionrec replay``: the live loop over a video file as fast as possible, its events scored against annotations."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from actionrec.data.clock import timeline_duration
from actionrec.data.datasets import Segment, read_annotations
from actionrec.errors import ActionrecError
from actionrec.events.scoring import EventScore, ProbRun, score_events, segments_for
from actionrec.events.trigger import Event, TriggerOptions, TriggerPolicy
from actionrec.live.camera import FrameGrabber
from actionrec.live.stream import StreamClassifier, stream_steps


@dataclass
class ReplayResult:
    events: list[Event]
    times: np.ndarray  # (N,) every frame's time on the video's timeline
    probs: np.ndarray  # (N, k) the stream's probabilities for every frame
    seconds: float  # wall time the replay took
    message: str
    segments: tuple[Segment, ...] | None = None  # the video's annotation, if given
    score: EventScore | None = None
    shortfall: int = 0  # frames fewer than the video's header states (many containers overstate it)
    warnings: list[tuple[float, str]] = field(default_factory=list)  # (t, text): framing problems (pose models)
    duration: float = 0.0  # seconds of video, by its timestamps (``timeline_duration``)
    model_fps: float = 0.0  # the model's rate, by which the trigger counted frames

    @property
    def fps(self) -> float:
        return len(self.times) / self.seconds if self.seconds > 0 else 0.0

    def prob_run(self) -> ProbRun:
        """The stored probabilities for re-scoring with other trigger options (needs annotations)."""
        if self.segments is None:
            raise ActionrecError("this replay had no annotations to score against")
        return ProbRun(self.times, self.probs, self.segments, self.duration, self.model_fps)


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
    policy = TriggerPolicy(session.classes, trigger, session.frame_spec.fps)
    events: list[Event] = []
    times, probs, warnings = [], [], []
    started = time.perf_counter()
    for step in stream_steps(grabber, classifier, policy):
        times.append(step.frame.t)
        probs.append(step.probs)
        if step.warning:
            warnings.append((step.frame.t, step.warning))
        for event in step.events:
            events.append(event)
            if on_event is not None:
                on_event(event)
    if grabber.failed:
        raise ActionrecError(grabber.message)
    result = ReplayResult(events, np.asarray(times), np.asarray(probs), time.perf_counter() - started,
                          grabber.message, segments, shortfall=grabber.shortfall, warnings=warnings,
                          duration=timeline_duration(times, 1.0 / grabber.fps), model_fps=session.frame_spec.fps)
    if segments is not None:
        result.score = score_events(events, segments, late=late, duration=result.duration)
    return result

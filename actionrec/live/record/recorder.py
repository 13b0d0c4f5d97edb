"""Record your own labelled clips: a served page cues each take and the camera's frames become a dataset.

The page (``web/record.html``) shows the camera picture and cues each take ("ROUNDHOUSE KICK in 3, 2, 1,
GO"), in a seeded shuffled order with idle takes between the moves. Each take becomes
``DATASET/<label>/<person>_<NNN>.mp4`` plus a ``groups.csv`` row naming the person; with ``continuous``
the session becomes one video ``DATASET/recordings/<person>_<NNN>.mp4`` with an ``annotations.csv`` row
per take instead (frames between takes, the countdowns, fall to the dataset's background label).

Takes are timed on the source's clock (frame timestamps), so a video file read as fast as possible gives
the same takes as one played in real time: that is how this is tested, with takes scripted to match an
annotated synthetic sparring video. A frame the grabber dropped (a slow consumer) still takes its place on
that clock, holding the previous picture: takes are cut where their times say, and a continuous video and
its annotation times stay true to the source.

The page's Redo and Drop buttons act on the *latest* take: the one being recorded, or else the one just
finished, until the next take starts recording (the last take stays open for one countdown). Nothing half-written ever shows up in the dataset: a take
streams into a hidden temp file renamed when the take ends (deleted if it is redone, dropped or cut short),
and ``groups.csv`` gains a row only after its clip exists and loses it before its clip is deleted. So
whenever the recording stops, every finished take is intact and ``inspect`` finds the dataset valid.
"""

from __future__ import annotations

import math
import queue
import time
from collections import Counter, defaultdict, deque
from dataclasses import dataclass
from typing import Callable, Sequence

import cv2
import numpy as np

from actionrec.data.datasets import load_dataset
from actionrec.errors import ActionrecError
from actionrec.live.camera import Frame, FrameGrabber, describe_source
from actionrec.live.record.plan import (
    EPS,
    RECORDINGS,
    RecordedTake,
    RecordOptions,
    RecordSummary,
    TakePlan,
    check_label,
    cue_text,
    plan_takes,
)
from actionrec.live.record.sinks import _ClipSink, _ContinuousSink
from actionrec.live.server import Bridge, ServedLoop, preview_jpeg
from actionrec.live.site import Site
from actionrec.util.outputs import DATASET, claim_output


@dataclass
class _Take:
    """The take being counted down or recorded, on the source's clock."""

    id: int
    plan: TakePlan
    start: float  # countdown start
    recording: bool = False

    @property
    def go(self) -> float:
        return self.start + self.plan.countdown

    @property
    def end(self) -> float:
        return self.go + self.plan.seconds


class Recorder(ServedLoop):
    """Source -> cued takes -> dataset files, with the record page served for cues and Redo/Drop.

    ``takes`` replaces the shuffled plan (a scripted cue schedule). ``start()`` serves the page and
    starts recording (or waits for the first page); ``wait()`` until every take is done or the source
    ended; ``stop()`` ends it early, keeping every finished take; then ``summary()``.
    """

    def __init__(self, options: RecordOptions, takes: Sequence[TakePlan] | None = None,
                 log: Callable[[str], None] = print) -> None:
        self._init_loop("actionrec-record")
        self.options = options
        self.log = log
        plan = list(takes) if takes is not None else plan_takes(options)
        if not plan:
            raise ActionrecError("nothing to record: the take plan is empty")
        for take in plan:
            check_label(take.label)
        self.planned = len(plan)
        self._queue: deque[TakePlan] = deque(plan)
        site = Site(page="record.html")
        root = claim_output(options.dataset, DATASET, option="DATASET")  # before the camera opens
        # A folder the takes go to that is a link elsewhere: refused before the first take, not written through.
        for folder in [RECORDINGS] if options.continuous else sorted({take.label for take in plan}):
            if not (root / folder).resolve().is_relative_to(root.resolve()):
                raise ActionrecError(f"{root / folder}: leads to {(root / folder).resolve()}, outside the dataset "
                                     f"{root}; expected folders inside it (nothing was recorded)")
        self.grabber = FrameGrabber(options.source, realtime=options.realtime)  # a bad source fails first
        sink_type = _ContinuousSink if options.continuous else _ClipSink
        try:
            root.mkdir(parents=True, exist_ok=True)
            self._sink = sink_type(root, options.person, self.grabber.fps)  # reads groups.csv: a bad one fails here
        except (ActionrecError, OSError):
            self.grabber.stop()
            raise
        self.kept: list[RecordedTake] = []
        self.dropped = 0
        self.redone = 0
        self.error: BaseException | None = None
        self._current: _Take | None = None
        self._latest: _Take | None = None  # the last finished take, while Redo/Drop may still undo it
        self._next_start: float | None = None  # where the next countdown starts on the source clock
        self._next_id = 1
        self._prev: Frame | None = None  # the last frame handed over, with ``bgr`` fitted for writing
        self._finished = False  # every take done and the last one's review over
        self._stopped = False
        self._state: dict = {"type": "state", "phase": "waiting"}
        self._inbox: queue.SimpleQueue[dict] = queue.SimpleQueue()
        hello = {"mode": "record", "person": options.person, "dataset": str(root),
                 "continuous": options.continuous, "source": describe_source(options.source)}
        self.bridge = Bridge(site, options.host, options.port, hello=hello, on_connect=self._on_page,
                             on_message=self._inbox.put, allow_hosts=options.allow_hosts)

    # --- control, from any thread: start(), wait() and stop() come from ServedLoop; stop() discards a
    # take in progress and keeps every finished one ---

    stop_timeout = 30.0

    def state(self) -> dict:
        """The latest state sent to the page (phase, take, countdown, latest take, counts)."""
        return self._state

    def summary(self) -> RecordSummary:
        root = self.options.dataset
        ds = load_dataset(root, strict=False)
        counts: dict[str, Counter] = defaultdict(Counter)
        for clip in ds.clips:
            for label in [clip.label] if clip.label is not None else [s.label for s in clip.segments]:
                counts[label][clip.group] += 1
        complete = not self._queue and self._current is None  # every planned take recorded or dropped
        if self.error is not None:
            message = f"failed: {self.error}"
        elif complete:
            message = f"all {self.planned} takes done"
        elif self._stopped:
            message = "stopped"
        else:
            message = self.grabber.message or "stopped"
        return RecordSummary(root, self.options.person, tuple(self.kept), self.planned, self.dropped,
                             self.redone, complete, message, {k: dict(v) for k, v in counts.items()},
                             tuple(ds.problems))

    def _on_page(self) -> None:
        self._go.set()
        self.bridge.publish(self._state)  # a page that (re)connects sees where we are at once

    # --- the recording thread: the only one that touches takes and files ---

    def _run(self) -> None:
        try:
            self._go.wait()
            if not self._stop.is_set():
                self._record()
        except Exception as exc:  # a disk or codec error ends the recording with a message
            self.error = exc
        finally:
            self.grabber.stop()
            try:
                self._sink.close()  # discards a take still in progress
            except Exception as exc:
                self.error = self.error or exc
            summary = self.summary()
            self._publish_state(None, "done" if summary.complete else "stopped")
            self.bridge.publish({"type": "end", "message": summary.message, "failed": self.error is not None,
                                 "summary": summary.lines()})
            self._done.set()

    def _record(self) -> None:
        self.grabber.start()
        next_preview = time.perf_counter()
        while not self._finished:
            if self._stop.is_set():
                self._stopped = True
                return
            frame = self.grabber.next_frame(self.options.stall_timeout)
            if frame is None:
                self.log(self.grabber.message)
                return
            bgr = self._fit(frame.bgr)
            self._fill_dropped(frame)
            while not self._inbox.empty():
                self._command(self._inbox.get(), frame.t)
            self._advance(frame.t, bgr)
            self._prev = Frame(frame.index, frame.t, frame.captured_at, bgr)
            self._publish_state(frame.t)
            now = time.perf_counter()
            if self.bridge.clients and now >= next_preview:
                next_preview = now + 1.0 / self.options.preview_fps
                jpeg = preview_jpeg(frame.bgr, self.options.preview_width)
                if jpeg is not None:
                    self.bridge.publish_frame(jpeg)

    def _fill_dropped(self, frame: Frame) -> None:
        """Advance through the frames the grabber dropped before ``frame``, each at its own time.

        Each holds the previous picture: the dropped one's is gone, and holding the last one shows nothing
        before it happened, so a take never opens on its move early. Placed by time, a drop at a take's
        edge cannot move a frame across it (into a take a redo or drop then cuts out of the video). A file's
        frames are 1 / fps apart; a camera's are spread evenly between the two it delivered.
        """
        prev = self._prev
        if prev is None:
            return
        missing = frame.index - prev.index - 1
        for k in range(1, missing + 1):
            self._advance(prev.t + (frame.t - prev.t) * k / (missing + 1), prev.bgr)

    def _fit(self, bgr: np.ndarray) -> np.ndarray:
        h, w = bgr.shape[:2]
        if not self.options.max_width or w <= self.options.max_width:
            return bgr
        new_w = self.options.max_width - self.options.max_width % 2  # codecs like even sizes
        new_h = max(2, round(h * new_w / w / 2) * 2)
        return cv2.resize(bgr, (new_w, new_h), interpolation=cv2.INTER_AREA)

    def _advance(self, t: float, bgr: np.ndarray) -> None:
        """Move the cue schedule to time ``t`` and hand this frame to the take (or the gap) it falls in."""
        while True:
            take = self._current
            if take is None:
                if not self._queue:
                    # Every take is done; the last one stays open to Redo/Drop for one more countdown.
                    if self._latest is None or t + EPS >= self._next_start + self.options.countdown:
                        self._finished = True
                    else:
                        self._sink.gap(bgr)
                    return
                start = t if self._next_start is None else self._next_start
                take = self._current = _Take(self._next_id, self._queue.popleft(), start)
                self._next_id += 1
                self._next_start = None
            if not take.recording:
                if t + EPS < take.go:
                    self._sink.gap(bgr)
                    return
                take.recording = True
                self._latest = None  # once the next take runs, the previous one is final
                self._sink.begin(take.id, take.plan.label)
            if t + EPS < take.end:
                self._sink.add(bgr)
                return
            self._finish(take)

    def _finish(self, take: _Take) -> None:
        recorded = self._sink.finish()
        self._current = None
        self._next_start = take.end  # the schedule, not this frame: no drift from take to take
        if recorded is None:
            self._notice(f"take {take.id} ({take.plan.label}) got no frame: {take.plan.seconds} s is too short")
            return
        self.kept.append(recorded)
        self._latest = take
        where = f" at {recorded.start:.2f} s" if self.options.continuous else ""
        self.log(f"take {take.id}: {take.plan.label} -> {recorded.path}{where} "
                 f"({recorded.frames} frames, {recorded.seconds:.2f} s)")

    def _target(self) -> _Take | None:
        """The take Redo and Drop act on: the one recording, else the one just finished, else the next."""
        if self._current is not None and self._current.recording:
            return self._current
        return self._latest or self._current

    def _command(self, msg: dict, t: float) -> None:
        kind, take_id = msg.get("type"), msg.get("take")
        if kind not in ("redo", "drop"):
            return
        target = self._target()
        if target is None or target.id != take_id:
            self._notice(f"take {take_id} can no longer be changed (only the latest take can)")
            return
        if target is self._current:
            if target.recording:
                self._sink.abort()
            self._current, self._next_start = None, t
        else:
            recorded = next(k for k in self.kept if k.id == target.id)
            self._sink.retract(recorded)
            self.kept.remove(recorded)
            self._latest = None
            if kind == "redo":
                if self._current is not None:  # the redo goes first; this take comes after it
                    self._queue.appendleft(self._current.plan)
                self._current, self._next_start = None, t
        if kind == "redo":
            self._queue.appendleft(target.plan)
            self.redone += 1
            self.planned += 1
        else:
            self.dropped += 1
        self.log(f"take {target.id}: {target.plan.label} {'redone' if kind == 'redo' else 'dropped'}")

    def _notice(self, text: str) -> None:
        self.log(text)
        self.bridge.publish({"type": "notice", "text": text})

    def _publish_state(self, t: float | None, phase: str | None = None) -> None:
        """Send the page what it shows, when it changed (phases and whole countdown seconds)."""
        take, target = self._current, self._target()
        if phase is None:
            if take is not None:
                phase = "recording" if take.recording else "countdown"
            else:
                phase = "done" if self._finished else "review"  # the last take may still be redone
        state = {
            "type": "state",
            "phase": phase,
            "take": None,
            "count": None,
            "target": None,
            "kept": len(self.kept),
            "of": len(self.kept) + len(self._queue) + (take is not None),
            "dropped": self.dropped,
            "redone": self.redone,
            "counts": dict(Counter(k.label for k in self.kept)),
        }
        if take is not None and phase in ("countdown", "recording"):
            state["take"] = {"id": take.id, "label": take.plan.label, "cue": cue_text(take.plan.label),
                             "seconds": take.plan.seconds}
            if phase == "countdown" and t is not None:
                state["count"] = max(1, math.ceil(take.go - t - EPS))
        if target is not None and phase in ("countdown", "recording", "review"):
            recorded = next((k.path for k in self.kept if k.id == target.id), None)
            state["target"] = {"id": target.id, "label": target.plan.label, "cue": cue_text(target.plan.label),
                               "path": recorded, "recording": target.recording}
        if state != self._state:
            self._state = state
            self.bridge.publish(state)


def run_record(options: RecordOptions, log: Callable[[str], None] = print) -> RecordSummary:
    """The ``record`` command: serve the page, cue and record every take until done, Ctrl-C or the
    source ends, then print the summary (clips per class and person)."""
    recorder = Recorder(options, log=log)
    url = recorder.start()
    waiting = "; recording starts when the page connects" if options.wait_for_page else ""
    log(f"serving {url}  (source: {describe_source(options.source)}; open the page in a browser{waiting})")
    try:
        while not recorder.wait(0.5):
            pass
        time.sleep(0.5)  # let the page receive the summary before the server closes
    except KeyboardInterrupt:
        log("stopping: finished takes are kept")
    finally:
        recorder.stop()
    if isinstance(recorder.error, ActionrecError):
        raise recorder.error
    if recorder.error is not None:
        raise ActionrecError(f"recording failed: {recorder.error}") from recorder.error
    summary = recorder.summary()
    for line in summary.lines():
        log(line)
    return summary

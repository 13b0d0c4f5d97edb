"""Record your own labelled clips: a served page cues each take and the camera's frames become a dataset.

The page (``web/record.html``) shows the camera picture and cues each take ("ROUNDHOUSE KICK in 3, 2, 1,
GO"), in a seeded shuffled order with idle takes between the moves. Each take becomes
``DATASET/<label>/<person>_<NNN>.mp4`` plus a ``groups.csv`` row naming the person; with ``continuous``
the session becomes one video ``DATASET/recordings/<person>_<NNN>.mp4`` with an ``annotations.csv`` row
per take instead (frames between takes, the countdowns, fall to the dataset's background label).

Takes are timed on the source's clock (frame timestamps), so a video file read as fast as possible gives
the same takes as one played in real time: that is how this is tested, with takes scripted to match an
annotated synthetic sparring video.

The page's Redo and Drop buttons act on the *latest* take: the one being recorded, or else the one just
finished, until the next take starts recording (the last take stays open for one countdown). Nothing half-written ever shows up in the dataset: a take
streams into a hidden temp file renamed when the take ends (deleted if it is redone, dropped or cut short),
and ``groups.csv`` gains a row only after its clip exists and loses it before its clip is deleted. So
whenever the recording stops, every finished take is intact and ``inspect`` finds the dataset valid.
"""

from __future__ import annotations

import contextlib
import csv
import math
import queue
import re
import time
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np

from .atomic import atomic_path, write_text
from .bridge import Bridge, ServedLoop, Site, preview_jpeg
from .datasets import ANNOTATIONS, GROUPS, format_csv, load_dataset
from .errors import ActionrecError
from .stream import FrameGrabber, Source, describe_source

IDLE = "other/idle"
RECORDINGS = "recordings"  # folder of the continuous-mode videos (listed in annotations.csv)
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")  # a person, or one part of a label: safe in file names
EPS = 1e-6  # seconds: frame times computed as index / fps are not exact
PENDING_JPEG_QUALITY = 95


@dataclass(frozen=True)
class RecordOptions:
    dataset: Path
    person: str
    moves: tuple[str, ...]  # labels, e.g. ("punch/jab", "kick/roundhouse"), or "punch/jab,kick/roundhouse"
    reps: int = 5  # takes of each move
    source: Source = 0
    idle: bool = True  # an idle take (other/idle) between consecutive moves
    countdown: float = 3.0  # seconds of "in 3, 2, 1" before each take
    take_seconds: float = 3.0  # length of each take: enough for a 16-frame window at 10 fps
    seed: int = 0  # the shuffled order of the takes
    continuous: bool = False  # one video + annotations.csv rows instead of a clip per take
    host: str = "127.0.0.1"
    port: int = 8766
    wait_for_page: bool = True  # start reading the source once a page is connected (it shows the cues)
    realtime: bool = True  # False (video files only): read as fast as possible, for scripted takes
    max_width: int = 640  # shrink wider camera frames before writing (0 keeps their size)
    preview_fps: float = 10.0  # camera pictures sent to the page per second
    preview_width: int = 320
    stall_timeout: float = 5.0  # a source silent this long has failed

    def __post_init__(self) -> None:
        object.__setattr__(self, "dataset", Path(self.dataset))
        object.__setattr__(self, "moves", parse_moves(self.moves))
        if not NAME.match(self.person):
            raise ActionrecError(f"person {self.person!r}: expected letters, digits, '_' or '-' (it names files)")
        if self.reps < 1:
            raise ActionrecError(f"reps {self.reps}: expected at least 1 take per move")
        if not (self.countdown >= 0 and self.take_seconds > 0 and math.isfinite(self.countdown + self.take_seconds)):
            raise ActionrecError(f"countdown {self.countdown} s, take {self.take_seconds} s: expected countdown >= 0 "
                                 "and take > 0")
        if self.max_width and self.max_width < 32:
            raise ActionrecError(f"max width {self.max_width}: expected 0 (keep) or at least 32 pixels")


def parse_moves(moves: str | Sequence[str]) -> tuple[str, ...]:
    """``"punch/jab, kick/roundhouse"`` (or a list) -> ``("punch/jab", "kick/roundhouse")``, checked."""
    text = moves if isinstance(moves, str) else ",".join(moves)
    labels = tuple(m.strip() for m in text.split(",") if m.strip())
    if not labels:
        raise ActionrecError(f"moves {text!r}: expected comma-separated labels, e.g. punch/jab,kick/roundhouse")
    for label in labels:
        check_label(label)
    repeated = sorted(m for m, n in Counter(labels).items() if n > 1)
    if repeated:
        raise ActionrecError(f"moves {text!r}: {', '.join(repeated)} listed twice; use --reps for more takes")
    return labels


def check_label(label: str) -> None:
    parts = label.split("/")
    if len(parts) > 2 or not all(NAME.match(p) for p in parts):
        raise ActionrecError(f"label {label!r}: expected CLASS or CLASS/TYPE (e.g. kick/roundhouse) made of "
                             "letters, digits, '_' or '-'")


def cue_text(label: str) -> str:
    """What the page shouts: ``kick/roundhouse`` -> ``ROUNDHOUSE KICK``, ``other/idle`` -> ``IDLE``."""
    kind, _, fine = label.partition("/")
    words = [fine] if kind == "other" and fine else [fine, kind] if fine else [kind]
    return " ".join(words).replace("_", " ").replace("-", " ").upper()


@dataclass(frozen=True)
class TakePlan:
    """One cue: count down ``countdown`` seconds, then record ``label`` for ``seconds``."""

    label: str
    countdown: float
    seconds: float


def plan_takes(options: RecordOptions) -> list[TakePlan]:
    """``reps`` takes of every move in a seeded shuffled order, an idle take between consecutive moves."""
    rng = np.random.default_rng(options.seed)
    labels = [m for m in options.moves for _ in range(options.reps)]
    order = [labels[i] for i in rng.permutation(len(labels))]
    plan: list[TakePlan] = []
    for i, label in enumerate(order):
        if options.idle and i > 0:
            plan.append(TakePlan(IDLE, options.countdown, options.take_seconds))
        plan.append(TakePlan(label, options.countdown, options.take_seconds))
    return plan


@dataclass(frozen=True)
class RecordedTake:
    id: int  # the take's number on the page (a redo gets a new one)
    label: str
    path: str  # the clip (or the continuous video), relative to the dataset, forward slashes
    frames: int
    fps: float
    start: float = 0.0  # where the take begins in the video: 0 for clips, seconds in continuous mode

    @property
    def seconds(self) -> float:
        return self.frames / self.fps

    @property
    def end(self) -> float:
        return self.start + self.seconds


@dataclass(frozen=True)
class RecordSummary:
    dataset: Path
    person: str
    takes: tuple[RecordedTake, ...]  # kept, in recording order
    planned: int  # takes in the plan (redos add to it)
    dropped: int
    redone: int
    complete: bool  # every planned take was recorded; False: the source ended or the recording was stopped
    message: str  # why the recording ended
    counts: dict[str, dict[str, int]]  # the whole dataset afterwards: label -> person (group) -> clips
    # (an annotated video counts once per segment)
    problems: tuple[str, ...] = ()  # structural problems the dataset loader found (expected: none)

    def lines(self) -> list[str]:
        """The summary as printed: this session, then clips per class and person in the whole dataset."""
        out = [f"{self.person}: kept {len(self.takes)} of {self.planned} takes ({self.redone} redone, "
               f"{self.dropped} dropped) in {self.dataset}; {self.message}"]
        people = sorted({p for row in self.counts.values() for p in row})
        width = max([len(label) for label in self.counts] + [5]) + 2
        cols = [max(len(p), 5) + 2 for p in people]
        out.append("clips".ljust(width) + "".join(p.rjust(c) for p, c in zip(people, cols)) + "total".rjust(7))
        for label, row in sorted(self.counts.items()):
            out.append(label.ljust(width) + "".join(str(row.get(p, 0)).rjust(c) for p, c in zip(people, cols))
                       + str(sum(row.values())).rjust(7))
        out += [f"problem: {p}" for p in self.problems]
        return out


class _CsvRows:
    """A small CSV (``groups.csv``, ``annotations.csv``) held in memory and rewritten atomically on every
    change: rows already there are kept, and a killed writer leaves the old file or the new one."""

    def __init__(self, path: Path, header: list[str]) -> None:
        self.path = path
        self.header = header
        self.rows: list[list[str]] = []
        if path.exists():
            try:
                with open(path, newline="", encoding="utf-8") as fh:
                    found = list(csv.reader(fh))
            except (OSError, UnicodeDecodeError, csv.Error) as exc:
                raise ActionrecError(f"{path}: cannot read CSV ({exc})") from None
            if found and [h.strip() for h in found[0][: len(header)]] != header:
                raise ActionrecError(f"{path}: header is {','.join(found[0])}; expected {','.join(header)}")
            self.header = found[0] if found else header
            self.rows = [row for row in found[1:] if row]

    def add(self, rows: list[list[str]]) -> None:
        self.rows += rows
        self._save()

    def remove(self, first_column: str) -> None:
        self.rows = [row for row in self.rows if row[0].strip() != first_column]
        self._save()

    def _save(self) -> None:
        write_text(self.path, format_csv(self.header, self.rows))


class _VideoFile:
    """A video of the dataset at ``root``, written frame by frame, that appears at ``path`` only once
    committed.

    ``atomic_path`` does the temp-file-and-rename; an ``ExitStack`` lets it span many calls: closing the
    stack commits, exiting it with an exception deletes the temp file.
    """

    def __init__(self, root: Path, path: Path, fps: float) -> None:
        self.root = root
        self.path = path
        self.fps = fps
        self.frames = 0
        self._stack = contextlib.ExitStack()
        self._tmp = self._stack.enter_context(atomic_path(path))
        self._writer: cv2.VideoWriter | None = None

    def write(self, bgr: np.ndarray, times: int = 1) -> None:
        if self._writer is None:
            self._writer = cv2.VideoWriter(str(self._tmp), cv2.VideoWriter_fourcc(*"mp4v"), self.fps,
                                           (bgr.shape[1], bgr.shape[0]))
            if not self._writer.isOpened():
                raise ActionrecError(f"{self.path}: OpenCV cannot write an mp4v video here")
        for _ in range(times):
            self._writer.write(bgr)
        self.frames += times

    def commit(self) -> None:
        self._release()
        self._stack.close()

    def discard(self) -> None:
        self._release()
        self._stack.__exit__(_Discarded, _Discarded(), None)
        _remove_empty_folders(self.path.parent, self.root)

    def _release(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None


class _Discarded(Exception):
    """Thrown into ``atomic_path`` to make it delete the temp file instead of renaming it."""


def _next_number(folder: Path, person: str) -> int:
    """1 + the highest NNN of ``person_NNN.mp4`` in ``folder``: a new session never overwrites a clip."""
    pattern = re.compile(rf"^{re.escape(person)}_(\d+)\.mp4$")
    numbers = [int(m[1]) for p in folder.glob("*.mp4") if (m := pattern.match(p.name))] if folder.is_dir() else []
    return max(numbers, default=0) + 1


def _remove_empty_folders(folder: Path, root: Path) -> None:
    """Remove ``folder`` and its parents below ``root`` while empty: an empty label folder is a problem
    for ``inspect``, and one is left when a label's only take is dropped or cut short."""
    while folder != root and folder.is_relative_to(root):
        try:
            folder.rmdir()
        except OSError:  # not empty (or gone): stop here
            return
        folder = folder.parent


class _ClipSink:
    """Clip mode: each take streams into its own video, renamed into ``DATASET/<label>/`` when it ends."""

    def __init__(self, root: Path, person: str, fps: float) -> None:
        self.root, self.person, self.fps = root, person, fps
        self.groups = _CsvRows(root / GROUPS, ["clip", "group"])
        self._numbers: dict[str, int] = {}  # label -> next clip number
        self._file: _VideoFile | None = None  # the take being recorded...
        self._take: tuple[int, str] = (0, "")  # ...its id and label

    def gap(self, bgr: np.ndarray, times: int) -> None:
        pass  # countdown frames are not kept

    def begin(self, take_id: int, label: str) -> None:
        folder = self.root / label
        number = self._numbers.get(label) or _next_number(folder, self.person)
        self._numbers[label] = number + 1
        self._file = _VideoFile(self.root, folder / f"{self.person}_{number:03d}.mp4", self.fps)
        self._take = (take_id, label)

    def add(self, bgr: np.ndarray, times: int) -> None:
        self._file.write(bgr, times)

    def finish(self) -> RecordedTake | None:
        file, self._file = self._file, None
        if file.frames == 0:
            file.discard()
            return None
        file.commit()  # the clip first, then its row: every row names an existing clip
        rel = file.path.relative_to(self.root).as_posix()
        self.groups.add([[rel, self.person]])
        return RecordedTake(self._take[0], self._take[1], rel, file.frames, self.fps)

    def abort(self) -> None:
        if self._file is not None:
            self._file.discard()
            self._file = None

    def retract(self, take: RecordedTake) -> None:
        self.groups.remove(take.path)  # the row first, then the clip
        (self.root / take.path).unlink(missing_ok=True)
        _remove_empty_folders((self.root / take.path).parent, self.root)

    def close(self) -> None:
        self.abort()


@dataclass
class _Span:
    """Frames held back in continuous mode: a take's (``take`` set) or the gap before one."""

    take: RecordedTake | None = None
    label: str | None = None
    jpegs: list[bytes] = field(default_factory=list)
    finished: bool = False


class _ContinuousSink:
    """Continuous mode: one video of the whole session; each kept take becomes an ``annotations.csv`` row.

    Frames are held back (as JPEG, to bound memory) until the next take starts recording: until then the
    page may still redo or drop the latest take, which cuts its frames out of the video. The video, its
    annotation rows and its ``groups.csv`` row are written when the recording ends, however it ends (a
    killed process loses the session: clip mode is the safer choice for long recordings).
    """

    def __init__(self, root: Path, person: str, fps: float) -> None:
        self.root, self.person, self.fps = root, person, fps
        self.groups = _CsvRows(root / GROUPS, ["clip", "group"])
        self.annotations = _CsvRows(root / ANNOTATIONS, ["video", "start", "end", "label"])
        folder = root / RECORDINGS
        self.rel = f"{RECORDINGS}/{person}_{_next_number(folder, person):03d}.mp4"
        self._file: _VideoFile | None = None
        self._pending: list[_Span] = []
        self.kept: list[RecordedTake] = []

    def gap(self, bgr: np.ndarray, times: int) -> None:
        if not self._pending or self._pending[-1].take is not None:  # the frames after a take start a new gap
            self._pending.append(_Span())
        self._hold(bgr, times)

    def begin(self, take_id: int, label: str) -> None:
        self._flush(len(self._pending))
        start = (self._file.frames if self._file else 0) / self.fps
        self._pending = [_Span(RecordedTake(take_id, label, self.rel, 0, self.fps, start), label)]

    def add(self, bgr: np.ndarray, times: int) -> None:
        self._hold(bgr, times)

    def finish(self) -> RecordedTake | None:
        span = self._pending[-1]
        if not span.jpegs:
            self._pending.pop()
            return None
        t = span.take
        span.take = RecordedTake(t.id, t.label, t.path, len(span.jpegs), t.fps, t.start)
        span.finished = True
        self.kept.append(span.take)
        return span.take

    def abort(self) -> None:
        if self._pending and self._pending[-1].take is not None and not self._pending[-1].finished:
            self._pending.pop()

    def retract(self, take: RecordedTake) -> None:
        self._pending = [s for s in self._pending if s.take is None or s.take.id != take.id]
        self.kept = [k for k in self.kept if k.id != take.id]

    def close(self) -> None:
        """Write the video (held-back frames up to its last kept take: a take cut short is left out), then
        its rows; nothing at all if no take was kept."""
        self.abort()
        last = max((i for i, s in enumerate(self._pending) if s.finished), default=-1)
        self._flush(last + 1)
        if not self.kept:
            if self._file is not None:
                self._file.discard()
            return
        self._file.commit()  # the video first, then the rows that name it
        self.annotations.add([[self.rel, f"{k.start:.3f}", f"{k.end:.3f}", k.label] for k in self.kept])
        self.groups.add([[self.rel, self.person]])

    def _hold(self, bgr: np.ndarray, times: int) -> None:
        ok, jpeg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, PENDING_JPEG_QUALITY])
        if not ok:
            raise ActionrecError(f"cannot JPEG-encode a {bgr.shape[1]}x{bgr.shape[0]} camera frame")
        self._pending[-1].jpegs += [jpeg.tobytes()] * times

    def _flush(self, count: int) -> None:
        """Write the first ``count`` held-back spans to the video."""
        for span in self._pending[:count]:
            for jpeg in span.jpegs:
                if self._file is None:
                    self._file = _VideoFile(self.root, self.root / self.rel, self.fps)
                self._file.write(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR))
        self._pending = self._pending[count:]


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
        root = options.dataset
        if root.exists() and not root.is_dir():
            raise ActionrecError(f"{root}: exists and is not a folder; expected a dataset folder")
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
        self._prev_index: int | None = None
        self._finished = False  # every take done and the last one's review over
        self._stopped = False
        self._state: dict = {"type": "state", "phase": "waiting"}
        self._inbox: queue.SimpleQueue[dict] = queue.SimpleQueue()
        hello = {"mode": "record", "person": options.person, "dataset": str(root),
                 "continuous": options.continuous, "source": describe_source(options.source)}
        self.bridge = Bridge(site, options.host, options.port, hello=hello, on_connect=self._on_page,
                             on_message=self._inbox.put)

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
            # Frames the grabber dropped (a slow disk) are filled with this one, so takes keep their length.
            times = 1 if self._prev_index is None else max(1, frame.index - self._prev_index)
            self._prev_index = frame.index
            bgr = self._fit(frame.bgr)
            while not self._inbox.empty():
                self._command(self._inbox.get(), frame.t)
            self._advance(frame.t, bgr, times)
            self._publish_state(frame.t)
            now = time.perf_counter()
            if self.bridge.clients and now >= next_preview:
                next_preview = now + 1.0 / self.options.preview_fps
                jpeg = preview_jpeg(frame.bgr, self.options.preview_width)
                if jpeg is not None:
                    self.bridge.publish_frame(jpeg)

    def _fit(self, bgr: np.ndarray) -> np.ndarray:
        h, w = bgr.shape[:2]
        if not self.options.max_width or w <= self.options.max_width:
            return bgr
        new_w = self.options.max_width - self.options.max_width % 2  # codecs like even sizes
        new_h = max(2, round(h * new_w / w / 2) * 2)
        return cv2.resize(bgr, (new_w, new_h), interpolation=cv2.INTER_AREA)

    def _advance(self, t: float, bgr: np.ndarray, times: int) -> None:
        """Move the cue schedule to time ``t`` and hand this frame to the take (or the gap) it falls in."""
        while True:
            take = self._current
            if take is None:
                if not self._queue:
                    # Every take is done; the last one stays open to Redo/Drop for one more countdown.
                    if self._latest is None or t + EPS >= self._next_start + self.options.countdown:
                        self._finished = True
                    else:
                        self._sink.gap(bgr, times)
                    return
                start = t if self._next_start is None else self._next_start
                take = self._current = _Take(self._next_id, self._queue.popleft(), start)
                self._next_id += 1
                self._next_start = None
            if not take.recording:
                if t + EPS < take.go:
                    self._sink.gap(bgr, times)
                    return
                take.recording = True
                self._latest = None  # once the next take runs, the previous one is final
                self._sink.begin(take.id, take.plan.label)
            if t + EPS < take.end:
                self._sink.add(bgr, times)
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

"""Where takes go: a clip file per take (``_ClipSink``) or one annotated video (``_ContinuousSink``), always atomically."""

from __future__ import annotations

import contextlib
import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from actionrec.data.datasets import ANNOTATIONS, GROUPS, format_csv
from actionrec.data.video import check_written, opencv_name, write_failure
from actionrec.errors import ActionrecError
from actionrec.live.record.plan import PENDING_JPEG_QUALITY, RECORDINGS, RecordedTake
from actionrec.util.atomic import atomic_path, write_text


class _CsvRows:
    """A small CSV (``groups.csv``, ``annotations.csv``) held in memory and rewritten atomically on every
    change: rows already there are kept, and a killed writer leaves the old file or the new one."""

    def __init__(self, path: Path, header: list[str]) -> None:
        self.path = path
        self.header = header
        self.rows: list[list[str]] = []
        if path.exists():
            try:
                with open(path, newline="", encoding="utf-8-sig") as fh:  # as datasets.py: a spreadsheet's BOM
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

    def write(self, bgr: np.ndarray) -> None:
        if self._writer is None:
            self._writer = cv2.VideoWriter(opencv_name(self._tmp), cv2.VideoWriter_fourcc(*"mp4v"), self.fps,
                                           (bgr.shape[1], bgr.shape[0]))
            if not self._writer.isOpened():
                raise ActionrecError(write_failure(self.path, self._tmp, "OpenCV cannot write an mp4v video here"))
        self._writer.write(bgr)
        self.frames += 1

    def commit(self) -> None:
        self._release()
        try:  # OpenCV's writer reports no failed write: count the frames before the rename
            check_written(self.path, self._tmp, self.frames)
        except ActionrecError as exc:
            self._stack.__exit__(type(exc), exc, exc.__traceback__)  # deletes the temp file
            raise
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

    def gap(self, bgr: np.ndarray) -> None:
        pass  # countdown frames are not kept

    def begin(self, take_id: int, label: str) -> None:
        folder = self.root / label
        number = self._numbers.get(label) or _next_number(folder, self.person)
        self._numbers[label] = number + 1
        self._file = _VideoFile(self.root, folder / f"{self.person}_{number:03d}.mp4", self.fps)
        self._take = (take_id, label)

    def add(self, bgr: np.ndarray) -> None:
        self._file.write(bgr)

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
        self._last: tuple[np.ndarray | None, bytes] = (None, b"")  # the last picture held and its JPEG
        self.kept: list[RecordedTake] = []

    def gap(self, bgr: np.ndarray) -> None:
        if not self._pending or self._pending[-1].take is not None:  # the frames after a take start a new gap
            self._pending.append(_Span())
        self._hold(bgr)

    def begin(self, take_id: int, label: str) -> None:
        self._flush(len(self._pending))
        start = (self._file.frames if self._file else 0) / self.fps
        self._pending = [_Span(RecordedTake(take_id, label, self.rel, 0, self.fps, start), label)]

    def add(self, bgr: np.ndarray) -> None:
        self._hold(bgr)

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

    def _hold(self, bgr: np.ndarray) -> None:
        if bgr is not self._last[0]:  # a dropped frame holds the previous picture: encoded once, kept once
            ok, jpeg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, PENDING_JPEG_QUALITY])
            if not ok:
                raise ActionrecError(f"cannot JPEG-encode a {bgr.shape[1]}x{bgr.shape[0]} camera frame")
            self._last = (bgr, jpeg.tobytes())
        self._pending[-1].jpegs.append(self._last[1])

    def _flush(self, count: int) -> None:
        """Write the first ``count`` held-back spans to the video."""
        for span in self._pending[:count]:
            for jpeg in span.jpegs:
                if self._file is None:
                    self._file = _VideoFile(self.root, self.root / self.rel, self.fps)
                self._file.write(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR))
        self._pending = self._pending[count:]



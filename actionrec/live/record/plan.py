"""What a recording session will do: the options, the shuffled takes and their cues, and what it produced."""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from actionrec.errors import ActionrecError
from actionrec.live.camera import Source

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
    allow_hosts: tuple[str, ...] = ()  # names besides loopback and ``host`` the page may be opened by
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
        raise ActionrecError(f"moves {text!r}: {', '.join(repeated)} listed twice; ask for more reps instead")
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



"""Score game events against annotated segments (replay metrics).

An annotation is a list of segments that tile a video (``video,start,end,label`` rows, labels like
``kick/roundhouse`` or ``other/idle``). Every punch or kick segment is one action that should fire
exactly one event of its coarse class ("single-time activation"): the first such event from ``early``
seconds before the segment's start (the body starts moving a little before an annotated onset) to
``late`` seconds after its end is a hit; every other punch/kick event is a false trigger. ``stand``
events are not scored.

The Levenshtein accuracy compares the whole event sequence with the annotated move sequence, as in
gesture-detection work: ``1 - edit_distance / len(annotated moves)``, floored at 0.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from actionrec.data.datasets import Segment, coarse
from actionrec.errors import ActionrecError
from actionrec.events.trigger import ATTACKS, OTHER, Event, TriggerOptions, TriggerPolicy


@dataclass(frozen=True)
class EventScore:
    actions: int  # annotated punch/kick segments
    events: int  # punch/kick events
    hits: int
    misses: int
    false_triggers: int
    false_per_minute: float  # over the whole video
    false_per_minute_other: float  # false triggers that fell in other/* time, per minute of other/*
    median_delay: float | None  # seconds from segment start to its hit event (slightly < 0: early)
    levenshtein_accuracy: float  # coarse sequence: punch/kick
    fine_levenshtein_accuracy: float  # fine sequence: punch/jab, kick/back, ...
    duration: float

    def to_dict(self) -> dict:
        return asdict(self)


def segments_for(annotations: dict[str, list[Segment]], video: str | os.PathLike) -> list[Segment]:
    """The segments of one video, looked up by file name (or stem) as written in the CSV."""
    video = Path(video)
    for key in (str(video), video.name, video.stem):
        if key in annotations:
            return annotations[key]
    for key, segs in annotations.items():
        if Path(key).name == video.name:
            return segs
    raise ActionrecError(f"{video.name}: not in the annotations (have {', '.join(sorted(annotations)[:5])}...)")


def levenshtein(a: Sequence[str], b: Sequence[str]) -> int:
    """Edit distance (insertions, deletions, substitutions all cost 1)."""
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        cur = [i]
        for j, y in enumerate(b, start=1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def levenshtein_accuracy(predicted: Sequence[str], reference: Sequence[str]) -> float:
    if not reference:
        return 1.0 if not predicted else 0.0
    return max(0.0, 1.0 - levenshtein(predicted, reference) / len(reference))


def score_events(events: Sequence[Event], segments: Sequence[Segment], late: float = 0.5,
                 duration: float | None = None, early: float = 0.1) -> EventScore:
    """Match punch/kick events to annotated actions; see the module docstring for the rules."""
    attacks = sorted((e for e in events if e.kind in ATTACKS), key=lambda e: e.t)
    actions = [s for s in segments if coarse(s.label) in ATTACKS]
    duration = duration if duration is not None else max((s.end for s in segments), default=0.0)

    matched: set[int] = set()  # indices into attacks
    delays: list[float] = []
    for seg in actions:
        for i, e in enumerate(attacks):
            if i not in matched and e.kind == coarse(seg.label) and seg.start - early <= e.t <= seg.end + late:
                matched.add(i)
                delays.append(e.t - seg.start)
                break
    false = [e for i, e in enumerate(attacks) if i not in matched]
    other_time = sum(s.end - s.start for s in segments if coarse(s.label) == OTHER)
    false_in_other = [e for e in false if _covering(segments, e.t) == OTHER]
    return EventScore(
        actions=len(actions),
        events=len(attacks),
        hits=len(delays),
        misses=len(actions) - len(delays),
        false_triggers=len(false),
        false_per_minute=_per_minute(len(false), duration),
        false_per_minute_other=_per_minute(len(false_in_other), other_time),
        median_delay=float(np.median(delays)) if delays else None,
        levenshtein_accuracy=levenshtein_accuracy([e.kind for e in attacks], [coarse(s.label) for s in actions]),
        fine_levenshtein_accuracy=levenshtein_accuracy([e.fine for e in attacks], [s.label for s in actions]),
        duration=duration,
    )


def _covering(segments: Sequence[Segment], t: float) -> str | None:
    for s in segments:
        if s.start <= t < s.end:
            return coarse(s.label)
    return None


def _per_minute(count: int, seconds: float) -> float:
    return count / (seconds / 60.0) if seconds > 0 else 0.0


def format_score(score: EventScore) -> str:
    delay = f"{score.median_delay * 1000:.0f} ms" if score.median_delay is not None else "n/a"
    return (
        f"actions {score.actions}  events {score.events}  hits {score.hits}  misses {score.misses}  "
        f"false {score.false_triggers} ({score.false_per_minute:.2f}/min; on other {score.false_per_minute_other:.2f}/min)  "
        f"median onset delay {delay}  Levenshtein accuracy {score.levenshtein_accuracy:.3f} "
        f"(fine {score.fine_levenshtein_accuracy:.3f})"
    )


@dataclass(frozen=True)
class ProbRun:
    """The per-frame probabilities the stream produced for one annotated video (see ``stream.replay``)."""

    times: np.ndarray  # (N,) seconds
    probs: np.ndarray  # (N, k)
    segments: tuple[Segment, ...]
    duration: float
    fps: float = 0.0  # the model's rate, by which the trigger counts frames (0: every frame is the model's)


def events_from_probs(classes: Sequence[str], times: np.ndarray, probs: np.ndarray,
                      options: TriggerOptions | None = None, fps: float = 0.0) -> list[Event]:
    """Run a fresh ``TriggerPolicy`` over stored probabilities (what the live loop would have fired)."""
    policy = TriggerPolicy(classes, options, fps)
    return [e for t, p in zip(times, probs) for e in policy.update(p, float(t))]


def score_runs(classes: Sequence[str], runs: Sequence[ProbRun], options: TriggerOptions | None = None,
               late: float = 0.5) -> EventScore:
    """One score over several videos, laid end to end on one timeline.

    The Levenshtein accuracies are pooled per video (total edits over total moves), since a move
    sequence does not continue from one video into the next.
    """
    events: list[Event] = []
    segments: list[Segment] = []
    edits = fine_edits = moves = 0
    offset = 0.0
    for run in runs:
        fired = [e for e in events_from_probs(classes, run.times, run.probs, options, run.fps) if e.kind in ATTACKS]
        actions = [s for s in run.segments if coarse(s.label) in ATTACKS]
        edits += levenshtein([e.kind for e in fired], [coarse(s.label) for s in actions])
        fine_edits += levenshtein([e.fine for e in fired], [s.label for s in actions])
        moves += len(actions)
        events += [replace(e, t=e.t + offset) for e in fired]
        segments += [Segment(s.start + offset, s.end + offset, s.label) for s in run.segments]
        offset += run.duration
    score = score_events(events, segments, late=late, duration=offset)
    return replace(score, levenshtein_accuracy=max(0.0, 1 - edits / moves) if moves else 1.0,
                   fine_levenshtein_accuracy=max(0.0, 1 - fine_edits / moves) if moves else 1.0)


def _rank(score: EventScore) -> tuple:
    # Best first: the right moves in the right order, then few false triggers, then a short delay.
    return (-score.levenshtein_accuracy, score.false_per_minute, score.median_delay or float("inf"))


def tune_trigger(classes: Sequence[str], runs: Sequence[ProbRun], late: float = 0.5,
                 enters: Sequence[float] = (0.35, 0.45, 0.55, 0.65),
                 exit_gaps: Sequence[float] = (0.0, 0.1, 0.2),
                 min_frames: Sequence[int] = (1, 2, 3, 4),
                 cooldowns: Sequence[float] = (0.0, 0.3, 0.6),
                 stand_enters: Sequence[float] = (0.4, 0.6)) -> tuple[TriggerOptions, EventScore]:
    """Grid-search the trigger thresholds on stored probabilities; returns the best options and score."""
    best: tuple[TriggerOptions, EventScore] | None = None
    for enter, gap, n, cooldown, stand in itertools.product(enters, exit_gaps, min_frames, cooldowns, stand_enters):
        options = TriggerOptions(enter={a: enter for a in ATTACKS}, exit={a: max(0.0, enter - gap) for a in ATTACKS},
                                 stand_enter=stand, min_frames=n, cooldown=cooldown)
        score = score_runs(classes, runs, options, late)
        if best is None or _rank(score) < _rank(best[1]):
            best = (options, score)
    if best is None:
        raise ActionrecError("trigger tuning: every threshold list must have at least one value")
    return best

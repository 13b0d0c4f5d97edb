"""Event scoring on hand-made events and segments."""

import numpy as np
import pytest

from actionrec.errors import ActionrecError
from actionrec.data.datasets import Segment
from actionrec.data.datasets import read_annotations
from actionrec.events.scoring import ProbRun, levenshtein, levenshtein_accuracy, score_events, score_runs, segments_for, tune_trigger
from actionrec.events.trigger import Event, TriggerOptions

SEGMENTS = [
    Segment(0.0, 2.0, "other/idle"),
    Segment(2.0, 3.0, "punch/jab"),
    Segment(3.0, 5.0, "other/walk"),
    Segment(5.0, 6.0, "kick/front"),
    Segment(6.0, 8.0, "other/idle"),
    Segment(8.0, 9.0, "punch/cross"),
    Segment(9.0, 12.0, "other/idle"),
]


def ev(kind, t, fine=None):
    return Event(kind, fine or f"{kind}/x", 0.9, t)


def test_perfect_events():
    events = [ev("punch", 2.1, "punch/jab"), ev("stand", 2.9), ev("kick", 5.3, "kick/front"),
              ev("punch", 8.2, "punch/cross")]
    s = score_events(events, SEGMENTS)
    assert (s.actions, s.events, s.hits, s.misses, s.false_triggers) == (3, 3, 3, 0, 0)
    assert s.median_delay == pytest.approx(0.2)
    assert s.levenshtein_accuracy == 1.0 and s.fine_levenshtein_accuracy == 1.0
    assert s.duration == 12.0


def test_misses_false_triggers_and_late_window():
    events = [
        ev("kick", 1.0),  # during idle: false, in other
        ev("punch", 3.4),  # 0.4 s after the jab ended: still a (late) hit
        ev("punch", 3.45),  # a second event for the same action: false, in other (walk)
        ev("punch", 5.5),  # wrong class during the kick: false, not in other
        ev("punch", 9.6),  # 0.6 s after the cross ended: too late, false
    ]
    s = score_events(events, SEGMENTS, late=0.5)
    assert (s.hits, s.misses, s.false_triggers) == (1, 2, 4)
    assert s.false_per_minute == pytest.approx(4 / (12 / 60))
    assert s.false_per_minute_other == pytest.approx(3 / (9 / 60))  # other time: 2 + 2 + 2 + 3 s
    assert s.median_delay == pytest.approx(1.4)
    # kick punch punch punch punch vs punch kick punch: 3 edits over 3 moves.
    assert s.levenshtein_accuracy == 0.0


def test_no_events():
    s = score_events([], SEGMENTS)
    assert (s.hits, s.misses, s.false_triggers, s.median_delay) == (0, 3, 0, None)
    assert s.levenshtein_accuracy == 0.0


def test_levenshtein():
    assert levenshtein("kitten", "sitting") == 3
    assert levenshtein([], ["a", "b"]) == 2
    assert levenshtein_accuracy(["punch", "kick"], ["punch", "kick", "punch"]) == pytest.approx(2 / 3)
    assert levenshtein_accuracy([], []) == 1.0


def test_read_annotations(tmp_path):
    csv = tmp_path / "annotations.csv"
    csv.write_text("video,start,end,label\nb.mp4,1.0,2.5,kick/back\na.mp4,0,1,other/idle\nb.mp4,0,1.0,other/idle\n")
    ann = read_annotations(csv)
    assert [s.label for s in segments_for(ann, tmp_path / "sparring" / "b.mp4")] == ["other/idle", "kick/back"]
    with pytest.raises(ActionrecError, match="c.mp4"):
        segments_for(ann, "c.mp4")
    csv.write_text("video,start,end,label\nb.mp4,2,1,kick/back\n")
    with pytest.raises(ActionrecError, match="start < end"):
        read_annotations(csv)
    csv.write_text("name,from,to\n")
    with pytest.raises(ActionrecError, match="expected video,start,end,label"):
        read_annotations(csv)


def _probs_for(segments, fps=30.0, noise_at=()):
    """Clean per-frame probabilities (classes kick, other, punch) that follow the segments."""
    from actionrec.data.datasets import coarse

    duration = segments[-1].end
    times = np.arange(int(duration * fps)) / fps
    col = {"kick": 0, "other": 1, "punch": 2}
    probs = np.zeros((len(times), 3))
    for i, t in enumerate(times):
        seg = next(s for s in segments if s.start <= t < s.end)
        probs[i, col[coarse(seg.label)]] = 1.0
    for t in noise_at:  # a two-frame kick blip during idle
        i = int(t * fps)
        probs[i : i + 2] = [0.8, 0.2, 0.0]
    return ProbRun(times, probs, tuple(segments), duration)


def test_score_runs_lays_videos_end_to_end():
    run = _probs_for(SEGMENTS)
    single = score_runs(["kick", "other", "punch"], [run], TriggerOptions(min_frames=1))
    double = score_runs(["kick", "other", "punch"], [run, run], TriggerOptions(min_frames=1))
    assert (single.hits, single.false_triggers, single.levenshtein_accuracy) == (3, 0, 1.0)
    assert (double.actions, double.hits, double.duration) == (6, 6, 24.0)
    assert double.median_delay == pytest.approx(0.0)


def test_tune_trigger_picks_options_that_ignore_blips():
    run = _probs_for(SEGMENTS, noise_at=(0.5, 10.0))
    naive = score_runs(["kick", "other", "punch"], [run], TriggerOptions(min_frames=1, cooldown=0.0))
    assert naive.false_triggers == 2
    options, score = tune_trigger(["kick", "other", "punch"], [run], min_frames=(1, 3), cooldowns=(0.0,))
    assert options.min_frames == 3 and score.false_triggers == 0 and score.levenshtein_accuracy == 1.0
    assert score.median_delay == pytest.approx(2 / 30)  # the price: two more frames before each event


def test_events_slightly_before_the_annotated_onset_count():
    s = score_events([ev("punch", 1.95), ev("kick", 4.85)], SEGMENTS, early=0.1)
    assert (s.hits, s.false_triggers) == (1, 1)  # the kick is 0.15 s early: too early
    assert s.median_delay == pytest.approx(-0.05)

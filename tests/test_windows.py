"""Sliding windows over frame embeddings (actionrec.learn.windows), tested on their own.

The clips are real: the conftest datasets read by ``load_dataset``, each frame timed by the real decoder at
the model rate. The embeddings are synthetic and say where they come from (column 0: the clip's number,
column 1: the frame's number in its clip), so every window can be traced back to the frames it took.
"""

from collections import Counter

import numpy as np
import pytest
from conftest import build_annotated_dataset, build_class_dataset

from actionrec.data.datasets import load_dataset
from actionrec.data.video import FrameSpec, iter_source_frames
from actionrec.errors import ActionrecError
from actionrec.features.cache import ClipEmbeddings
from actionrec.features.mobilenet import EMBEDDING_DIM
from actionrec.learn.windows import LABEL_POLICIES, WindowSet, make_windows, trailing_windows, window_label

# What conftest's build_* functions write, restated here so that the expectations do not come from the
# code under test.
CLASS_GROUPS = {"other/o1.avi": "alice", "other/o2": "bob", "punch/hook/p2": "bob", "punch/jab/p1.avi": "alice"}
SEGMENTS = {"videos/a.avi": [(1.0, 2.0, "punch"), (3.0, 4.0, "kick")], "videos/b.avi": [(0.5, 1.5, "punch")]}
ANNOTATED_GROUPS = {"videos/a.avi": "alice", "videos/b.avi": "bob"}


def true_label(clip_id: str, t: float) -> str:
    return next((lab for start, end, lab in SEGMENTS[clip_id] if start <= t < end), "other")


def traced_embeddings(clips) -> dict[str, ClipEmbeddings]:
    """Per clip: the real frame times at 10 fps, and embeddings that name (clip number, frame number)."""
    rng = np.random.default_rng(0)
    out = {}
    for k, clip in enumerate(clips):
        times = np.array([t for t, _ in iter_source_frames(clip.path, FrameSpec())])
        emb = rng.normal(size=(len(times), EMBEDDING_DIM)).astype(np.float32)
        emb[:, 0], emb[:, 1] = k, np.arange(len(times))
        out[clip.id] = ClipEmbeddings(emb, times)
    return out


@pytest.fixture(scope="module")
def class_clips(tmp_path_factory):
    clips = load_dataset(build_class_dataset(tmp_path_factory.mktemp("windows") / "classes")).clips
    return clips, traced_embeddings(clips)


@pytest.fixture(scope="module")
def annotated_clips(tmp_path_factory):
    clips = load_dataset(build_annotated_dataset(tmp_path_factory.mktemp("windows") / "annotated")).clips
    return clips, traced_embeddings(clips)


def windows_of(ws: WindowSet, clip_number: int) -> np.ndarray:
    """Rows of ``ws`` (in order) whose frames come from clip ``clip_number``."""
    return np.flatnonzero(ws.frames[ws.index[:, 0], 0] == clip_number)


def frame_numbers(ws: WindowSet, row: int) -> np.ndarray:
    return ws.frames[ws.index[row], 1].astype(int)


# --- window_label -------------------------------------------------------------------------------------


def test_window_label_policies():
    labels = ["other", "other", "punch", "kick", "kick"]
    assert window_label(labels, "last") == "kick"
    assert window_label(labels, "center") == "punch"  # index n // 2 of 5
    assert window_label(labels, "majority") == "kick"  # other and kick both twice: kick is more recent
    assert window_label(["a", "b", "b"], "majority") == "b"
    assert window_label(["a", "b", "c", "d"], "center") == "c"  # even n: the later of the two middle frames
    # Ties go to the label seen most recently among the tied ones.
    assert window_label(["b", "a", "a", "b"], "majority") == "b"
    assert window_label(["a", "b", "b", "a"], "majority") == "a"
    assert window_label(["other", "punch"], "majority") == "punch"
    for policy in LABEL_POLICIES:
        assert window_label(["kick"] * 4, policy) == "kick"


def test_window_label_names_an_unknown_policy():
    with pytest.raises(ActionrecError, match=r"^label policy 'mode': expected one of last, center, majority$"):
        window_label(["a", "b"], "mode")


# --- make_windows on class folders: stride, skipping, groups, index/frames consistency -----------------


@pytest.mark.parametrize("n, stride", [(5, 2), (3, 1), (1, 1), (7, 4)])
def test_windows_are_consecutive_frames_of_one_clip(class_clips, n, stride):
    clips, embs = class_clips
    ws = make_windows(clips, embs, n=n, stride=stride)
    lengths = [len(embs[c.id].times) for c in clips]
    assert ws.n == n and ws.index.shape == (len(ws), n)
    assert len(ws.frames) == len(ws.frame_labels) == sum(lengths)  # every frame once, skipped clips too
    assert ws.frames.dtype == np.float32
    for k, clip in enumerate(clips):
        rows = windows_of(ws, k)
        m = len(embs[clip.id].times)
        assert len(rows) == (0 if m < n else (m - n) // stride + 1), clip.id
        starts = []
        for row in rows:
            assert np.all(ws.frames[ws.index[row], 0] == k), "a window mixes clips"
            frames = frame_numbers(ws, row)
            np.testing.assert_array_equal(frames, np.arange(frames[0], frames[0] + n))
            np.testing.assert_array_equal(ws.frames[ws.index[row]], embs[clip.id].embeddings[frames])
            assert ws.end_times[row] == embs[clip.id].times[frames[-1]]
            starts.append(frames[0])
        assert starts == list(range(0, m - n + 1, stride))  # the first window starts at the clip's first frame
        assert set(ws.clip_ids[rows]) <= {clip.id}
        assert set(ws.labels[rows]) <= {clip.label} and set(ws.groups[rows]) <= {CLASS_GROUPS[clip.id]}
    np.testing.assert_array_equal(ws.sequences(), ws.frames[ws.index])
    assert ws.sequences().shape == (len(ws), n, EMBEDDING_DIM)
    np.testing.assert_array_equal(ws.sequences(slice(2, 4)), ws.sequences()[2:4])
    np.testing.assert_array_equal(ws.last_frames(), ws.sequences()[:, -1])


def test_groups_and_labels_are_carried_from_the_dataset(class_clips):
    clips, embs = class_clips
    ws = make_windows(clips, embs, n=4, stride=2)
    for row in range(len(ws)):
        clip = clips[int(ws.frames[ws.index[row, 0], 0])]
        assert (ws.clip_ids[row], ws.groups[row], ws.labels[row]) == (clip.id, CLASS_GROUPS[clip.id], clip.label)
    assert set(ws.groups) == {"alice", "bob"}
    assert set(ws.labels) == {"other", "punch/hook", "punch/jab"}


def test_subset_keeps_windows_and_their_frames_together(class_clips):
    clips, embs = class_clips
    ws = make_windows(clips, embs, n=3, stride=1)
    mask = ws.groups == "bob"
    part = ws.subset(mask)
    assert 0 < len(part) < len(ws) and set(part.groups) == {"bob"}
    np.testing.assert_array_equal(part.sequences(), ws.sequences()[mask])
    for name in ("labels", "clip_ids", "end_times"):
        np.testing.assert_array_equal(getattr(part, name), getattr(ws, name)[mask])
    assert part.frames is ws.frames  # the frame table is shared, not copied


def test_clips_shorter_than_the_window_are_skipped_and_listed(class_clips):
    clips, embs = class_clips
    n = 8
    short = [c.id for c in clips if len(embs[c.id].times) < n]
    kept = [c.id for c in clips if len(embs[c.id].times) >= n]
    assert short and kept, "the fixture should have clips on both sides of the window length"
    ws = make_windows(clips, embs, n=n)
    assert ws.skipped == short
    assert set(ws.clip_ids) == set(kept)
    assert make_windows(clips, embs, n=1).skipped == []


def test_no_windows_at_all_is_one_clear_error(class_clips):
    clips, embs = class_clips
    longest = max(len(e.times) for e in embs.values())
    with pytest.raises(ActionrecError) as err:
        make_windows(clips, embs, n=longest + 1)
    msg = str(err.value)
    assert f"no windows of {longest + 1} frames" in msg and f"all {len(clips)} clip(s)" in msg
    assert f"({len(clips)} skipped)" in msg and "smaller window" in msg and "\n" not in msg


@pytest.mark.parametrize("kwargs, message", [
    ({"n": 0}, "window n=0, stride=1: both must be >= 1"),
    ({"n": 4, "stride": 0}, "window n=4, stride=0: both must be >= 1"),
    ({"n": -2, "stride": 3}, "window n=-2, stride=3: both must be >= 1"),
    ({"n": 4, "policy": "first"}, "label policy 'first': expected one of last, center, majority"),
])
def test_bad_window_arguments_are_refused(class_clips, kwargs, message):
    clips, embs = class_clips
    with pytest.raises(ActionrecError) as err:
        make_windows(clips, embs, **kwargs)
    assert str(err.value) == message


# --- make_windows on annotated videos: the label policies --------------------------------------------------


def expected_window_label(labels: list[str], policy: str) -> str:
    """The policies as the docs state them, written out independently of window_label."""
    if policy == "last":
        return labels[-1]
    if policy == "center":
        return labels[len(labels) // 2]
    counts = Counter(labels)
    top = max(counts.values())
    latest = {lab: i for i, lab in enumerate(labels)}
    return max((lab for lab in counts if counts[lab] == top), key=latest.__getitem__)


@pytest.mark.parametrize("policy", LABEL_POLICIES)
def test_annotated_windows_follow_the_label_policy(annotated_clips, policy):
    clips, embs = annotated_clips
    n = 5
    ws = make_windows(clips, embs, n=n, stride=1, policy=policy)
    all_times = np.concatenate([embs[c.id].times for c in clips])
    all_ids = np.concatenate([[c.id] * len(embs[c.id].times) for c in clips])
    assert list(ws.frame_labels) == [true_label(cid, t) for cid, t in zip(all_ids, all_times)]
    for row in range(len(ws)):
        cid = ws.clip_ids[row]
        frame_labels = [true_label(cid, t) for t in all_times[ws.index[row]]]
        assert ws.labels[row] == expected_window_label(frame_labels, policy), (row, frame_labels)
        assert ws.groups[row] == ANNOTATED_GROUPS[cid]
    assert {"punch", "kick", "other"} <= set(ws.labels)


def test_policies_disagree_where_a_segment_ends(annotated_clips):
    """Windows of 4 on videos/a.avi (punch 1.0-2.0 s) around the punch's start and end."""
    clips, embs = annotated_clips
    a = [c for c in clips if c.id == "videos/a.avi"]
    got = {p: make_windows(a, embs, n=4, policy=p) for p in LABEL_POLICIES}
    end_times = got["last"].end_times

    def at(t: float) -> tuple[str, str, str]:
        row = int(np.flatnonzero(np.isclose(end_times, t))[0])
        return tuple(got[p].labels[row] for p in ("last", "center", "majority"))

    assert at(1.0) == ("punch", "other", "other")  # 0.7 0.8 0.9 | 1.0: the punch has just begun
    assert at(1.1) == ("punch", "punch", "punch")  # 2 against 2: the more recent label wins
    assert at(2.0) == ("other", "punch", "punch")  # 1.7 1.8 1.9 | 2.0: "now" is already after it
    assert at(2.1) == ("other", "other", "other")


def test_policy_does_not_change_class_folder_labels(class_clips, annotated_clips):
    clips = class_clips[0] + annotated_clips[0]
    embs = {**class_clips[1], **annotated_clips[1]}
    by_policy = {p: make_windows(clips, embs, n=4, policy=p) for p in LABEL_POLICIES}
    class_rows = np.isin(by_policy["last"].clip_ids, [c.id for c in class_clips[0]])
    for ws in by_policy.values():
        np.testing.assert_array_equal(ws.labels[class_rows], by_policy["last"].labels[class_rows])
    assert not np.array_equal(by_policy["last"].labels, by_policy["center"].labels)


# --- trailing_windows: what the live loop sees at every frame ---------------------------------------------


def test_trailing_windows_repeat_the_first_frame_until_n_exist():
    emb = np.arange(7 * 3, dtype=np.float32).reshape(7, 3)
    n = 4
    out = trailing_windows(emb, n)
    assert out.shape == (7, n, 3)
    for i in range(n - 1):  # the first n - 1 windows are padded with frame 0
        np.testing.assert_array_equal(out[i, : n - 1 - i], np.repeat(emb[:1], n - 1 - i, axis=0))
        np.testing.assert_array_equal(out[i, n - 1 - i :], emb[: i + 1])
    for i in range(n - 1, len(emb)):
        np.testing.assert_array_equal(out[i], emb[i - n + 1 : i + 1])
    np.testing.assert_array_equal(out[:, -1], emb)  # every window ends at its own frame


def test_trailing_windows_shapes_at_the_edges():
    emb = np.random.default_rng(1).normal(size=(3, EMBEDDING_DIM)).astype(np.float32)
    assert trailing_windows(emb, 8).shape == (3, 8, EMBEDDING_DIM)  # a clip shorter than the window
    np.testing.assert_array_equal(trailing_windows(emb, 8)[2], emb[[0, 0, 0, 0, 0, 0, 1, 2]])
    np.testing.assert_array_equal(trailing_windows(emb, 1), emb[:, None])
    assert trailing_windows(emb[:0], 4).shape == (0, 4, EMBEDDING_DIM)


def test_trailing_windows_match_training_windows_once_full(class_clips):
    clips, embs = class_clips
    clip = max(clips, key=lambda c: len(embs[c.id].times))
    n = 6
    live = trailing_windows(embs[clip.id].embeddings, n)
    trained_on = make_windows([clip], embs, n=n, stride=1).sequences()
    np.testing.assert_array_equal(live[n - 1 :], trained_on)

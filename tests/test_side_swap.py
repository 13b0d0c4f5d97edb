"""The left/right swap augmentation of pose features (learn/side_swap.py) and its place in training batches."""

from __future__ import annotations

import numpy as np

from actionrec.features.pose.vector import POSE_DIM, SWAP_COLUMNS
from actionrec.learn.side_swap import SWAP_STREAM, swap_sides_in_batch
from actionrec.learn.temporal import batch_rng


def test_swaps_runs_of_frames_in_the_pose_columns_only():
    rng = np.random.default_rng(0)
    x = rng.random((400, 8, 1024 + POSE_DIM)).astype(np.float32)
    pose = slice(1024, 1024 + POSE_DIM)
    y = swap_sides_in_batch(x, pose, 0.5, batch_rng(3, 1, 2, SWAP_STREAM))
    np.testing.assert_array_equal(y[..., :1024], x[..., :1024])  # MobileNet's part untouched
    changed = (y != x).any(axis=-1)  # (B, n)
    assert 0.4 < changed.any(axis=1).mean() < 0.6  # about half the windows
    for w in np.flatnonzero(changed.any(axis=1)):
        frames = np.flatnonzero(changed[w])
        assert np.array_equal(frames, np.arange(frames[0], frames[-1] + 1))  # one run of frames
        np.testing.assert_array_equal(y[w, frames][:, pose], x[w, frames][:, pose][:, SWAP_COLUMNS])
    assert changed.all(axis=1).any() and (changed.sum(axis=1) == 1).any()  # whole windows and single frames
    np.testing.assert_array_equal(y, swap_sides_in_batch(x, pose, 0.5, batch_rng(3, 1, 2, SWAP_STREAM)))  # same seed, same batch
    assert not np.array_equal(y, swap_sides_in_batch(x, pose, 0.5, batch_rng(3, 1, 3, SWAP_STREAM)))


def test_frames_without_pose_or_at_zero_are_returned_as_they_are():
    x = np.random.default_rng(1).random((50, 1024)).astype(np.float32)
    assert swap_sides_in_batch(x, slice(0, 0), 0.9, batch_rng(0, 0, 0, SWAP_STREAM)) is x  # MobileNet only: nothing to swap
    f = np.random.default_rng(2).random((1000, POSE_DIM)).astype(np.float32)
    assert swap_sides_in_batch(f, slice(0, POSE_DIM), 0.0, batch_rng(0, 0, 0, SWAP_STREAM)) is f
    g = swap_sides_in_batch(f, slice(0, POSE_DIM), 0.3, batch_rng(0, 0, 0, SWAP_STREAM))  # (B, D) frames for the frame model
    assert g.shape == f.shape and 0.25 < (g != f).any(axis=1).mean() < 0.35


def test_training_batches_carry_the_swap():
    from actionrec.learn.fitting import batches
    from actionrec.learn.windows import WindowSet

    rng = np.random.default_rng(4)
    frames = rng.random((40, POSE_DIM)).astype(np.float32)
    index = np.stack([np.arange(i, i + 4) for i in range(37)])
    ws = WindowSet(frames=frames, frame_labels=np.array(["a"] * 40), index=index, labels=np.array(["a"] * 37),
                   groups=np.array(["g"] * 37), clip_ids=np.array(["c"] * 37), end_times=np.arange(37) / 10)
    plain = batches(ws, np.arange(37), np.zeros(37, np.int64), 64, False, 7)
    swapped = batches(ws, np.arange(37), np.zeros(37, np.int64), 64, False, 7, pose=slice(0, POSE_DIM), side_swap=1.0)
    a, b = plain[0][0], swapped[0][0]
    assert a.shape == b.shape == (37, 4, POSE_DIM)
    assert (a != b).any(axis=(1, 2)).all()  # every window has a swapped run
    np.testing.assert_array_equal(np.sort(a, axis=-1), np.sort(b, axis=-1))  # only moved, never changed

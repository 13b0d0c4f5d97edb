"""Left/right swap augmentation of pose features: the pose estimator's profile-view error, made while training.

Seen from the side, BlazePose often names the far arm or leg as the near one, for a few frames or for the
whole move. A model that learnt "the left wrist moves" then misses the move when the names flip. With
probability ``p`` a training window has one run of its frames (a random start and end, possibly the
whole window) with left and right joints swapped in the pose part of the feature vector
(``vector.SWAP_COLUMNS``; positions unchanged, so which hand is nearer the opponent is still there). A
frame-model sample is one frame, swapped with probability ``p``.

Draws come from ``temporal.batch_rng(seed, epoch, batch, SWAP_STREAM)``, so the same seed gives the same
batches in any process.
"""

from __future__ import annotations

import numpy as np

from actionrec.features.pose.vector import POSE_DIM, SWAP_COLUMNS

SWAP_STREAM = 17  # apart from temporal augmentation's (16) and the batch order's ([seed, epoch])


def swap_sides_in_batch(x: np.ndarray, pose: slice, p: float, rng: np.random.Generator) -> np.ndarray:
    """``x`` (B, n, D) windows or (B, D) frames, with left/right swapped in runs of frames (a new array)."""
    start = pose.start or 0
    if not p or pose.stop - start != POSE_DIM:
        return x
    windows = x if x.ndim == 3 else x[:, None, :]
    b, n, _ = windows.shape
    hit = rng.random(b) < p
    first = rng.integers(0, n, b)
    stop = rng.integers(first + 1, n + 1)  # at least one frame
    t = np.arange(n)[None, :]
    swapped = hit[:, None] & (t >= first[:, None]) & (t < stop[:, None])  # (B, n)
    out = windows.copy()
    part = out[..., pose]
    part[swapped] = part[swapped][:, SWAP_COLUMNS]
    out[..., pose] = part
    return out if x.ndim == 3 else out[:, 0, :]

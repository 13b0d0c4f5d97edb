"""Temporal augmentation of embedding windows: new windows from the same clips, made while training.

A training window is n rows of the frame table ending at an anchor frame ("now"). Each epoch the LSTM
sees a variant of every window, built as new row indices (no embedding is copied or changed):

- temporal crop: the anchor moves by up to ``shift`` frames within the clip (the frames a training
  stride skips, and other moments of the same action);
- speed jitter: the history is resampled at a rate in [1/speed, speed] (people move faster or slower);
- frame drops: each frame is, with probability ``drop``, replaced by the one before it (a stalled
  camera or a slow frame grab in the live loop).

A window never leaves its clip: steps before the clip's first frame repeat that frame, the live ring
buffer's rule at start-up. The labels of the new windows come from the frame labels (annotated videos
change label over time). Every draw comes from ``numpy.random.default_rng([seed, epoch, batch])``, so the
same seed gives the same windows in any process, whatever order batches are asked for.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from actionrec.errors import ActionrecError
from actionrec.learn.windows import WindowSet, window_label

_STREAM = 16  # keeps these draws apart from the batch-order shuffle, which uses [seed, epoch]


@dataclass(frozen=True)
class TemporalAugment:
    """How far windows are varied; ``none()`` turns every part off."""

    shift: int = 2  # frames the anchor may move either way (the evaluation's training stride is 2)
    speed: float = 1.25  # history resampled at a rate in [1/speed, speed]
    drop: float = 0.1  # probability that a frame repeats the one before it

    def __post_init__(self) -> None:
        if self.shift < 0 or self.speed < 1 or not 0 <= self.drop < 1:
            raise ActionrecError(
                f"temporal augmentation shift={self.shift}, speed={self.speed}, drop={self.drop}: "
                "expected shift >= 0, speed >= 1 and 0 <= drop < 1"
            )

    @classmethod
    def none(cls) -> "TemporalAugment":
        return cls(shift=0, speed=1.0, drop=0.0)

    @property
    def active(self) -> bool:
        return self.shift > 0 or self.speed > 1 or self.drop > 0


def clip_bounds(windows: WindowSet) -> tuple[np.ndarray, np.ndarray]:
    """(W,) first row and one past the last row of each window's clip in the frame table."""
    if windows.clip_rows is not None:
        return windows.clip_rows[:, 0], windows.clip_rows[:, 1]
    # Without recorded clip rows: the span the clip's windows cover (all windows of a clip are present).
    _, inverse = np.unique(windows.clip_ids, return_inverse=True)
    lo = np.full(inverse.max() + 1, np.iinfo(np.int64).max)
    hi = np.zeros(inverse.max() + 1, np.int64)
    np.minimum.at(lo, inverse, windows.index[:, 0])
    np.maximum.at(hi, inverse, windows.index[:, -1] + 1)
    return lo[inverse], hi[inverse]


def augment_rows(index: np.ndarray, lo: np.ndarray, hi: np.ndarray, aug: TemporalAugment,
                 rng: np.random.Generator) -> np.ndarray:
    """(B, n) frame rows -> (B, n) varied frame rows, each row staying in [lo, hi) of its clip."""
    index = np.asarray(index, np.int64)
    b, n = index.shape
    anchor = index[:, -1]
    if aug.shift:
        # Anchors stay where a full window fits when the clip allows it: test windows are always full.
        earliest = np.minimum(lo + n - 1, hi - 1)
        anchor = np.clip(anchor + rng.integers(-aug.shift, aug.shift + 1, b), earliest, hi - 1)
    steps = np.arange(n - 1, -1, -1, dtype=np.float64)  # frames back from the anchor, oldest first
    if aug.speed > 1:
        rate = np.exp(rng.uniform(-np.log(aug.speed), np.log(aug.speed), b))
        back = np.rint(steps[None, :] * rate[:, None]).astype(np.int64)
    else:
        back = np.broadcast_to(steps.astype(np.int64), (b, n))
    rows = np.maximum(anchor[:, None] - back, lo[:, None])
    if aug.drop:
        dropped = rng.random((b, n)) < aug.drop
        dropped[:, 0] = False  # the oldest frame has no frame before it in the window
        keep = np.where(dropped, 0, np.arange(n)[None, :])
        rows = np.take_along_axis(rows, np.maximum.accumulate(keep, axis=1), axis=1)
    return rows


def batch_rng(seed: int, epoch: int, batch: int, stream: int = _STREAM) -> np.random.Generator:
    """The draws of one batch of one epoch; each augmentation has its own ``stream``."""
    return np.random.default_rng([seed, epoch, batch, stream])


def relabel(rows: np.ndarray, frame_y: np.ndarray, policy: str) -> np.ndarray:
    """Class indices of varied windows from their frames' class indices, by the window label policy."""
    if policy == "last":
        return frame_y[rows[:, -1]]
    return np.array([int(window_label(list(frame_y[r]), policy)) for r in rows], np.int64)

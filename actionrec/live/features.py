"""The live per-frame features of a model: MobileNet on every frame, BlazePose and the motion stream at the
model's rate.

The pose is tracked on the frames the model's clock picks (the first frame at or after each tick, the
rule training clips are sampled by, ``data/clock.py``), so tracking and its filter see live what they saw
in training: a 30 fps camera runs the pose model at 10 fps, and the frames between reuse the latest pose
vector. The motion stream (``diff``) follows the same clock: training saw the difference between
consecutive sampled frames (100 ms apart at 10 fps), not between camera frames 33 ms apart, so each tick
embeds the difference from the previous tick's frame, and the frames between reuse it. MobileNet keeps
embedding every frame, as for ``mobilenet`` models. Several parts are joined per frame in ``PARTS`` order.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from actionrec.data.clock import ModelClock
from actionrec.data.video import FrameSpec, frame_difference, prepare
from actionrec.features.pose.tracker import Pose
from actionrec.features.pose.vector import no_person, pose_vector
from actionrec.features.spec import FeatureSpec, cap_long_side


class LiveFeatures:
    """``(bgr, t) -> (dim,)`` float32 for one stream; ``clear()`` for a new one. ``pose``: the latest Pose."""

    def __init__(self, features: FeatureSpec, spec: FrameSpec, embed_one: Callable[[np.ndarray], np.ndarray] | None,
                 estimator=None) -> None:
        self.features, self.spec = features, spec
        self.embed_one = embed_one
        self.estimator = estimator
        self.pose: Pose | None = None
        self.pose_runs = 0
        self.clock = ModelClock(spec.fps)  # pose and diff run on the model's frames only
        self.clear()

    def clear(self) -> None:
        self.clock.clear()
        self._vector = self.features.view_pose(no_person())
        self.pose = None
        self._tick_frame: np.ndarray | None = None  # the prepared frame of the latest tick (diff's previous)
        self._diff: np.ndarray | None = None
        if self.estimator is not None:
            self.estimator.clear()

    def _pose_part(self, bgr: np.ndarray, t: float) -> np.ndarray:
        self.pose = self.estimator.process(cap_long_side(bgr, self.features.pose_long_side), t)
        self._vector = self.features.view_pose(pose_vector(self.pose))
        self.pose_runs += 1
        return self._vector

    def _diff_part(self, frame: np.ndarray) -> np.ndarray:
        self._diff = np.asarray(self.embed_one(frame_difference(self._tick_frame, frame)), np.float32)
        self._tick_frame = frame
        return self._diff

    def __call__(self, bgr: np.ndarray, t: float) -> np.ndarray:
        tick = self.clock.ticks(t)
        frame = prepare(bgr, self.spec) if self.features.runs_mobilenet else None
        parts = []
        if self.features.uses_mobilenet:
            parts.append(np.asarray(self.embed_one(frame), np.float32))
        if self.features.uses_pose:
            parts.append(self._pose_part(bgr, t) if tick else self._vector)
        if self.features.uses_diff:
            parts.append(self._diff_part(frame) if tick else self._diff)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def landmarks(self) -> list[list[float]] | None:
        """The latest pose's 33 landmarks as image-normalised [x, y, visibility] (for drawing), or None."""
        if self.pose is None:
            return None
        w, h = self.pose.image_size
        lm = self.pose.landmarks
        return [[round(float(x / w), 4), round(float(y / h), 4), round(float(v), 3)] for x, y, v in lm[:, [0, 1, 3]]]

"""The live per-frame features of a model, computed on the model's frames only and held between them.

The pose is tracked on the frames the model's clock picks (the first frame at or after each tick, the
rule training clips are sampled by, ``data/clock.py``), so tracking and its filter see live what they saw
in training: a 30 fps camera runs the pose model at 10 fps, and the frames between reuse the latest pose
vector. The motion stream (``diff``) follows the same clock: training saw the difference between
consecutive sampled frames (100 ms apart at 10 fps), not between camera frames 33 ms apart, so each tick
embeds the difference from the previous tick's frame, and the frames between reuse it. MobileNet, when
joined to these, runs on the same frames: the ring buffer keeps only the model's frames for such models
(``ticked``), so an embedding between them would never be read. Several parts are joined per frame in
``PARTS`` order. (``mobilenet`` models alone do not come here: they embed every camera frame.)
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from actionrec.data.clock import ModelClock
from actionrec.data.video import FrameSpec, frame_difference, prepare
from actionrec.features.pose.image import PoseImage
from actionrec.features.pose.tracker import Pose
from actionrec.features.pose.vector import pose_vector
from actionrec.features.spec import FeatureSpec


class LiveFeatures:
    """``(bgr, t) -> (dim,)`` float32 for one stream; ``clear()`` for a new one. ``pose``: the latest Pose."""

    def __init__(self, features: FeatureSpec, spec: FrameSpec, embed_one: Callable[[np.ndarray], np.ndarray] | None,
                 estimator=None) -> None:
        self.features, self.spec = features, spec
        self.embed_one = embed_one
        self.estimator = estimator
        self.pose: Pose | None = None
        self.pose_runs = 0
        self.clock = ModelClock(spec.fps)  # every part runs on the model's frames only
        self.clear()

    def clear(self) -> None:
        self.clock.clear()
        self.ticked = False  # whether the latest frame was one of the model's
        self._joined: np.ndarray | None = None  # the latest model frame's features, held until the next
        self.pose = None
        self._tick_frame: np.ndarray | None = None  # the prepared frame of the latest tick (diff's previous)
        if self.estimator is not None:
            self.estimator.clear()

    def _pose_part(self, bgr: np.ndarray, t: float) -> np.ndarray:
        self.pose = self.estimator.process(PoseImage(bgr, self.features.pose_long_side), t)
        self.pose_runs += 1
        return self.features.view_pose(pose_vector(self.pose))

    def _diff_part(self, frame: np.ndarray) -> np.ndarray:
        diff = np.asarray(self.embed_one(frame_difference(self._tick_frame, frame)), np.float32)
        self._tick_frame = frame
        return diff

    def __call__(self, bgr: np.ndarray, t: float) -> np.ndarray:
        self.ticked = self.clock.ticks(t)
        if not self.ticked:
            return self._joined
        frame = prepare(bgr, self.spec) if self.features.runs_mobilenet else None
        parts = []
        if self.features.uses_mobilenet:
            parts.append(np.asarray(self.embed_one(frame), np.float32))
        if self.features.uses_pose:
            parts.append(self._pose_part(bgr, t))
        if self.features.uses_diff:
            parts.append(self._diff_part(frame))
        self._joined = parts[0] if len(parts) == 1 else np.concatenate(parts)
        return self._joined

    def landmarks(self) -> list[list[float]] | None:
        """The latest pose's 33 landmarks as image-normalised [x, y, visibility] (for drawing), or None."""
        if self.pose is None:
            return None
        w, h = self.pose.image_size
        lm = self.pose.landmarks
        return [[round(float(x / w), 4), round(float(y / h), 4), round(float(v), 3)] for x, y, v in lm[:, [0, 1, 3]]]

"""The live per-frame features of a model: MobileNet on every frame, BlazePose at the model's rate.

The pose is tracked on the frames the model's clock picks (the first frame at or after each tick, the
rule ``iter_decoded_frames`` samples training clips by), so tracking and its filter see live what they saw
in training: a 30 fps camera runs the pose model at 10 fps, and the frames between reuse the latest pose
vector. MobileNet keeps embedding every frame, as for ``mobilenet`` models. ``both`` joins them per frame.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from actionrec.data.video import FrameSpec, prepare
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
        self.clear()

    def clear(self) -> None:
        self._next_t = -math.inf
        self._vector = self.features.view_pose(no_person())
        self.pose = None
        if self.estimator is not None:
            self.estimator.clear()

    def _pose_part(self, bgr: np.ndarray, t: float) -> np.ndarray:
        if t + 1e-6 >= self._next_t:
            self.pose = self.estimator.process(cap_long_side(bgr, self.features.pose_long_side), t)
            self._vector = self.features.view_pose(pose_vector(self.pose))
            self.pose_runs += 1
            step = 1.0 / self.spec.fps if self.spec.fps > 0 else 0.0
            self._next_t = (math.floor(t / step + 1e-6) + 1) * step if step else t
        return self._vector

    def __call__(self, bgr: np.ndarray, t: float) -> np.ndarray:
        parts = []
        if self.features.uses_mobilenet:
            parts.append(np.asarray(self.embed_one(prepare(bgr, self.spec)), np.float32))
        if self.features.uses_pose:
            parts.append(self._pose_part(bgr, t))
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def landmarks(self) -> list[list[float]] | None:
        """The latest pose's 33 landmarks as image-normalised [x, y, visibility] (for drawing), or None."""
        if self.pose is None:
            return None
        w, h = self.pose.image_size
        lm = self.pose.landmarks
        return [[round(float(x / w), 4), round(float(y / h), 4), round(float(v), 3)] for x, y, v in lm[:, [0, 1, 3]]]

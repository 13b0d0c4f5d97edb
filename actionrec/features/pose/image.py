"""The picture a pose runs on: the source frame capped at a long side, and finer pixels for small people.

Poses are found on the source capped at ``long_side`` px (``FeatureSpec.pose_long_side``, 640), where
their coordinates are: the detector sees 224x224 and the landmark model a 256x256 crop, so a person up to
256 px tall in a 640-px frame keeps every pixel the models use. A person smaller than that in a larger
source had fewer: a crop under ``FINE_BELOW`` px of the capped frame comes from the source itself (capped at
``FINE_LONG_SIDE``), scaled into the capped frame's coordinates. Measured on the real calisthenics clip's
centre exerciser placed in a 1280x720 picture (README, Pose features): at 10 % of the picture's height
(36 px tall in the capped frame) her landmarks cropped from the capped frame were about 2 torso lengths
wrong, from the source 0.027 (median, against her poses at full size).
"""

from __future__ import annotations

import cv2
import numpy as np

FINE_BELOW = 128.0  # crops smaller than this (px of the capped frame) come from the finer source
FINE_LONG_SIDE = 1920  # the finer source's cap: a 4K frame at this size has enough for anyone


def cap_long_side(bgr: np.ndarray, long_side: int) -> np.ndarray:
    """The frame with its long side at most ``long_side`` px (area resize: no aliasing)."""
    h, w = bgr.shape[:2]
    scale = long_side / max(h, w)
    if scale >= 1.0:
        return bgr
    return cv2.resize(bgr, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


class PoseImage:
    """``frame``: the source capped at ``long_side`` (pose coordinates are its pixels); ``fine()``: the
    source capped at ``FINE_LONG_SIDE`` and its scale over ``frame``, made only when a small crop asks."""

    def __init__(self, source_bgr: np.ndarray, long_side: int | None = None):
        self.source = source_bgr
        self.frame = source_bgr if long_side is None else cap_long_side(source_bgr, long_side)
        self._fine: tuple[np.ndarray, float] | None = None

    def fine(self) -> tuple[np.ndarray, float]:
        if self._fine is None:
            if self.frame is self.source:
                self._fine = (self.frame, 1.0)
            else:
                fine = cap_long_side(self.source, max(FINE_LONG_SIDE, max(self.frame.shape[:2])))
                self._fine = (fine, fine.shape[1] / self.frame.shape[1])
        return self._fine

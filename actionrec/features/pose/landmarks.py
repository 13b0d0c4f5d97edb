"""BlazePose's landmark model (pose_landmark_full.tflite) on a rotated square crop of the person.

The crop (``Roi``) is centred on the mid-hip; its side is twice the distance from the mid-hip to the
detector's full-body point (or to auxiliary landmark 34 when tracking) times ``scale``, and it is rotated
so that this point is straight up: the model always sees an upright body. MediaPipe's rules
(AlignmentPointsRectsCalculator with target angle 90 degrees, RectTransformation square_long); its legacy
graph enlarges by 1.5, the Tasks API by 1.25 (better here: see PoseOptions.roi_scale).

Coordinates: image pixels with 0 at the left/top edge of the image (MediaPipe's normalized x times
width), so pixel index i spans [i, i + 1). The model's outputs are in crop pixels of the 256 input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from actionrec.errors import ActionrecError
from actionrec.features.pose.model import LiteModel
from actionrec.features.pose.prune import drop_outputs

INPUT_SIZE = 256
NUM_OUTPUT = 39  # 33 body landmarks + 6 auxiliary (33: body centre, 34: size/rotation point, 35-38 unused)
HEATMAP = (1, 64, 64, NUM_OUTPUT)
SEGMENTATION = (1, INPUT_SIZE, INPUT_SIZE, 1)  # never read: pruned away at load (see prune.py)


@dataclass(frozen=True)
class Roi:
    """A rotated square in the image: centre (px), side (px), rotation (radians, image y down)."""

    cx: float
    cy: float
    size: float
    rotation: float

    def _basis(self) -> np.ndarray:
        c, s = math.cos(self.rotation), math.sin(self.rotation)
        return self.size * np.array([[c, -s], [s, c]])

    def scaled(self, k: float) -> "Roi":
        """The same crop in the picture scaled by ``k`` (pixel edges at 0 scale exactly)."""
        return Roi(self.cx * k, self.cy * k, self.size * k, self.rotation)

    def to_image(self, uv: np.ndarray) -> np.ndarray:
        """Crop coordinates in [0, 1] (N, 2) -> image pixels (N, 2)."""
        return (np.asarray(uv, np.float64) - 0.5) @ self._basis().T + (self.cx, self.cy)

    def to_crop(self, xy: np.ndarray) -> np.ndarray:
        """Image pixels (N, 2) -> crop coordinates in [0, 1] (N, 2); the inverse of ``to_image``."""
        return (np.asarray(xy, np.float64) - (self.cx, self.cy)) @ np.linalg.inv(self._basis()).T + 0.5

    def warp_matrix(self, out: int = INPUT_SIZE) -> np.ndarray:
        """The 2x3 map from crop pixel indices to image pixel indices (cv2.WARP_INVERSE_MAP).

        Crop index j has centre (j + 0.5) / out in [0, 1]; image pixel index i has centre i + 0.5.
        """
        a = self._basis() / out
        b = self.to_image(np.array([[0.5 / out, 0.5 / out]]))[0] - 0.5
        return np.hstack([a, b[:, None]])


def normalize_radians(angle: float) -> float:
    return angle - 2 * math.pi * math.floor((angle + math.pi) / (2 * math.pi))


def roi_from_points(centre: np.ndarray, scale_point: np.ndarray, scale: float = 1.25) -> Roi:
    """The crop around a body: centre at ``centre``, ``scale_point`` straight up, side 2 * scale * dist."""
    dx, dy = float(scale_point[0] - centre[0]), float(scale_point[1] - centre[1])
    rotation = normalize_radians(math.pi / 2 - math.atan2(-dy, dx))
    return Roi(float(centre[0]), float(centre[1]), 2.0 * math.hypot(dx, dy) * scale, rotation)


def crop(frame_bgr: np.ndarray, roi: Roi, out: int = INPUT_SIZE) -> np.ndarray:
    """The (1, out, out, 3) RGB input in [0, 1]; outside the frame the edge pixels repeat (MediaPipe's
    default border for this model)."""
    patch = cv2.warpAffine(frame_bgr, roi.warp_matrix(out), (out, out),
                           flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
    rgb = cv2.cvtColor(patch, cv2.COLOR_BGR2RGB)
    return (rgb.astype(np.float32) * np.float32(1 / 255))[None]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -80.0, 80.0)))


def refine_from_heatmap(uv: np.ndarray, heatmap: np.ndarray, kernel: int = 7,
                        min_confidence: float = 0.5) -> np.ndarray:
    """MediaPipe's RefineLandmarksFromHeatmap: each landmark moves to the sigmoid-weighted mean of the
    heatmap cells in a kernel x kernel window around it, where that window is confident (max >= 0.5).

    ``uv`` (K, 2) crop coordinates in [0, 1]; ``heatmap`` (H, W, K) logits. Points outside stay.
    """
    h, w, k = heatmap.shape
    cols, rows = (uv[:, 0] * w).astype(int), (uv[:, 1] * h).astype(int)
    inside = (cols >= 0) & (cols < w) & (rows >= 0) & (rows < h)
    half = (kernel - 1) // 2
    offs = np.arange(-half, half + 1)
    r = rows[:, None] + offs  # (K, kernel)
    c = cols[:, None] + offs
    valid = ((r >= 0) & (r < h))[:, :, None] & ((c >= 0) & (c < w))[:, None, :]
    conf = _sigmoid(heatmap[np.clip(r, 0, h - 1)[:, :, None], np.clip(c, 0, w - 1)[:, None, :],
                            np.arange(k)[:, None, None]]) * valid  # (K, kernel, kernel), zero off the map
    total = conf.sum(axis=(1, 2))
    ok = inside & (conf.max(axis=(1, 2)) >= min_confidence) & (total > 0)
    out = uv.copy()
    safe = np.where(total > 0, total, 1.0)
    # MediaPipe divides cell indices by the map size (no half-cell shift); kept for fidelity.
    out[ok, 0] = ((conf * c[:, None, :]).sum(axis=(1, 2)) / safe / w)[ok]
    out[ok, 1] = ((conf * r[:, :, None]).sum(axis=(1, 2)) / safe / h)[ok]
    return out


@dataclass(frozen=True)
class LandmarkResult:
    points: np.ndarray  # (39, 5): x px, y px, z (px, same scale as x; smaller = nearer), visibility, presence
    world: np.ndarray  # (33, 3) metres, origin between the hips
    score: float  # pose present in the crop, in [0, 1]
    roi: Roi

    def scaled(self, k: float, roi: Roi) -> "LandmarkResult":
        """The result in the picture scaled by ``k`` (x, y and z, which is in x's pixels), from ``roi`` there."""
        points = self.points.copy()
        points[:, :3] *= k
        return LandmarkResult(points, self.world, self.score, roi)


class LandmarkModel:
    """``run(frame_bgr, roi)`` -> the 39 landmarks in image pixels, world landmarks and pose-present score."""

    def __init__(self, path: str | Path, num_threads: int = 1, refine: bool = True, prune: bool = True):
        content = None
        if prune:
            try:
                content = drop_outputs(Path(path).read_bytes(), {SEGMENTATION}, str(path))
            except OSError as exc:
                raise ActionrecError(f"cannot read the TFLite model {path}: {exc.strerror or exc}") from None
        self.model = LiteModel(path, num_threads, content)
        self.model.require((1, INPUT_SIZE, INPUT_SIZE, 3), (1, NUM_OUTPUT * 5), (1, 1), HEATMAP,
                           (1, NUM_OUTPUT * 3))
        self.refine = refine

    def run(self, frame_bgr: np.ndarray, roi: Roi) -> LandmarkResult:
        self.model.run(crop(frame_bgr, roi))
        score = float(self.model.output((1, 1))[0, 0])
        raw = self.model.output((1, NUM_OUTPUT * 5)).reshape(NUM_OUTPUT, 5).astype(np.float64)
        uv = raw[:, :2] / INPUT_SIZE
        if self.refine:
            uv = refine_from_heatmap(uv, self.model.output(HEATMAP)[0])
        points = np.empty((NUM_OUTPUT, 5))
        points[:, :2] = roi.to_image(uv)
        points[:, 2] = raw[:, 2] / INPUT_SIZE * roi.size
        points[:, 3:] = _sigmoid(raw[:, 3:])
        world = self.model.output((1, NUM_OUTPUT * 3)).reshape(NUM_OUTPUT, 3)[:33].astype(np.float64)
        return LandmarkResult(points, world, score, roi)

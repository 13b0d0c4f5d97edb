"""A BlazePose skeleton drawn over a frame (for test artifacts and the practice page's preview)."""

from __future__ import annotations

import cv2
import numpy as np

from actionrec.features.pose.tracker import Pose

# Bones of the 33-point body (MediaPipe's POSE_CONNECTIONS, face reduced to nose-eyes-ears).
BONES: tuple[tuple[int, int], ...] = (
    (0, 2), (2, 7), (0, 5), (5, 8), (9, 10),
    (11, 12), (11, 23), (12, 24), (23, 24),
    (11, 13), (13, 15), (15, 17), (15, 19), (15, 21), (17, 19),
    (12, 14), (14, 16), (16, 18), (16, 20), (16, 22), (18, 20),
    (23, 25), (25, 27), (27, 29), (27, 31), (29, 31),
    (24, 26), (26, 28), (28, 30), (28, 32), (30, 32),
)
LEFT = frozenset({1, 2, 3, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31})
RIGHT = frozenset(range(1, 33)) - LEFT  # 0, the nose, is the only midline point
# BGR: the person's left in orange, right in cyan, the midline white: a left/right swap shows at a glance.
_LEFT, _RIGHT, _MID = (0, 140, 255), (255, 200, 0), (255, 255, 255)


def _side_colour(a: int, b: int) -> tuple[int, int, int]:
    if a in LEFT and b in LEFT:
        return _LEFT
    if a in RIGHT and b in RIGHT:
        return _RIGHT
    return _MID  # bones across the body (shoulders, hips, mouth) and to the nose


def draw_pose(frame_bgr: np.ndarray, pose: Pose | None, min_visibility: float = 0.3,
              show_roi: bool = True) -> np.ndarray:
    """A copy of the frame with the skeleton (and the crop it came from) drawn on; unchanged if no pose."""
    out = frame_bgr.copy()
    if pose is None:
        return out
    scale = 16  # cv2 fixed point (shift 4): sub-pixel positions
    pts = np.round((pose.landmarks[:, :2] - 0.5) * scale).astype(np.int32)  # centres of pixels are at i + 0.5
    seen = pose.landmarks[:, 3] >= min_visibility
    thick = max(1, round(min(out.shape[:2]) / 240))
    if show_roi:
        corners = pose.roi.to_image(np.array([[0, 0], [1, 0], [1, 1], [0, 1]])) - 0.5
        cv2.polylines(out, [np.round(corners * scale).astype(np.int32)], True, (80, 80, 80), 1, cv2.LINE_AA, 4)
    for a, b in BONES:
        if seen[a] and seen[b]:
            cv2.line(out, tuple(pts[a]), tuple(pts[b]), _side_colour(a, b), thick + 1, cv2.LINE_AA, 4)
    for i in np.flatnonzero(seen):
        cv2.circle(out, tuple(pts[i]), (thick + 1) * scale, _LEFT if i in LEFT else _RIGHT if i in RIGHT else _MID,
                   -1, cv2.LINE_AA, 4)
    return out

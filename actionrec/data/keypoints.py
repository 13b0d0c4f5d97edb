"""Keypoint clips: skeletons from other tools (Kinect, COCO detectors, BlazePose) used like video clips.

On-disk format: ``NAME.kp.npz`` (a NumPy ``.npz``, read with ``allow_pickle=False``) holding
    points  float32 (N, J, D), D = 2 or 3: joint j of frame i; NaN where the source has no point
    joints  str (J,): the joint names, all of one joint set below (which names it is says which set)
    fps     float64 scalar: frames per second (frame i is at time i / fps)
    yaw     float64 scalar, optional (default 0): the camera yaw in degrees at which 3-D points are seen
            (projection below); one recording imported at several yaws is several clips
2-D points are image pixels (x right, y down). 3-D points are metres in camera axes: x right, y down,
z away from the camera (OpenCV's); importers convert to these (the Kinect's y up and x to the sensor's
left become y down and x right). A ``.kp.npz`` is a clip in both dataset layouts: in a label folder, or
listed in annotations.csv with segments in seconds; groups.csv names it like any clip.

Joint sets, mapped onto BlazePose-33 (``features/pose/vector.py``); a BlazePose joint the source lacks is
NaN, which the pose vector treats as missing (visibility and presence 0):
  - ``blazepose33``: the 33 names themselves.
  - ``coco17``: nose, eyes, ears, shoulders, elbows, wrists, hips, knees, ankles: all have BlazePose
    joints of the same name; the inner/outer eyes, mouth, hands, heels and feet are missing.
  - ``kinect_v1`` (20): ShoulderLeft/Right, ElbowLeft/Right, WristLeft/Right, HipLeft/Right,
    KneeLeft/Right, AnkleLeft/Right map to the joints of the same name; HandLeft/Right (the hand's centre
    towards the fingers) -> left/right_index; FootLeft/Right -> left/right_foot_index; Head (the head's
    centre) -> nose, the only face joint, a few cm off; HipCenter, Spine and ShoulderCenter have no
    BlazePose joint and are dropped: the pose vector derives mid-hip and mid-shoulder from the left/right
    joints (Kinect's HipLeft/HipRight), as it does for BlazePose.

Projection (3-D -> the (33, 5) landmarks ``pose_vector`` takes): orthographic, at a camera yaw. The
points are turned about the vertical axis through the clip's mean hip centre by ``yaw`` degrees (yaw 0:
the recording camera's view; 90: the camera moved round to the left side of a person who faced it,
who then faces the image's left), then x, y are scaled by ``PIXELS_PER_METRE`` into pixels and z is kept as relative depth.
Orthographic because pose_vector normalises position and size anyway, and a person 2-3 m from a Kinect
spans about 25 degrees of view, where perspective changes limb lengths by under 10 %.
"""

from __future__ import annotations

import math
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from actionrec.data.clock import ModelClock
from actionrec.errors import ActionrecError
from actionrec.features.pose.vector import BLAZEPOSE_33, JOINT, NUM_JOINTS

KEYPOINT_SUFFIX = ".kp.npz"
# Frame rates a skeleton source records at: Kinect 30, pose estimators a video's rate, motion capture up to a
# few thousand.
KEYPOINT_FPS = (1.0, 10_000.0)
PIXELS_PER_METRE = 200.0  # any scale: pose_vector divides by the torso length

COCO_17: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)
KINECT_V1: tuple[str, ...] = (
    "HipCenter", "Spine", "ShoulderCenter", "Head", "ShoulderLeft", "ElbowLeft", "WristLeft", "HandLeft",
    "ShoulderRight", "ElbowRight", "WristRight", "HandRight", "HipLeft", "KneeLeft", "AnkleLeft", "FootLeft",
    "HipRight", "KneeRight", "AnkleRight", "FootRight",
)
_KINECT_TO_BLAZE = {
    "Head": "nose", "HandLeft": "left_index", "HandRight": "right_index",
    "FootLeft": "left_foot_index", "FootRight": "right_foot_index",
    **{f"{part}{side}": f"{side.lower()}_{part.lower()}" for side in ("Left", "Right")
       for part in ("Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle")},
}
# joint set -> (its names, name -> BlazePose-33 name or None when it has none)
JOINT_SETS: dict[str, tuple[tuple[str, ...], dict[str, str | None]]] = {
    "blazepose33": (BLAZEPOSE_33, {n: n for n in BLAZEPOSE_33}),
    "coco17": (COCO_17, {n: n for n in COCO_17}),
    "kinect_v1": (KINECT_V1, {n: _KINECT_TO_BLAZE.get(n) for n in KINECT_V1}),
}


def is_keypoint_clip(path: Path) -> bool:
    return path.name.lower().endswith(KEYPOINT_SUFFIX)


def joint_set_of(joints) -> str:
    """The name of the joint set whose names are exactly ``joints`` (in any order)."""
    names = set(joints)
    for name, (members, _) in JOINT_SETS.items():
        if names == set(members) and len(joints) == len(members):
            return name
    raise ValueError(f"joint names {list(joints)[:4]}...: expected all of one joint set ({', '.join(JOINT_SETS)})")


@dataclass(frozen=True)
class KeypointClip:
    points: np.ndarray  # (N, J, D) float32
    joints: tuple[str, ...]
    fps: float
    yaw: float = 0.0

    @property
    def frames(self) -> int:
        return int(self.points.shape[0])

    @property
    def duration(self) -> float:
        return self.frames / self.fps

    @property
    def joint_set(self) -> str:
        return joint_set_of(self.joints)

    def to_blazepose(self) -> np.ndarray:
        """(N, 33, D) float64: the source's points in BlazePose-33 order, NaN where it has no joint."""
        _, mapping = JOINT_SETS[self.joint_set]
        out = np.full((self.frames, NUM_JOINTS, self.points.shape[2]), np.nan)
        for j, name in enumerate(self.joints):
            target = mapping[name]
            if target is not None:
                out[:, JOINT[target]] = self.points[:, j]
        return out


def _check(points: np.ndarray, joints, fps: float, source: str) -> None:
    if points.ndim != 3 or points.shape[2] not in (2, 3) or points.shape[0] < 1:
        raise ActionrecError(f"{source}: points of shape {points.shape}; expected (frames >= 1, joints, 2 or 3)")
    if points.shape[1] != len(joints):
        raise ActionrecError(f"{source}: {points.shape[1]} joints of points but {len(joints)} joint names")
    try:
        joint_set_of(joints)
    except ValueError as exc:
        raise ActionrecError(f"{source}: {exc}") from None
    lo, hi = KEYPOINT_FPS
    if not (math.isfinite(fps) and lo <= fps <= hi):  # 1e300 fps made 232 frames one
        raise ActionrecError(f"{source}: fps {fps:g}; expected a frame rate from {lo:g} to {hi:g}")
    if np.isinf(points).any():
        raise ActionrecError(f"{source}: infinite coordinates; expected finite numbers or NaN for a missing joint")


def save_keypoints(path: str | os.PathLike, points, joints, fps: float, yaw: float = 0.0) -> None:
    """Write a keypoint clip atomically (temp + rename)."""
    from actionrec.util.atomic import write_npz

    points = np.asarray(points, np.float32)
    joints = tuple(str(j) for j in joints)
    _check(points, joints, float(fps), str(path))
    if not str(path).lower().endswith(KEYPOINT_SUFFIX):
        raise ActionrecError(f"{path}: a keypoint clip's name must end in {KEYPOINT_SUFFIX}")
    if not math.isfinite(yaw) or (yaw and points.shape[2] == 2):
        raise ActionrecError(f"{path}: camera yaw {yaw}; expected a finite angle, and 0 for 2-D points")
    write_npz(path, points=points, joints=np.array(joints, dtype=str), fps=np.float64(fps), yaw=np.float64(yaw))


def load_keypoints(path: str | os.PathLike) -> KeypointClip:
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            points, joints, fps = z["points"], tuple(str(j) for j in z["joints"]), float(z["fps"])
            yaw = float(z["yaw"]) if "yaw" in z.files else 0.0
    except FileNotFoundError:
        raise ActionrecError(f"{path}: no such keypoint clip") from None
    except (OSError, KeyError, ValueError, EOFError, TypeError, zipfile.BadZipFile) as exc:
        raise ActionrecError(f"{path}: not a readable keypoint clip ({type(exc).__name__}: {exc}); expected a "
                             f"{KEYPOINT_SUFFIX} with points, joints and fps") from None
    if not np.issubdtype(points.dtype, np.floating):
        raise ActionrecError(f"{path}: points of type {points.dtype}; expected floating point")
    _check(points, joints, fps, str(path))
    if not math.isfinite(yaw) or (yaw and points.shape[2] == 2):
        raise ActionrecError(f"{path}: camera yaw {yaw}; expected a finite angle, and 0 for 2-D points")
    return KeypointClip(points.astype(np.float32), joints, fps, yaw)


def project(points: np.ndarray, yaw: float = 0.0) -> np.ndarray:
    """(N, 33, 5) landmarks (x, y in px, z, visibility, presence) from (N, 33, 2|3) BlazePose-ordered points.

    3-D points are turned by ``yaw`` degrees about the vertical axis through the clip's mean hip centre
    and projected orthographically (module docstring); 2-D points are used as they are (yaw must be 0).
    Present joints get visibility = presence = 1; absent ones NaN coordinates and 0, 0."""
    points = np.asarray(points, np.float64)
    n = points.shape[0]
    present = np.isfinite(points).all(axis=2)
    out = np.zeros((n, NUM_JOINTS, 5))
    if points.shape[2] == 2:
        if yaw:
            raise ActionrecError(f"camera yaw {yaw}: 2-D keypoints can only be used as seen (yaw 0)")
        out[:, :, :2] = points
    else:
        hips = points[:, [JOINT["left_hip"], JOINT["right_hip"]]].reshape(-1, 3)
        hips = hips[np.isfinite(hips).all(axis=1)]
        seen = points.reshape(-1, 3)
        seen = seen[np.isfinite(seen).all(axis=1)]
        centre = hips.mean(axis=0) if len(hips) else seen.mean(axis=0) if len(seen) else np.zeros(3)  # all NaN: nobody
        a = math.radians(yaw)
        rel = points - centre
        x = rel[..., 0] * math.cos(a) + rel[..., 2] * math.sin(a)
        z = -rel[..., 0] * math.sin(a) + rel[..., 2] * math.cos(a)
        out[:, :, 0] = x * PIXELS_PER_METRE
        out[:, :, 1] = rel[..., 1] * PIXELS_PER_METRE
        out[:, :, 2] = z * PIXELS_PER_METRE
    out[:, :, 3:] = present[..., None]
    out[~present, :3] = np.nan
    return out


def resample_indices(frames: int, fps: float, target_fps: float) -> np.ndarray:
    """The frames video clips keep at ``target_fps`` (``ModelClock``'s rule; 0 keeps every frame)."""
    return np.asarray(ModelClock(target_fps).keep(np.arange(frames) / fps), int)


def keypoint_info(path: str | os.PathLike) -> tuple[int, float]:
    """Frames and frame rate of a keypoint clip (``video.probe`` turns them into a ``VideoInfo`` of size
    0 x 0: it has no pixels), so inspect and checks treat it like a video."""
    clip = load_keypoints(path)
    return clip.frames, clip.fps

"""The per-frame pose feature: BlazePose's 33 landmarks normalized for position and size, plus a flag.

Layout (``POSE_DIM`` = 33 * 5 + 1 = 166 float32):
    [j * 5 + 0 .. j * 5 + 4]  joint j of ``BLAZEPOSE_33``: x, y, z, visibility, presence
    [POSE_DIM - 1]            NO_PERSON flag: 1.0 when the frame has no (usable) pose, else 0.0
x, y, z are relative to the mid-hip and divided by the torso length (mid-shoulder to mid-hip, in the
image plane), in image orientation (x right, y down; z negative towards the camera, as BlazePose has it). A frame without a
pose is all zeros except the flag = 1: the models see "nobody", never a pose at the origin.

Missing joints. BlazePose always predicts all 33, also out of the picture, where it says so through
visibility and presence (both about 0.01): with the picture cut 0.6 torso lengths above the hips, its
predicted mid-hip stayed within 0.15 torso of where it was with the hips in view (4 boxing frames), and
the torso length within 4 %. So predicted positions are used as they are, whatever their presence. A
joint is *missing* only when its coordinates are not finite: a source that lacks joints (a COCO-17 or
Kinect mapping onto these 33) writes NaN there. Then:
  - one hip missing: mid-hip = the other hip + half the shoulder vector pointing towards the missing
    side, scaled by HIP_TO_SHOULDER (hips are narrower than shoulders; the hip line is taken parallel
    to the shoulder line);
  - both hips, or a shoulder, missing, or a torso under 1e-6 px: the pose cannot be normalized and the
    frame counts as "no person" (flag 1).
Missing joints themselves are zeros with visibility and presence 0.

Left/right. Profile views make the estimator swap left and right limbs. ``SIDE_SWAP`` is the joint
permutation that swaps them; ``swap_sides`` applies it (an augmentation imitating the estimator's swap),
``mirror`` also negates x (a horizontal flip of the picture), and ``side_symmetric`` replaces each
left/right pair by its mean and absolute difference, which no swap changes.
"""

from __future__ import annotations

import numpy as np

BLAZEPOSE_33: tuple[str, ...] = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye", "right_eye_outer",
    "left_ear", "right_ear", "mouth_left", "mouth_right",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_pinky", "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_heel", "right_heel", "left_foot_index", "right_foot_index",
)
JOINT = {name: i for i, name in enumerate(BLAZEPOSE_33)}
NUM_JOINTS = len(BLAZEPOSE_33)
CHANNELS = ("x", "y", "z", "visibility", "presence")
POSE_DIM = NUM_JOINTS * len(CHANNELS) + 1
NO_PERSON = POSE_DIM - 1  # index of the flag
HIP_TO_SHOULDER = 0.7  # hip width / shoulder width of an adult, for the one-missing-hip rule


def _other_side(name: str) -> str:
    for a, b in (("left", "right"), ("right", "left")):
        if a in name:
            return name.replace(a, b)
    return name


SIDE_SWAP: np.ndarray = np.array([JOINT[_other_side(n)] for n in BLAZEPOSE_33])
# The same swap as a permutation of the vector's columns (the flag stays last): ``v[..., SWAP_COLUMNS]``.
SWAP_COLUMNS: np.ndarray = np.append((SIDE_SWAP[:, None] * len(CHANNELS) + np.arange(len(CHANNELS))).ravel(),
                                     NUM_JOINTS * len(CHANNELS))
PAIRS: tuple[tuple[int, int], ...] = tuple((i, int(j)) for i, j in enumerate(SIDE_SWAP) if i < j)

_L_SH, _R_SH, _L_HIP, _R_HIP = JOINT["left_shoulder"], JOINT["right_shoulder"], JOINT["left_hip"], JOINT["right_hip"]


def no_person() -> np.ndarray:
    v = np.zeros(POSE_DIM, np.float32)
    v[NO_PERSON] = 1.0
    return v


def _mid_hip(xyz: np.ndarray, ok: np.ndarray) -> np.ndarray | None:
    if ok[_L_HIP] and ok[_R_HIP]:
        return (xyz[_L_HIP] + xyz[_R_HIP]) / 2
    if not (ok[_L_SH] and ok[_R_SH]) or not (ok[_L_HIP] or ok[_R_HIP]):
        return None
    seen, same, other = (_L_HIP, _L_SH, _R_SH) if ok[_L_HIP] else (_R_HIP, _R_SH, _L_SH)
    return xyz[seen] + 0.5 * HIP_TO_SHOULDER * (xyz[other] - xyz[same])


def pose_vector(pose) -> np.ndarray:
    """The (POSE_DIM,) float32 vector of one frame: ``pose`` is a tracker ``Pose``, a (33, 5) array of
    landmarks (x, y, z, visibility, presence in pixels), or None for a frame without a person."""
    if pose is None:
        return no_person()
    lm = np.asarray(getattr(pose, "landmarks", pose), np.float64)
    if lm.shape != (NUM_JOINTS, 5):
        raise ValueError(f"pose landmarks of shape {lm.shape}: expected ({NUM_JOINTS}, 5)")
    ok = np.isfinite(lm[:, :3]).all(axis=1)
    xyz = np.where(ok[:, None], lm[:, :3], 0.0)
    hip = _mid_hip(xyz, ok)
    if hip is None or not (ok[_L_SH] and ok[_R_SH]):
        return no_person()
    shoulder = (xyz[_L_SH] + xyz[_R_SH]) / 2
    torso = float(np.linalg.norm(shoulder[:2] - hip[:2]))
    if not torso > 1e-6:
        return no_person()
    out = np.zeros((NUM_JOINTS, 5))
    out[:, :3] = (xyz - hip) / torso  # BlazePose's z is already about 0 at the hips; other sources' is not
    out[:, 3:] = np.clip(np.nan_to_num(lm[:, 3:]), 0.0, 1.0)
    out[~ok] = 0.0
    return np.append(out.ravel(), 0.0).astype(np.float32)


def pose_vectors(poses) -> np.ndarray:
    """(N, POSE_DIM) for a sequence of poses (each a Pose, a (33, 5) array or None)."""
    return np.stack([pose_vector(p) for p in poses]) if len(poses) else np.zeros((0, POSE_DIM), np.float32)


def _vectors(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, np.float32)
    if v.shape[-1] != POSE_DIM:
        raise ValueError(f"pose vectors of width {v.shape[-1]}: expected {POSE_DIM}")
    return v


def _joints(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    v = _vectors(v)
    return v[..., :-1].reshape(*v.shape[:-1], NUM_JOINTS, 5), v[..., -1:]


def swap_sides(v: np.ndarray) -> np.ndarray:
    """Left joints become right ones and back, positions unchanged: the estimator's profile-view error."""
    return _vectors(v)[..., SWAP_COLUMNS]


def mirror(v: np.ndarray) -> np.ndarray:
    """The vector of the horizontally flipped picture: sides swapped and x negated (z, flag unchanged)."""
    joints, flag = _joints(v)
    joints = joints[..., SIDE_SWAP, :].copy()
    joints[..., 0] *= -1.0
    joints[..., 0] += 0.0  # no -0.0 in the output: same bytes for the same pose
    return np.concatenate([joints.reshape(*flag.shape[:-1], -1), flag], axis=-1)


def side_symmetric(v: np.ndarray) -> np.ndarray:
    """Same width; each left/right pair (a, b) becomes ((a + b) / 2, |a - b|) per channel, so a side swap
    leaves it unchanged. The midline joints (nose) stay as they are."""
    joints, flag = _joints(v)
    out = joints.copy()
    a, b = np.array([p[0] for p in PAIRS]), np.array([p[1] for p in PAIRS])
    out[..., a, :] = (joints[..., a, :] + joints[..., b, :]) / 2
    out[..., b, :] = np.abs(joints[..., a, :] - joints[..., b, :])
    return np.concatenate([out.reshape(*flag.shape[:-1], -1), flag], axis=-1)

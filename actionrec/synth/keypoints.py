"""A synthetic video's joints as a keypoint clip: where each joint is in the picture, BlazePose-named.

The figure's joints map onto BlazePose-33 as a Kinect's do (``data/keypoints.py``): shoulders, elbows,
wrists, hips, knees and ankles by name, the hand's end as the index finger, the toe as the foot's index, and
the nose a head radius in front of the head's centre; the rest are NaN (missing). The figure's lead limbs
are its left ones; in a mirrored video they look like right ones, and are named so (as BlazePose would).

Noise. A pose estimator is not exact. ``keypoint_noise`` scales a model of BlazePose's error on rendered
frames of these fighters (``BLAZEPOSE_ERROR``: measured per joint group, in torso lengths, and how much of
it carries over from one frame to the next at 10 fps): each joint's x and y get an AR(1) Gaussian offset
with that deviation and frame-to-frame correlation, from the clip's own seeded stream.
"""

from __future__ import annotations

import numpy as np

from actionrec.features.pose.vector import BLAZEPOSE_33, JOINT, NUM_JOINTS, SIDE_SWAP
from actionrec.synth.figure import JOINT_INDEX, Skeletons
from actionrec.synth.plan import ClipPlan
from actionrec.synth.scene import shake_shifts

_FIGURE_TO_BLAZE = {
    f"{side}_{part}": (f"{name}_{part}" if part not in ("hand", "toe") else
                       f"{name}_{'index' if part == 'hand' else 'foot_index'}")
    for side, name in (("lead", "left"), ("rear", "right"))
    for part in ("shoulder", "elbow", "wrist", "hand", "hip", "knee", "ankle", "toe")
}

# BlazePose's error on rendered fighters, per joint (root-mean-square in torso lengths, bias included) and
# its frame-to-frame correlation at the model's 10 fps: `python -m actionrec.synth.keypoints 3` (webcam
# cameras, 640x360, 489 frames of 21 clips, a pose in 387; 4.3 % of joints off by over 1.5 torso lengths,
# swapped or lost limbs, left out). The figures are large because they include the figure's own idea of
# where a shoulder or hip is, which is not BlazePose's.
BLAZEPOSE_ERROR: dict[str, float] = {
    "nose": 0.153, "shoulder": 0.25, "elbow": 0.308, "wrist": 0.355, "index": 0.368,
    "hip": 0.231, "knee": 0.364, "ankle": 0.386, "foot_index": 0.36,
}
ERROR_CORRELATION = 0.825


def _group(part: str) -> list[int]:
    """The BlazePose joints of one ``BLAZEPOSE_ERROR`` group: "wrist" -> left_wrist, right_wrist."""
    # Exact names, not suffixes: "index" (the hand's) must not take in left_foot_index and right_foot_index.
    return [j for name, j in JOINT.items() if name in (part, f"left_{part}", f"right_{part}")]


def _sigma() -> np.ndarray:
    """(33,) deviation per BlazePose joint (0 for those the figure lacks: they are NaN anyway)."""
    out = np.zeros(NUM_JOINTS)
    for part, sd in BLAZEPOSE_ERROR.items():
        out[_group(part)] = sd
    return out


def exact_points(plan: ClipPlan, skel: Skeletons, times: np.ndarray) -> np.ndarray:
    """(N, 33, 2) float64: the image positions (pixels) of the figure's joints, NaN where it has none."""
    shifts = shake_shifts(plan.scene, times)
    uv = plan.scene.view.project(skel.points)[0] + shifts[:, None, :]
    out = np.full((len(times), NUM_JOINTS, 2), np.nan)
    for fig, blaze in _FIGURE_TO_BLAZE.items():
        out[:, JOINT[blaze]] = uv[:, JOINT_INDEX[fig]]
    # The nose: in front of the head's centre, where the face looks (the chest's direction, level).
    nose = skel.points[:, JOINT_INDEX["head"]] + skel.chest * plan.person.body.head_r
    out[:, JOINT["nose"]] = plan.scene.view.project(nose)[0] + shifts
    return out[:, SIDE_SWAP] if plan.camera.mirror else out


def noisy(points: np.ndarray, scale: float, fps: float, rng: np.random.Generator) -> np.ndarray:
    """``points`` (N, 33, 2) with BlazePose-like AR(1) jitter, ``scale`` times the measured deviation,
    in torso lengths of each frame (so a small, far person gets as much relative error as a near one)."""
    if scale <= 0 or len(points) == 0:
        return points
    sh = (points[:, JOINT["left_shoulder"]] + points[:, JOINT["right_shoulder"]]) / 2
    hip = (points[:, JOINT["left_hip"]] + points[:, JOINT["right_hip"]]) / 2
    torso = np.linalg.norm(sh - hip, axis=1)[:, None, None]
    # The correlation is per 0.1 s: a 30 fps clip's neighbours are closer than the model's 10 fps steps.
    rho = ERROR_CORRELATION ** (10.0 / fps)
    shocks = rng.standard_normal(points.shape)
    e = np.empty_like(shocks)
    e[0] = shocks[0]
    for i in range(1, len(e)):
        e[i] = rho * e[i - 1] + np.sqrt(1 - rho * rho) * shocks[i]
    return points + e * (scale * _sigma())[None, :, None] * torso


def keypoint_clip(plan: ClipPlan, noise: float, seed: int) -> np.ndarray:
    """(N, 33, 2) float32 image points of every frame of a plan, with ``noise`` times BlazePose's error."""
    times = plan.times
    points = exact_points(plan, plan.skeletons(times), times)
    return noisy(points, noise, plan.fps, _plan_rng(plan, seed)).astype(np.float32)


def _plan_rng(plan: ClipPlan, seed: int) -> np.random.Generator:
    """The clip's own noise stream, from the dataset's seed and the clip's path (``hash()`` is salted per
    process, so the path's bytes are used)."""
    text = plan.path.encode()
    words = np.frombuffer(text.ljust(-(-len(text) // 4) * 4, b"\0"), "<u4")
    return np.random.default_rng([seed, _NOISE_STREAM, *words.tolist()])


_NOISE_STREAM = 3000
JOINT_NAMES = BLAZEPOSE_33


def measure_blazepose_error(plans: list[ClipPlan], fps: float = 10.0, long_side: int = 640) -> dict:
    """BlazePose's error on rendered frames of ``plans``, against their exact joints: per ``BLAZEPOSE_ERROR``
    group, the deviation of the x, y error in torso lengths (errors over 1.5 torso lengths, a swapped or lost
    limb, left out as outliers, counted in ``outliers``), and its correlation from one 10 fps step to the
    next. The figures ``BLAZEPOSE_ERROR`` holds come from this on webcam-range plans."""
    import cv2

    from actionrec.features.pose.tracker import PoseEstimator, PoseOptions
    from actionrec.features.pose.image import PoseImage

    estimator = PoseEstimator(PoseOptions())
    errors: list[np.ndarray] = []  # (frames, 33, 2) per clip, NaN where there is no pose or joint
    for plan in plans:
        from actionrec.synth.render import render

        times = np.arange(0.0, plan.duration, 1.0 / fps)
        frames, skel = render(plan, times)
        exact = exact_points(plan, skel, times)
        estimator.clear()
        err = np.full(exact.shape, np.nan)
        for k, (t, rgb) in enumerate(zip(times, frames)):
            image = PoseImage(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), long_side)
            pose = estimator.process(image, float(t))
            if pose is None:
                continue
            scale = image.frame.shape[1] / rgb.shape[1]
            torso = np.linalg.norm(((exact[k, JOINT["left_shoulder"]] + exact[k, JOINT["right_shoulder"]])
                                    - (exact[k, JOINT["left_hip"]] + exact[k, JOINT["right_hip"]])) / 2)
            err[k] = (pose.landmarks[:, :2] / scale - exact[k]) / torso
        errors.append(err)
    e = np.concatenate(errors)
    size = np.linalg.norm(e, axis=2)
    outlier = size > 1.5
    out: dict = {"frames": int(len(e)), "posed": int(np.isfinite(size).any(axis=1).sum()),
                 "outliers": float(np.nanmean(np.where(np.isfinite(size), outlier, np.nan)))}
    for part in BLAZEPOSE_ERROR:
        joints = _group(part)
        vals = e[:, joints][~outlier[:, joints]]
        vals = vals[np.isfinite(vals).all(axis=1)]
        out[part] = round(float(np.sqrt(np.mean(vals ** 2))), 3) if len(vals) else None
    lagged = [(a[:-1], a[1:]) for a in errors]
    x0 = np.concatenate([a.reshape(len(a), -1) for a, _ in lagged]).ravel()
    x1 = np.concatenate([b.reshape(len(b), -1) for _, b in lagged]).ravel()
    ok = np.isfinite(x0) & np.isfinite(x1) & (np.abs(x0) < 1.5) & (np.abs(x1) < 1.5)
    out["correlation"] = round(float(np.corrcoef(x0[ok], x1[ok])[0, 1]), 3)
    return out


if __name__ == "__main__":  # python -m actionrec.synth.keypoints: measure BLAZEPOSE_ERROR again
    import json
    import sys

    from actionrec.synth.options import SynthConfig, webcam_options
    from actionrec.synth.plan import plan_dataset

    people = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    plans = [p for p in plan_dataset(SynthConfig(seed=7, people=people, clips_per_class=1, sparring_per_person=0,
                                                 options=webcam_options(width=640, height=360)))]
    print(json.dumps(measure_blazepose_error(plans), indent=1))

"""Landmark pixel error against the exact joints of rendered synthetic fighters (synth knows every joint).

The fighter stands orthodox: its "lead" limbs are the left ones. Errors are in units of the fighter's
standing height in pixels, so they mean the same at any frame size.
"""

from __future__ import annotations


import cv2
import numpy as np
import pytest

from actionrec.features.pose.tracker import PoseEstimator, PoseOptions
from actionrec.features.pose.vector import JOINT
from actionrec.synth.figure import JOINT_INDEX
from actionrec.synth.options import CLASSES, RenderOptions
from actionrec.synth.people import make_person
from actionrec.synth.plan import plan_class_clip
from actionrec.synth.render import render
from actionrec.synth.scene import _Camera

# synth joint -> BlazePose joint (the lead side is the left side)
MATCH = [(f"{synth_side}_{part}", JOINT[f"{side}_{part}"])
         for synth_side, side in (("lead", "left"), ("rear", "right"))
         for part in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")]


@pytest.fixture(scope="module", autouse=True)
def pose_models(pose_models_env):
    return pose_models_env


def errors_on(plan, estimator: PoseEstimator) -> tuple[list[float], int]:
    """Per found frame: mean joint error / body height; and the number of frames without a pose."""
    frames, skel = render(plan)
    uv = plan.scene.view.project(skel.points)[0] + _Camera(plan.scene).shifts(plan.times)[:, None, :]
    b = plan.person.body
    height = (b.torso + b.neck + 2 * b.head_r + b.thigh + b.shin) * plan.scene.view.scale
    truth = uv[:, [JOINT_INDEX[name] for name, _ in MATCH]]
    estimator.clear()
    errors, missed = [], 0
    for k, rgb in enumerate(frames):
        pose = estimator.process(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), k / plan.fps)
        if pose is None:
            missed += 1
            continue
        # synth draws at pixel-index coordinates (centres on integers); landmarks have 0 at the edge.
        pred = pose.landmarks[[j for _, j in MATCH], :2] - 0.5
        errors.append(float(np.linalg.norm(pred - truth[k], axis=1).mean() / height))
    return errors, missed


@pytest.mark.slow
def test_landmarks_land_on_the_synthetic_joints():
    opts = RenderOptions(width=320, height=240)
    est = PoseEstimator(PoseOptions())
    errors, missed, frames = [], 0, 0
    for person in range(2):
        p = make_person(11, person)
        for c, label in enumerate(CLASSES):
            if label in ("other/idle", "punch/jab", "kick/roundhouse"):
                e, m = errors_on(plan_class_clip(11, p, c, 0, opts), est)
                errors += e
                missed += m
                frames += len(e) + m
    errors = np.array(errors)
    print(f"{len(errors)} of {frames} frames with a pose; joint error / body height: median "
          f"{np.median(errors):.3f}, p90 {np.percentile(errors, 90):.3f}")
    assert missed <= 0.05 * frames  # one clear figure per frame: found (almost) always
    # Measured 0.03 median on 1675 frames (4 people x 7 classes); the legacy 1.5 crop margin gave 0.06.
    assert np.median(errors) < 0.05
    assert np.percentile(errors, 90) < 0.15

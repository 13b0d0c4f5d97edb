"""The rotated person crop, its projection back to the image, heatmap refinement, and the real model."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from conftest import PUNCH_AVI

from actionrec.features.pose import detector as D
from actionrec.features.pose import landmarks as L
from actionrec.features.pose.assets import find_pose_models



@pytest.fixture(scope="module")
def models(pose_models_dir):
    return find_pose_models(pose_models_dir)


ROIS = [L.Roi(160.0, 120.0, 200.0, 0.0), L.Roi(100.3, 80.7, 333.3, 0.7), L.Roi(-20.0, 300.0, 90.0, -2.5)]


@pytest.mark.parametrize("roi", ROIS)
def test_projection_round_trip_within_a_thousandth_of_a_pixel(roi):
    rng = np.random.default_rng(0)
    xy = rng.uniform(-100, 500, size=(50, 2))
    np.testing.assert_allclose(roi.to_image(roi.to_crop(xy)), xy, atol=1e-3)
    # The crop's centre is the ROI centre and its corners are size/sqrt(2) away from it.
    np.testing.assert_allclose(roi.to_image([[0.5, 0.5]]), [[roi.cx, roi.cy]])
    corner = roi.to_image([[0.0, 0.0]])[0]
    assert math.hypot(corner[0] - roi.cx, corner[1] - roi.cy) == pytest.approx(roi.size / math.sqrt(2))


@pytest.mark.parametrize("roi", ROIS[:2])
def test_the_warped_crop_shows_a_point_where_the_projection_says(roi):
    """A bright 3x3 dot in the frame: its centroid in the warped crop, projected back, is the dot."""
    frame = np.zeros((240, 320, 3), np.uint8)
    dot = np.array([131.0, 97.0])  # pixel indices; its centre in image coordinates is +0.5
    frame[96:99, 130:133] = 255
    patch = L.crop(frame, roi)[0, :, :, 0]
    ys, xs = np.nonzero(patch > 0.02)
    w = patch[ys, xs]
    uv = np.array([[(np.sum(xs * w) / w.sum() + 0.5) / L.INPUT_SIZE, (np.sum(ys * w) / w.sum() + 0.5) / L.INPUT_SIZE]])
    err = np.abs(roi.to_image(uv)[0] - (dot + 0.5))
    assert err.max() < 0.35, err  # bilinear resampling blurs the dot, the centroid stays put


def test_roi_turns_the_body_upright():
    hip = np.array([100.0, 100.0])
    up = L.roi_from_points(hip, hip + (0, -40), scale=1.25)
    assert up.rotation == pytest.approx(0.0) and up.size == pytest.approx(100.0)
    # Lying with the head to the right: the crop's top (v = 0) must point right in the image.
    lying = L.roi_from_points(hip, hip + (40, 0), scale=1.5)
    assert lying.rotation == pytest.approx(math.pi / 2) and lying.size == pytest.approx(120.0)
    top = lying.to_image([[0.5, 0.0]])[0]
    np.testing.assert_allclose(top, hip + (60, 0), atol=1e-9)
    # Upside down: rotation of pi (normalized into [-pi, pi)).
    assert abs(L.roi_from_points(hip, hip + (0, 40)).rotation) == pytest.approx(math.pi)


def test_heatmap_refinement_moves_to_a_confident_peak_only():
    hm = np.full((64, 64, 3), -10.0, np.float32)
    hm[20, 30, 0] = 5.0  # landmark 0: a confident peak 2 cells right of where the regression put it
    hm[40, 10, 1] = -1.0  # landmark 1: a weak blob (sigmoid 0.27 < 0.5): not used
    uv = np.array([[28 / 64, 20 / 64], [12 / 64, 40 / 64], [2.0, 0.5]])  # landmark 2 outside the crop
    out = L.refine_from_heatmap(uv, hm)
    assert out[0, 0] == pytest.approx(30 / 64, abs=2e-3) and out[0, 1] == pytest.approx(20 / 64, abs=2e-3)
    np.testing.assert_array_equal(out[1:], uv[1:])


def test_landmarks_on_a_real_boxer(models):
    cap = cv2.VideoCapture(str(PUNCH_AVI))
    ok, frame = cap.read()
    cap.release()
    assert ok
    det = D.PoseDetector(models.detector).detect(frame)[0]
    roi = L.roi_from_points(det.keypoints[0], det.keypoints[1])
    res = L.LandmarkModel(models.landmarker).run(frame, roi)
    assert res.score > 0.9 and res.points.shape == (39, 5) and res.world.shape == (33, 3)
    p = res.points
    mid_hip, mid_shoulder = p[[23, 24], :2].mean(0), p[[11, 12], :2].mean(0)
    assert np.linalg.norm(mid_hip - det.keypoints[0]) < 10  # the detector and the landmarks agree
    assert p[0, 1] < mid_shoulder[1] < mid_hip[1] < p[[27, 28], 1].min()  # nose, shoulders, hips, ankles
    assert 180 < p[[27, 28], 1].max() < 240  # feet near the bottom of the 240-row frame
    assert np.all((p[:33, 3:] >= 0) & (p[:33, 3:] <= 1))
    # Auxiliary 33 sits at the hips: it is the next frame's crop centre.
    assert np.linalg.norm(p[33, :2] - mid_hip) < 10


def test_pruning_the_unused_mask_changes_no_output(models):
    """The segmentation head is dropped in memory (a third of the time); what we read stays bit-identical."""
    from actionrec.errors import ActionrecError
    from actionrec.features.pose.prune import drop_outputs

    cap = cv2.VideoCapture(str(PUNCH_AVI))
    ok, frame = cap.read()
    cap.release()
    roi = L.Roi(139.4, 131.3, 266.8, 0.026)  # the boxer of frame 0
    pruned = L.LandmarkModel(models.landmarker)
    full = L.LandmarkModel(models.landmarker, prune=False)
    a, b = pruned.run(frame, roi), full.run(frame, roi)
    np.testing.assert_array_equal(a.points, b.points)
    np.testing.assert_array_equal(a.world, b.world)
    assert a.score == b.score
    assert L.SEGMENTATION in full.model._outputs and L.SEGMENTATION not in pruned.model._outputs
    with pytest.raises(ActionrecError, match="lack one of"):
        drop_outputs(models.landmarker.read_bytes(), {(1, 7, 7)}, "landmark model")

"""BlazePose's detector: anchors, decoding, weighted NMS, letterbox, and a person found in a real frame."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import PUNCH_AVI

from actionrec.features.pose import detector as D
from actionrec.features.pose.assets import find_pose_models



@pytest.fixture(scope="module")
def models(pose_models_dir):
    return find_pose_models(pose_models_dir)


def test_anchor_count_and_layout():
    a = D.ssd_anchors()
    assert a.shape == (D.NUM_ANCHORS, 4)  # 28*28*2 + 14*14*2 + 7*7*6
    # Stride 8: 2 anchors per cell of a 28x28 map, row-major from the top-left cell centre.
    np.testing.assert_allclose(a[0], [0.5 / 28, 0.5 / 28, 1, 1])
    np.testing.assert_allclose(a[1], a[0])
    np.testing.assert_allclose(a[2], [1.5 / 28, 0.5 / 28, 1, 1])
    np.testing.assert_allclose(a[2 * 28], [0.5 / 28, 1.5 / 28, 1, 1])
    # Stride 16 starts after 1568 anchors; the three stride-32 layers share 6 anchors per 7x7 cell.
    np.testing.assert_allclose(a[1568], [0.5 / 14, 0.5 / 14, 1, 1])
    np.testing.assert_allclose(a[1568 + 392: 1568 + 392 + 6, :2], [[0.5 / 7, 0.5 / 7]] * 6)
    np.testing.assert_allclose(a[-1], [6.5 / 7, 6.5 / 7, 1, 1])


def test_decode_offsets_are_in_input_pixels_around_the_anchor():
    anchors = D.ssd_anchors()
    raw = np.zeros((1, D.NUM_ANCHORS, 12), np.float32)
    scores = np.full((1, D.NUM_ANCHORS, 1), -50.0, np.float32)
    k = 1568 + 5  # a stride-16 anchor
    raw[0, k, :4] = [22.4, -11.2, 44.8, 67.2]  # dx, dy, w, h in 224-pixel units
    raw[0, k, 4:6] = [0, 0]
    raw[0, k, 6:8] = [-22.4, 22.4]
    scores[0, k, 0] = 2.0
    boxes, kps, s = D.decode(raw, scores, anchors, min_score=0.5)
    assert len(boxes) == 1 and s[0] == pytest.approx(1 / (1 + np.exp(-2.0)))
    ax, ay = anchors[k, :2]
    cx, cy = ax + 0.1, ay - 0.05
    np.testing.assert_allclose(boxes[0], [cx - 0.1, cy - 0.15, cx + 0.1, cy + 0.15], atol=1e-6)
    np.testing.assert_allclose(kps[0, 0], [ax, ay], atol=1e-6)
    np.testing.assert_allclose(kps[0, 1], [ax - 0.1, ay + 0.1], atol=1e-6)


def test_scores_are_clipped_before_the_sigmoid():
    raw = np.zeros((1, D.NUM_ANCHORS, 12), np.float32)
    scores = np.full((1, D.NUM_ANCHORS, 1), -1e4, np.float32)
    scores[0, 3, 0] = 1e4
    with np.errstate(over="raise"):  # no overflow warning from exp(1e4)
        _, _, s = D.decode(raw, scores, D.ssd_anchors(), min_score=0.5)
    assert s.tolist() == [1.0]


def test_weighted_nms_merges_overlaps_by_score_and_keeps_separate_boxes():
    boxes = np.array([[0.0, 0.0, 1.0, 1.0], [0.1, 0.0, 1.1, 1.0], [5.0, 5.0, 6.0, 6.0]])
    kps = np.array([[[0.5, 0.5]] * 4, [[0.8, 0.5]] * 4, [[5.5, 5.5]] * 4])
    scores = np.array([0.9, 0.6, 0.7])
    out = D.weighted_nms(boxes, kps, scores, threshold=0.3)
    assert [d.score for d in out] == [0.9, 0.7]  # best first, the merged one keeps its best score
    np.testing.assert_allclose(out[0].box, [0.04, 0.0, 1.04, 1.0])  # (0.9*0 + 0.6*0.1) / 1.5
    np.testing.assert_allclose(out[0].keypoints[0], [0.62, 0.5])
    np.testing.assert_allclose(out[1].box, boxes[2])
    # Below the IoU threshold nothing merges (IoU of the first two is 0.818).
    assert len(D.weighted_nms(boxes, kps, scores, threshold=0.85)) == 3
    assert D.weighted_nms(np.zeros((0, 4)), np.zeros((0, 4, 2)), np.zeros(0)) == []


@pytest.mark.parametrize("w,h", [(320, 240), (240, 320), (1280, 720), (100, 100)])
def test_letterbox_maps_back_to_frame_pixels(w, h):
    frame = np.zeros((h, w, 3), np.uint8)
    frame[h // 4, w // 3] = 255
    x, box = D.letterbox(frame)
    assert x.shape == (1, 224, 224, 3) and x.dtype == np.float32
    assert x.max() <= 1.0 and x.min() >= -1.0
    # The frame's corners land on the placed image's corners; the border is mid-grey (0.0).
    np.testing.assert_allclose(box.to_frame(np.array([[box.pad_x, box.pad_y]]) / 224), [[0, 0]], atol=1e-9)
    far = np.array([[224 - box.pad_x, 224 - box.pad_y]]) / 224
    np.testing.assert_allclose(box.to_frame(far), [[w, h]], atol=1e-6)
    if box.pad_y:
        assert np.all(x[0, : box.pad_y] == 0.0)


def frame_at(path: Path, index: int) -> np.ndarray:
    cap = cv2.VideoCapture(str(path))
    cap.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, frame = cap.read()
    cap.release()
    assert ok, f"cannot read frame {index} of {path}"
    return frame


def test_finds_the_boxer_in_a_real_frame(models):
    frame = frame_at(PUNCH_AVI, 0)  # two boxers; the left one (white shorts, x 115-160) faces right
    found = D.PoseDetector(models.detector).detect(frame)
    assert found and found[0].score > 0.8
    hip, body, shoulder = found[0].keypoints[:3]
    assert 110 < hip[0] < 165 and 110 < hip[1] < 160  # on the white shorts
    assert shoulder[1] < hip[1] - 30  # upright: shoulders well above the hips
    assert body[1] < shoulder[1]  # the full-body point lies beyond the shoulders
    assert np.all(found[0].box[:2] < found[0].box[2:])


def test_an_empty_frame_has_no_person(models):
    assert D.PoseDetector(models.detector).detect(np.full((240, 320, 3), 90, np.uint8)) == []

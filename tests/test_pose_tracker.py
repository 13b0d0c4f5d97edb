"""PoseEstimator on real footage: found in most frames, tracked (few detector runs), not drifting, drawn.

The UCF101 boxing clip (108 frames, 320x240, two boxers and a referee) is hard: the boxers clinch. The
drawn frame is kept as a test artifact in tests/artifacts/ (git-ignored) and in pytest's tmp_path.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import EXERCISE_AVI, PUNCH_AVI

from actionrec.data.video import FrameSpec, iter_decoded_frames
from actionrec.errors import ActionrecError
from actionrec.features.pose.draw import draw_pose
from actionrec.features.pose.tracker import PoseEstimator, PoseOptions
from actionrec.features.pose.vector import NO_PERSON, POSE_DIM, pose_vectors

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


@pytest.fixture(scope="module", autouse=True)
def pose_models(pose_models_env):
    return pose_models_env


@pytest.fixture(scope="module")
def punch_frames() -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(PUNCH_AVI))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    assert len(frames) == 108
    return frames


@pytest.fixture(scope="module")
def punch_run(punch_frames):
    est = PoseEstimator(PoseOptions(fps=25))
    poses = [est.process(f) for f in punch_frames]
    return est, poses


@pytest.mark.slow
def test_a_pose_in_most_frames_with_few_detector_runs(punch_run):
    est, poses = punch_run
    found = sum(p is not None for p in poses)
    print(f"pose found in {found} of {len(poses)} frames; counts {est.counts.as_dict()}")
    assert found / len(poses) >= 0.6  # measured 101/108 (80 with the detector at 0.5); README: 78/108
    c = est.counts
    assert c.frames == 108 and c.poses == found
    assert c.detector_runs < 0.5 * c.frames  # tracking: the detector is not run on every frame
    assert c.landmark_runs <= c.frames + c.detector_runs
    tracked = [p for p in poses if p is not None and not p.detected]
    assert len(tracked) > 0.5 * found
    vectors = pose_vectors(poses)
    assert vectors.shape == (108, POSE_DIM) and np.isfinite(vectors).all()
    assert vectors[:, NO_PERSON].sum() == 108 - found  # every missed frame says so, no found one does
    for p in poses:
        if p is not None:
            assert p.landmarks.shape == (33, 5) and p.score >= 0.5 and p.image_size == (320, 240)


@pytest.mark.slow
def test_the_tracking_crop_stays_sized_to_the_body(punch_run):
    """A crop that drifts grows over both boxers while the pose-present score stays high (seen with the
    legacy 1.5 margin: crop side up to 19 torso lengths). A sound track keeps the crop's side at a steady
    multiple of the torso it holds (measured 4.0-5.6 on this clip)."""
    _, poses = punch_run
    ratios = []
    for pose in poses:
        if pose is not None and not pose.detected:
            lm = pose.landmarks
            torso = np.linalg.norm(lm[[11, 12], :2].mean(0) - lm[[23, 24], :2].mean(0))
            ratios.append(pose.roi.size / torso)
    ratios = np.array(ratios)
    print(f"crop side / torso over {len(ratios)} tracked frames: {np.percentile(ratios, [0, 50, 100]).round(2)}")
    assert len(ratios) > 40
    assert np.mean((ratios > 3.0) & (ratios < 6.5)) >= 0.95


@pytest.mark.slow
def test_drawn_frame_artifact(punch_run, punch_frames, tmp_path):
    _, poses = punch_run
    index = 0  # the left boxer, upright, whole body in view
    pose = poses[index]
    assert pose is not None
    drawn = draw_pose(punch_frames[index], pose)
    assert (drawn != punch_frames[index]).any()
    # The skeleton sits on the left boxer: hips on the white shorts, ankles near the floor.
    hip = pose.landmarks[[23, 24], :2].mean(0)
    assert 110 < hip[0] < 165 and 110 < hip[1] < 160
    strip = np.concatenate([draw_pose(punch_frames[i], poses[i]) for i in (0, 9, 36, 45)], axis=1)
    for folder in (tmp_path, ARTIFACTS):
        folder.mkdir(exist_ok=True)
        assert cv2.imwrite(str(folder / "pose_ucf101_punch.png"), strip)
    print(f"drawn frames: {ARTIFACTS / 'pose_ucf101_punch.png'} (copy in {tmp_path})")


def test_clear_and_a_lost_person_start_over_with_the_detector(punch_frames):
    est = PoseEstimator(PoseOptions(fps=25))
    first = est.process(punch_frames[0])
    second = est.process(punch_frames[1])
    assert first is not None and first.detected and second is not None and not second.detected
    assert est.counts.detector_runs == 1 and est.tracking
    est.clear()
    assert not est.tracking
    third = est.process(punch_frames[2])
    assert third is not None and third.detected and est.counts.detector_runs == 2
    # An empty picture: no person, the track is dropped, the next person comes from the detector.
    assert est.process(np.full((240, 320, 3), 60, np.uint8)) is None and not est.tracking
    again = est.process(punch_frames[3])
    assert again is not None and again.detected


def test_a_bad_frame_is_one_clear_error():
    est = PoseEstimator(PoseOptions())
    with pytest.raises(ActionrecError, match=r"pose frame \(240, 320\): expected an H x W x 3 uint8"):
        est.process(np.zeros((240, 320), np.uint8))
    with pytest.raises(ActionrecError, match="pose option min_pose_score=1.5"):
        PoseOptions(min_pose_score=1.5)


def test_the_pose_path_never_imports_tensorflow(punch_frames, tmp_path):
    """Live, replay and export run pose on LiteRT alone: a fresh process must not load TensorFlow."""
    import subprocess
    import sys

    frame = tmp_path / "frame.png"
    cv2.imwrite(str(frame), punch_frames[0])
    code = (
        "import sys, cv2\n"
        "from actionrec.features.pose import PoseEstimator, PoseOptions, pose_vector\n"
        "from actionrec.features.pose import bench, draw\n"
        f"pose = PoseEstimator(PoseOptions()).process(cv2.imread({str(frame)!r}))\n"
        "assert pose is not None and pose_vector(pose)[-1] == 0.0\n"
        "bad = sorted(m for m in ('tensorflow', 'keras', 'mediapipe') if m in sys.modules)\n"
        "print('imported:', bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.slow
def test_the_player_is_the_largest_person_not_the_first_one_found():
    """The real calisthenics clip has three exercisers; the one in the centre stands nearest (1.2 times the
    others' size). Frame 0's detector finds only the left one (score 0.2), and tracking alone followed her
    for all 39 s. The player check moves to the centre within a few seconds and stays."""
    frames = list(iter_decoded_frames(EXERCISE_AVI, FrameSpec()))  # 393 frames at 10 fps, 384 x 288
    hips = {}
    for every in (0.0, 1.0):
        est = PoseEstimator(PoseOptions(player_check_s=every))
        poses = [est.process(f, t) for t, f in frames]
        hips[every] = np.array([np.nan if p is None else p.landmarks[23:25, 0].mean() for p in poses])
        assert sum(p is not None for p in poses) >= 380
    assert (hips[0.0][5:] < 130).mean() > 0.95  # the left exerciser throughout
    centre = (hips[1.0][50:] > 150) & (hips[1.0][50:] < 240)
    assert centre.mean() > 0.95, np.round(hips[1.0][::10])  # from 5 s on, the centre one
    assert est.counts.switched == 1
    # About one detector run a second on top of tracking's: 39 s of video.
    assert est.counts.detector_runs <= 39 + 10


def test_player_check_takes_seconds():
    with pytest.raises(ActionrecError, match=r"player_check_s=-1.0: expected seconds >= 0"):
        PoseOptions(player_check_s=-1.0)


def far_away(frames: np.ndarray, height_share: float, size=(1280, 720)) -> tuple[list[np.ndarray], np.ndarray]:
    """The calisthenics clip's centre exerciser alone (the others painted grass), placed so that she is
    ``height_share`` of a larger picture's height (0 paints her out too: nobody), as BGR frames."""
    fill = np.median(frames[0][250:].reshape(-1, 3), axis=0).astype(np.uint8)
    alone = np.array(frames)
    alone[:, 120:, :140] = fill
    alone[:, 120:, 255:] = fill
    if height_share == 0:
        alone[:, 118:] = fill
        height_share = 0.42
    k = height_share / 0.42 * size[1] / 288  # she is 42 % of the clip's 288 rows
    w, h = round(384 * k), round(288 * k)
    x0, y0 = (size[0] - w) // 2, (size[1] - h) // 2
    out = []
    for f in alone:
        canvas = np.empty((size[1], size[0], 3), np.uint8)
        canvas[:] = fill
        canvas[y0:y0 + h, x0:x0 + w] = cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA)
        out.append(canvas)
    return out, alone


def run_pose(frames, long_side=640, **options):
    from actionrec.features.pose.image import PoseImage

    est = PoseEstimator(PoseOptions(**options))
    return est, [est.process(PoseImage(f, long_side), i / 10) for i, f in enumerate(frames)]


@pytest.mark.slow
def test_a_person_far_from_the_camera_is_found_and_posed_as_near():
    """A real person 10 % of a 1280x720 picture's height (36 px of the 640-px frame the pose runs on): the
    whole picture's detector never finds her; the zoomed search does, and her pose, cropped from the
    finer source pixels, is the one she has at full size."""
    from actionrec.features.spec import BODY_MASK

    source = [f for _, f in iter_decoded_frames(EXERCISE_AVI, FrameSpec())][:120]
    small, alone = far_away(source, 0.10)
    _, without = run_pose(small, zoom_search=False)
    assert all(p is None for p in without)
    est, poses = run_pose(small)
    _, near = run_pose(list(alone))
    found = [i for i, p in enumerate(poses) if p is not None]
    assert len(found) >= 80, est.counts.as_dict()  # measured 93 of 120: found at 1.0 s, then tracked
    assert est.counts.zoomed <= 40 and est.counts.switched == 0
    body = (BODY_MASK[:-1].reshape(33, 5)[:, 0] > 0)
    xy = lambda ps: pose_vectors([ps[i] for i in found])[:, :-1].reshape(-1, 33, 5)[:, body, :2]  # noqa: E731
    error = np.linalg.norm(xy(poses) - xy(near), axis=-1)
    assert np.median(error) < 0.06, np.median(error)  # torso lengths; measured 0.03
    # Her coordinates are the 640-px frame's, inside it and where the canvas put her.
    hips = np.array([poses[i].landmarks[23:25, :2].mean(axis=0) for i in found])
    assert poses[found[0]].image_size == (640, 360) and np.all(np.abs(hips - (320, 180)) < 40), hips[::10]


@pytest.mark.slow
def test_the_zoomed_search_finds_nobody_in_an_empty_real_picture():
    """The same park with every person painted out, at 1280x720: 40 frames search every zoomed square twice,
    and no ghost gets through (unchecked, the squares' detections gave 4 false poses in 393 frames)."""
    source = [f for _, f in iter_decoded_frames(EXERCISE_AVI, FrameSpec())][:40]
    empty, _ = far_away(source, 0)
    est, poses = run_pose(empty)
    assert all(p is None for p in poses) and est.counts.zoomed == 40, est.counts.as_dict()


def test_zoomed_squares_cover_the_picture_and_overlap():
    from actionrec.features.pose.tracker import zoom_squares

    for w, h in ((640, 360), (384, 288), (360, 640), (640, 640)):
        squares = zoom_squares(w, h)
        for side in (min(w, h), min(w, h) // 2):
            mine = [(x, y) for x, y, s in squares if s == side]
            covered = np.zeros((h, w), bool)
            for x, y in mine:
                assert 0 <= x <= w - side and 0 <= y <= h - side
                covered[y:y + side, x:x + side] = True
            assert covered.all(), (w, h, side)
            for axis in (0, 1):  # neighbours overlap by at least a quarter of a square
                spots = sorted({p[axis] for p in mine})
                assert all(b - a <= 0.75 * side + 1 for a, b in zip(spots, spots[1:])), (w, h, side, spots)

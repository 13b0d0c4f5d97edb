"""Synthetic fighters from any camera, as keypoint clips, and the body-joints view of pose features."""

from __future__ import annotations

import filecmp
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from actionrec.data.keypoints import load_keypoints
from actionrec.errors import ActionrecError
from actionrec.features.pose.vector import JOINT, POSE_DIM, pose_vector
from actionrec.features.spec import BODY_JOINTS, FeatureSpec
from actionrec.synth.camera import CameraPose, CameraRanges, camera_ranges
from actionrec.synth.dataset import synthesize
from actionrec.synth.keypoints import exact_points
from actionrec.synth.options import RenderOptions, SynthConfig, webcam_options
from actionrec.synth.plan import plan_dataset
from actionrec.synth.figure import JOINT_INDEX, FighterPainter
from actionrec.synth.render import render
from actionrec.synth.scene import _Camera


def _plan(label: str, options: RenderOptions, seed: int = 4):
    plans = plan_dataset(SynthConfig(seed=seed, people=1, clips_per_class=1, sparring_per_person=0, options=options))
    return next(p for p in plans if p.label == label)


def _fixed(**camera) -> RenderOptions:
    values = {k: (v, v) if k in ("yaw", "pitch", "distance") else v for k, v in camera.items()}
    return RenderOptions(camera=CameraRanges(**values))


def test_the_default_camera_is_the_old_side_view_and_draws_nothing():
    world = np.random.default_rng(0).normal(size=(5, 19, 3))
    assert CameraPose().is_side_view and np.array_equal(CameraPose().points(world), world)
    assert CameraRanges().draw(np.random.default_rng(1)) == (CameraPose(), False)
    # A near-default camera is a real transform: yaw 90 with pitch 0 and no perspective is the identity.
    assert np.allclose(CameraPose(yaw=90.0, pitch=1e-9).points(world), world)


def test_a_frontal_camera_shows_the_fighters_left_on_the_image_right_and_mirror_swaps_it():
    front = _plan("punch/jab", _fixed(yaw=0.0))
    pts = exact_points(front, front.skeletons(), front.times)
    assert np.nanmean(pts[:, JOINT["left_shoulder"], 0] - pts[:, JOINT["right_shoulder"], 0]) > 0
    mirrored = _plan("punch/jab", _fixed(yaw=0.0, mirror=1.0))
    mp = exact_points(mirrored, mirrored.skeletons(), mirrored.times)
    # Mirrored, the figure's lead arm is named right (as BlazePose would name it) and still on the image right.
    assert np.nanmean(mp[:, JOINT["left_shoulder"], 0] - mp[:, JOINT["right_shoulder"], 0]) > 0
    # The side view sees the jab go sideways across the picture; the front view sees it come at the lens,
    # so the lead wrist moves across the image far less.
    side = _plan("punch/jab", _fixed(yaw=90.0))
    sp = exact_points(side, side.skeletons(), side.times)

    def sweep(p):
        torso = np.linalg.norm(p[:, JOINT["left_shoulder"]] - p[:, JOINT["left_hip"]], axis=1).mean()
        return np.ptp(p[:, JOINT["left_wrist"], 0]) / torso

    assert sweep(pts) < 0.6 * sweep(sp)


def test_perspective_makes_the_near_hand_larger_and_pitch_tilts():
    hand_near = np.array([[0.6, 1.3, 0.0]])  # in front of the chest, towards a frontal camera
    hand_far = np.array([[-0.6, 1.3, 0.0]])
    cam = CameraPose(yaw=0.0, distance=2.0)
    centre_x = CameraPose(yaw=0.0).points(np.array([[0.0, 1.8, 0.0]]))
    lifted_near = cam.points(hand_near + [0, 0.3, 0])[0, 1] - cam.points(hand_near)[0, 1]
    lifted_far = cam.points(hand_far + [0, 0.3, 0])[0, 1] - cam.points(hand_far)[0, 1]
    assert lifted_near > 1.3 * lifted_far  # the same 30 cm look longer nearer the lens
    assert centre_x.shape == (1, 3)
    down = CameraPose(yaw=0.0, pitch=30.0).points(np.array([[0.0, 2.0, 0.0], [0.0, 0.0, 0.0]]))
    level = CameraPose(yaw=0.0).points(np.array([[0.0, 2.0, 0.0], [0.0, 0.0, 0.0]]))
    assert np.ptp(down[:, 1]) < np.ptp(level[:, 1])  # looking down foreshortens the standing body


def test_exact_keypoints_are_where_the_painter_draws_the_joints():
    plan = _plan("kick/front", _fixed(yaw=30.0, distance=2.5))
    times = plan.times[::7]
    frames, skel = render(plan, times)
    pts = exact_points(plan, skel, times)
    camera = _Camera(plan.scene)
    painter = FighterPainter(plan.person.body, plan.person.look, skel, plan.scene.view, camera.shifts(times))
    assert np.allclose(pts[:, JOINT["left_knee"]], painter.uv[:, JOINT_INDEX["lead_knee"]])
    assert np.allclose(pts[:, JOINT["right_foot_index"]], painter.uv[:, JOINT_INDEX["rear_toe"]])
    for frame, p in zip(frames, pts):  # and the picture shows them: every knee inside the frame
        x, y = np.round(p[JOINT["left_knee"]]).astype(int)
        assert 0 <= x < frame.shape[1] and 0 <= y < frame.shape[0]


def test_camera_ranges_refuse_bad_values_in_one_line():
    with pytest.raises(ActionrecError, match="expected LO,HI"):
        camera_ranges(yaw="a,b")
    with pytest.raises(ActionrecError, match="pitch"):
        camera_ranges(pitch="-80,0")
    with pytest.raises(ActionrecError, match="probability"):
        camera_ranges(mirror=2.0)
    assert camera_ranges(True, yaw="10").yaw == (10.0, 10.0)


def test_keypoint_synth_writes_loadable_clips_with_the_same_bytes_in_a_new_process(tmp_path: Path):
    options = webcam_options(keypoints=True)
    a = synthesize(tmp_path / "a", people=2, clips_per_class=1, sparring_per_person=1, sparring_seconds=12.0,
                   seed=5, options=options)
    assert a.rendered == 2 * 8 + 2 and not list((tmp_path / "a").rglob("*.mp4"))
    clip = load_keypoints(tmp_path / "a" / "punch" / "jab" / "p00_c00.kp.npz")
    assert clip.joint_set == "blazepose33" and clip.points.shape[2] == 2
    named = [JOINT[n] for n in BODY_JOINTS]
    assert np.isfinite(clip.points[:, named]).all()  # every body joint, in every frame
    assert np.isnan(clip.points[:, JOINT["left_eye"]]).all()  # the figure has no eyes
    annotations = (tmp_path / "a" / "annotations.csv").read_text()
    assert "sparring/p00_s00.kp.npz" in annotations
    code = ("from actionrec.synth.dataset import synthesize; from actionrec.synth.options import webcam_options; "
            f"synthesize({str(tmp_path / 'b')!r}, people=2, clips_per_class=1, sparring_per_person=1, "
            "sparring_seconds=12.0, seed=5, options=webcam_options(keypoints=True))")
    subprocess.run([sys.executable, "-c", code], check=True, env={"PYTHONHASHSEED": "7", "PATH": ""})
    match, mismatch, errors = filecmp.cmpfiles(tmp_path / "a", tmp_path / "b",
                                               [p.relative_to(tmp_path / "a").as_posix()
                                                for p in (tmp_path / "a").rglob("*.kp.npz")], shallow=False)
    assert not mismatch and not errors and len(match) == 18
    again = synthesize(tmp_path / "a", people=2, clips_per_class=1, sparring_per_person=1, sparring_seconds=12.0,
                       seed=5, options=options)
    assert again.rendered == 0


def test_keypoint_noise_follows_the_measured_model():
    exact = _plan("other/idle", webcam_options(keypoints=True, keypoint_noise=0.0))
    from actionrec.synth.keypoints import keypoint_clip

    e = keypoint_clip(exact, 0.0, seed=1)
    n = keypoint_clip(exact, 1.0, seed=1)
    assert np.array_equal(keypoint_clip(exact, 1.0, seed=1), n, equal_nan=True)  # seeded
    assert not np.array_equal(keypoint_clip(exact, 1.0, seed=2), n, equal_nan=True)
    torso = np.linalg.norm(e[:, JOINT["left_shoulder"]] - e[:, JOINT["left_hip"]], axis=1)[:, None]
    err = np.linalg.norm(n - e, axis=2)[:, [JOINT["left_wrist"], JOINT["right_wrist"]]] / torso
    # x and y each with a deviation of 0.355 torso lengths: the 2-D size is about 0.355 * sqrt(2) on average.
    assert 0.2 < float(np.sqrt(np.mean(err ** 2))) / np.sqrt(2) < 0.6


def test_the_body_view_keeps_x_y_of_the_shared_joints_and_the_flag():
    rng = np.random.default_rng(0)
    lm = np.concatenate([rng.normal(size=(33, 3)) * 50 + 200, rng.uniform(size=(33, 2))], axis=1)
    v = pose_vector(lm)
    body = FeatureSpec.parse("pose:body")
    seen = body.view_pose(v)
    assert seen.shape == (POSE_DIM,) and seen.dtype == np.float32
    kept = np.flatnonzero(seen)
    assert len(kept) == 2 * len(BODY_JOINTS)  # x, y of 17 joints; the flag is 0 for a person
    assert seen[JOINT["left_wrist"] * 5 + 2] == 0.0  # no z
    assert np.array_equal(FeatureSpec.parse("pose").view_pose(v), v)
    assert FeatureSpec.from_dict(body.to_dict()) == body and "pose_joints" not in FeatureSpec("pose").to_dict()
    with pytest.raises(ActionrecError, match="pose joints 'face'"):
        FeatureSpec.parse("pose:face")
    with pytest.raises(ActionrecError, match="trained on pose:body"):
        body.require(FeatureSpec("pose"))


def test_the_webcam_preset_adds_the_side_kick_and_varies_people_without_touching_the_seven(tmp_path: Path):
    plain = plan_dataset(SynthConfig(seed=2, people=1, clips_per_class=1, sparring_per_person=0))
    webcam = plan_dataset(SynthConfig(seed=2, people=1, clips_per_class=1, sparring_per_person=0,
                                      options=webcam_options(keypoints=True)))
    assert [p.label for p in plain] == list(RenderOptions().classes) and len(plain) == 7
    assert [p.label for p in webcam] == [p.label for p in plain] + ["kick/side"]
    side = webcam[-1]
    skel = side.skeletons(side.times)
    world = np.ptp(skel.joint("rear_toe"), axis=0)
    assert np.isfinite(world).all() and world.max() > 0.5  # the foot travels half a metre or more
    # The variety (torso, tempo, stance) is drawn per video from a stream of its own.
    torsos = {round(p.person.body.torso, 4) for p in webcam}
    assert len(torsos) > 1
    with pytest.raises(ActionrecError, match="extra moves"):
        RenderOptions(extra_moves=("kick/spinning",))


def test_gestures_move_the_arms_of_idle_clips_and_stay_idle():
    def wrist_travel(options: RenderOptions) -> float:
        plans = plan_dataset(SynthConfig(seed=6, people=3, clips_per_class=2, sparring_per_person=0, options=options))
        idle = [p for p in plans if p.label == "other/idle"]
        assert all({s.label for s in p.segments()} == {"other/idle"} for p in idle)
        return float(np.mean([np.ptp(p.skeletons().joint("rear_wrist")[:, 1]) for p in idle]))

    assert wrist_travel(RenderOptions(gestures=1.0)) > 2 * wrist_travel(RenderOptions())


def test_each_error_group_is_one_joint_or_its_left_and_right():
    from actionrec.features.pose.vector import BLAZEPOSE_33
    from actionrec.synth.keypoints import BLAZEPOSE_ERROR, _group

    for part in BLAZEPOSE_ERROR:
        names = sorted(BLAZEPOSE_33[j] for j in _group(part))
        assert names in ([part], [f"left_{part}", f"right_{part}"]), (part, names)  # "index" is the hand's alone


def test_punch_pace_and_hold_slow_each_punch_and_keep_the_fist_out():
    def first_punch(options: RenderOptions):
        plan = _plan("punch/jab", options)
        seg = next(s for s in plan.segments() if s.label == "punch/jab")
        t = np.arange(seg.start, seg.end, 0.01)
        wrist = plan.skeletons(t).joint("lead_wrist")
        reach = np.linalg.norm(wrist - wrist[0], axis=1)
        out = t[reach >= 0.98 * reach.max()]  # the fist at full reach
        return seg.end - seg.start, t[np.argmax(reach >= 0.8 * reach.max())] - seg.start, out[-1] - out[0]

    plain, held, slow = (first_punch(RenderOptions(**o)) for o in
                         ({}, {"punch_hold": (0.5, 0.5)}, {"punch_pace": (3.0, 3.0)}))
    assert held[0] == pytest.approx(plain[0] + 0.5) and held[2] >= plain[2] + 0.45
    assert slow[1] == pytest.approx(3 * plain[1], abs=0.03)  # three times as long to reach 80 %
    with pytest.raises(ActionrecError, match="punch_hold"):
        RenderOptions(punch_hold=(0.0, 5.0))
    with pytest.raises(ActionrecError, match="punch_pace"):
        RenderOptions(punch_pace=(0.1, 1.0))

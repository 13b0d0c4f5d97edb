"""Pose and both models in the live loop: the stream step computes the model's features (MobileNet every
frame, BlazePose at the model's rate), export writes the classifier for the feature dim, and replay of a
pose model runs on LiteRT without importing TensorFlow. Real models, real clips."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import (EXERCISE_AVI, PUNCH_AVI, SHARED, build_annotated_dataset, source_frames, write_clip,
                      write_variable_rate)

from actionrec.data.video import FrameSpec, probe
from actionrec.features.pose.vector import NO_PERSON, POSE_DIM
from actionrec.features.spec import FeatureSpec
from actionrec.learn.models import LSTMOptions, TrainOptions
from actionrec.learn.train import TrainSpec, train_on_dataset
from actionrec.live.camera import FrameGrabber

POSE_MODELS = Path(os.environ.setdefault("ACTIONREC_POSE_MODELS", str(SHARED / "weights" / "pose")))
pytestmark = pytest.mark.skipif(not (POSE_MODELS / "pose_detection.tflite").is_file(),
                                reason=f"BlazePose models not in {POSE_MODELS}")
WINDOW = 4
SPEC = TrainSpec(kind="lstm", lstm=LSTMOptions(window=WINDOW, stride=2, units=16, projection=16),
                 train=TrainOptions(epochs=2, batch_size=32, patience=0))


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    from actionrec.live.export import export_model

    root = build_annotated_dataset(tmp_path_factory.mktemp("ds"))  # punch, kick, other: what the trigger needs
    out = {}
    for kind in ("pose", "both", "pose:body"):
        out[kind] = tmp_path_factory.mktemp("models") / kind.replace(":", "-")
        train_on_dataset(root, SPEC, FrameSpec(), out=out[kind], features=FeatureSpec.parse(kind))
        export_model(out[kind])
    return out


def test_export_writes_the_classifier_for_the_feature_dim(models):
    for kind, dim in (("pose", POSE_DIM), ("both", 1024 + POSE_DIM)):
        record = json.loads((models[kind] / "config.json").read_text())["export"]
        assert record["classifier_input"] == f"float32 (1, {WINDOW}, {dim}) {kind} features"
        assert set(record["files"]) == ({"classifier.tflite"} if kind == "pose" else {"classifier.tflite", "embedder.tflite"})
        assert set(record["pose_models"]) == {"pose_detection.tflite", "pose_landmark_full.tflite"}
        assert record["check"]["proba_max_abs_diff"] <= 1e-3
    assert not (models["pose"] / "embedder.tflite").exists()


def test_live_step_with_both_features(models):
    from actionrec.live.runtime import InferenceSession, SessionOptions
    from actionrec.live.stream import StreamClassifier

    session = InferenceSession(SessionOptions(models["both"]))
    assert session.backend == "litert" and session.feature_dim == 1190
    classifier = StreamClassifier.for_session(session, source_fps=25)
    frames = source_frames(PUNCH_AVI)[:50]  # RGB at 25 fps, the camera's rate
    probs = [classifier.step(np.ascontiguousarray(f[:, :, ::-1]), i / 25) for i, f in enumerate(frames)]
    assert np.asarray(probs).shape == (50, len(session.classes))
    assert np.allclose(np.sum(probs, axis=1), 1.0, atol=1e-4)
    live = classifier.features
    assert live.pose_runs == 20  # 2 s at the model's 10 fps, not the camera's 25
    assert classifier.held["windows"] == 20  # the frames between ticks hold the last window's probabilities
    assert sum(np.array_equal(a, b) for a, b in zip(probs, probs[1:])) == 50 - 20
    window = classifier.buffer.window_array()
    assert window.shape == (WINDOW, 1190) and np.all(window[:, 1024 + NO_PERSON] == 0)  # a boxer is in view
    landmarks = live.landmarks()
    assert len(landmarks) == 33 and all(0 <= x <= 1 and 0 <= y <= 1 for x, y, _ in landmarks[:13])
    classifier.clear()
    assert live.pose is None and len(classifier.buffer) == 0 and classifier.held["probs"] is None


def test_pose_model_replay_without_tensorflow(models):
    code = (
        "import sys, json\n"
        "from actionrec.live.runtime import InferenceSession, SessionOptions\n"
        "from actionrec.live.replay import replay\n"
        f"s = InferenceSession(SessionOptions({str(models['pose'])!r}))\n"
        f"r = replay(s, {str(PUNCH_AVI)!r})\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tf_keras'))\n"
        "print(json.dumps({'backend': s.backend, 'heavy': heavy, 'frames': len(r.times), 'dim': s.feature_dim,"
        " 'p': r.probs[-1].tolist()}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["backend"] == "litert" and out["heavy"] == [] and out["dim"] == POSE_DIM
    assert out["frames"] == 108 and abs(sum(out["p"]) - 1) < 1e-4


def test_a_faster_camera_fires_what_the_model_rate_fires(models, tmp_path):
    """The same real frames at 10 fps and as a 30 fps camera (each frame three times) give the same
    probabilities on the model's frames and the same events: the pose runs on the model's clock, and the
    trigger counts the model's frames in a row, not the camera's (which fired 23 false attacks on the
    whole calisthenics clip at 30 fps against 13 at 10 fps with the starter's settings)."""
    from actionrec.events.trigger import ATTACKS, TriggerOptions
    from actionrec.live.replay import replay
    from actionrec.live.runtime import InferenceSession, SessionOptions

    frames = source_frames(EXERCISE_AVI, 100, 80)  # 8 s of a real person at the model's 10 fps
    at10 = write_clip(tmp_path / "at10.avi", frames, fps=10)
    at30 = write_clip(tmp_path / "at30.avi", np.repeat(frames, 3, axis=0), fps=30)
    session = InferenceSession(SessionOptions(models["pose:body"]))
    probe = replay(session, at10)
    # A threshold this tiny model crosses now and then, so that the comparison has events to compare.
    attack = probe.probs[:, [session.classes.index(a) for a in ATTACKS]].max(axis=1)
    enter = float(np.quantile(attack[10:], 0.6))
    trigger = TriggerOptions(enter={a: enter for a in ATTACKS}, exit={a: enter * 0.9 for a in ATTACKS},
                             other_block=1.01, stand_enter=1.0, cooldown=0.0)
    slow, fast = replay(session, at10, trigger=trigger), replay(session, at30, trigger=trigger)
    assert len(fast.times) == 3 * len(slow.times)
    assert np.allclose(fast.probs[::3], slow.probs, atol=1e-5)
    assert np.allclose(fast.probs[1::3], slow.probs, atol=1e-5)  # frames between ticks reuse the pose
    assert slow.events, f"no event at enter {enter:.3f}: the comparison would be empty"
    assert [(e.kind, round(e.t, 3)) for e in fast.events] == [(e.kind, round(e.t, 3)) for e in slow.events]


def test_a_variable_rate_replay_lasts_as_long_as_its_timestamps_say(models, tmp_path):
    """A phone clip at 30 fps for 2 s, then 12 fps for 2 s: replay's false triggers per minute are counted
    over its 4 s. Frames / the header's average rate gave 84 / 21.8 = 3.85 s; a constant-rate clip keeps
    frames / rate."""
    from actionrec.live.replay import replay
    from actionrec.live.runtime import InferenceSession, SessionOptions

    times = np.concatenate([np.arange(60) / 30, 2 + np.arange(24) / 12])
    real = source_frames(EXERCISE_AVI, 0, 40)
    phone = write_variable_rate(tmp_path / "phone.mp4", real[np.minimum((times * 10 + 1e-6).astype(int), 39)], times)
    session = InferenceSession(SessionOptions(models["pose:body"]))
    result = replay(session, phone)
    assert len(result.times) == 84 and 84 / FrameGrabber(str(phone), realtime=False).fps < 3.9  # the header's rate
    assert result.duration == pytest.approx(4.0, abs=0.06)
    steady = replay(session, PUNCH_AVI)
    assert steady.duration == pytest.approx(probe(PUNCH_AVI).frames / probe(PUNCH_AVI).fps, abs=1e-3)


@pytest.mark.parametrize("rate", [25, 24])
def test_live_windows_at_25_fps_are_the_offline_ones(models, tmp_path, rate):
    """The real 25 fps boxing clip (and its frames as a 24 fps camera): replay's probabilities on the model's
    frames are predict_clip's, which are the windows training made. Windows sampled by time disagreed on
    17 of 33 full windows of this clip (coarse p up to 0.46 apart) with a starter-like model."""
    from actionrec.data.clock import ModelClock
    from actionrec.learn.train import predict_clip
    from actionrec.live.replay import replay
    from actionrec.live.runtime import InferenceSession, SessionOptions

    clip = PUNCH_AVI if rate == 25 else write_clip(tmp_path / "at24.avi", source_frames(PUNCH_AVI), fps=24)
    live = replay(InferenceSession(SessionOptions(models["pose:body"])), clip)
    offline = predict_clip(models["pose:body"], clip)
    ticks = ModelClock(10.0).keep(live.times)
    assert np.allclose(live.times[ticks], offline.times)
    assert np.abs(live.probs[ticks] - offline.proba).max() < 1e-4  # LiteRT against Keras


@pytest.mark.browser
@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="Debian's chromium is not at /usr/bin/chromium")
def test_practice_page_draws_the_skeleton_of_a_pose_model(models):
    from playwright.sync_api import sync_playwright

    from actionrec.live.game import LiveOptions, LiveSession
    from actionrec.live.runtime import InferenceSession, SessionOptions

    session = LiveSession(InferenceSession(SessionOptions(models["pose"])),
                          LiveOptions(source=str(PUNCH_AVI), port=0, wait_for_page=True, linger=3.0),
                          log=lambda line: None)
    url = session.start()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page()
            page.goto(url)
            page.wait_for_function("window.poseDrawn > 5", timeout=60_000)  # bones of a real boxer
            pose = page.evaluate("window.lastPose")
            shot = Path(__file__).parent / "artifacts" / "practice_pose_skeleton.png"
            shot.parent.mkdir(exist_ok=True)
            page.screenshot(path=str(shot))
        finally:
            session.stop()
            browser.close()
    assert len(pose) == 33 and all(len(j) == 3 for j in pose)
    shoulders = pose[11], pose[12]
    assert all(0 <= j[0] <= 1 and 0 <= j[1] <= 1 for j in shoulders)


def test_live_body_view_equals_the_offline_features(models, tmp_path):
    """A pose:body model (the starter's features) sees live what it saw offline: x, y of the body joints at
    the model's ticks, everything else zero."""
    from actionrec.data.datasets import Clip
    from actionrec.features.frames import features_dataset
    from actionrec.features.spec import BODY_MASK
    from actionrec.live.runtime import InferenceSession, SessionOptions
    from actionrec.live.stream import StreamClassifier

    session = InferenceSession(SessionOptions(models["pose:body"]))
    assert session.features.name == "pose:body"
    classifier = StreamClassifier.for_session(session, source_fps=25)
    for i, f in enumerate(source_frames(PUNCH_AVI)[:50]):  # 2 s at 25 fps: ticks 0..19 at 10 fps
        classifier.step(np.ascontiguousarray(f[:, :, ::-1]), i / 25)
    window = classifier.buffer.window_array()
    assert np.all(window[:, BODY_MASK == 0] == 0) and np.any(window[:, BODY_MASK == 1] != 0)
    offline = features_dataset([Clip(path=PUNCH_AVI, id="punch", group="g", label="punch")], FrameSpec(),
                               FeatureSpec.parse("pose:body"), tmp_path / "cache")["punch"].embeddings
    assert np.allclose(window, offline[20 - WINDOW:20], atol=1e-4)

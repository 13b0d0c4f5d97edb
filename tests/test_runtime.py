"""The live loop's inference session (actionrec.live.runtime): which engine it picks, why, and that both agree.

A small real LSTM is trained on real MobileNet embeddings and exported with the real converter. test_export.py
covers the export itself (its record, atomicity, a tampered classifier file); this file covers the session's own
contract: the backend choice and its reason, the LiteRT and Keras engines agreeing through the session's
three calls (embed_one, embed, predict_window) on real frames, the refusals, and the LiteRT path running
without TensorFlow.
"""

import json
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pytest
from conftest import PUNCH_AVI, build_class_dataset

from actionrec.data.video import FrameSpec, read_clip
from actionrec.errors import ActionrecError
from actionrec.learn.embedded import embed_dataset_dir
from actionrec.learn.models import CONFIG_FILE, MODEL_FILE, LSTMOptions, TrainOptions
from actionrec.learn.train import TrainSpec, fit
from actionrec.live.export import export_model
from actionrec.live.exported import CLASSIFIER_FILE, EMBEDDER_FILE
from actionrec.live.runtime import InferenceSession, SessionOptions

TOL = 1e-3  # what the export promises against the Keras model
WINDOW = 4


def spec(seed: int) -> TrainSpec:
    return TrainSpec(kind="lstm", lstm=LSTMOptions(window=WINDOW, stride=2, units=16, projection=16),
                     train=TrainOptions(epochs=1, batch_size=32, patience=0, seed=seed))


@pytest.fixture(scope="module")
def embedded(tmp_path_factory, embedder):
    root = build_class_dataset(tmp_path_factory.mktemp("runtime") / "data", frames=20)
    return embed_dataset_dir(root, FrameSpec(), embedder=embedder, show_progress=False)


@pytest.fixture(scope="module")
def model_dir(embedded, tmp_path_factory):
    """Trained and saved, never exported."""
    return fit(embedded, spec(seed=0)).save(tmp_path_factory.mktemp("plain") / "model")


@pytest.fixture(scope="module")
def exported_dir(model_dir, tmp_path_factory):
    directory = shutil.copytree(model_dir, tmp_path_factory.mktemp("exported") / "model")
    export_model(directory)
    return directory


@pytest.fixture(scope="module")
def lite(exported_dir):
    return InferenceSession(SessionOptions(exported_dir))


@pytest.fixture(scope="module")
def keras_session(exported_dir):
    return InferenceSession(SessionOptions(exported_dir, backend="keras"))


@pytest.fixture(scope="module")
def punch_frames(lite):
    frames, _ = read_clip(PUNCH_AVI, lite.frame_spec)
    return frames[:24]


def one_line(err: pytest.ExceptionInfo) -> str:
    msg = str(err.value)
    assert msg and "\n" not in msg and "Traceback" not in msg, msg
    return msg


# --- the backend choice and its reason ---------------------------------------------------------------------


def test_auto_without_export_is_keras_with_a_reason(model_dir, embedded):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        session = InferenceSession(SessionOptions(model_dir))
    # A model never exported is the normal case: no fallback warning (a broken export gets one).
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning) and "Keras model" in str(w.message)]
    assert session.backend == "keras"
    assert str(model_dir) in session.reason and "no TFLite export" in session.reason
    assert "actionrec export" in session.reason  # and how to get the fast path
    # What the session tells the live loop comes from the model directory.
    assert (session.kind, session.window) == ("lstm", WINDOW)
    assert session.classes == embedded.labels and session.frame_spec == FrameSpec()
    p = session.predict_window(np.zeros((WINDOW, 1024), np.float32))
    assert p.shape == (len(session.classes),) and abs(float(p.sum()) - 1) < 1e-5


def test_litert_without_export_is_one_clear_error(model_dir):
    with pytest.raises(ActionrecError) as err:
        InferenceSession(SessionOptions(model_dir, backend="litert"))
    msg = one_line(err)
    assert str(model_dir) in msg and "no TFLite export" in msg and "actionrec export" in msg


def test_auto_after_export_is_litert(exported_dir, lite, keras_session):
    assert lite.backend == "litert"
    assert str(exported_dir) in lite.reason and "matches its record" in lite.reason
    # Asking for Keras still gets Keras, silently, with the export in place.
    assert keras_session.backend == "keras" and keras_session.reason == "asked for the Keras reference"
    assert (lite.kind, lite.window, lite.classes, lite.frame_spec) == (
        keras_session.kind, keras_session.window, keras_session.classes, keras_session.frame_spec)


# --- LiteRT and Keras agree on real frames --------------------------------------------------------------------


def test_litert_and_keras_agree_on_real_frames(lite, keras_session, punch_frames):
    frames = punch_frames
    lite_one = np.stack([lite.embed_one(f) for f in frames])
    keras_one = np.stack([keras_session.embed_one(f) for f in frames])
    assert lite_one.shape == (len(frames), 1024) and lite_one.dtype == np.float32
    np.testing.assert_allclose(lite_one, keras_one, atol=TOL)
    # The batch path (the naive re-embed of a whole window) gives the same vectors as frame by frame.
    np.testing.assert_allclose(lite.embed(frames[:WINDOW]), lite_one[:WINDOW], atol=1e-4)
    np.testing.assert_allclose(lite.embed(frames), lite_one, atol=1e-4)  # another batch size
    np.testing.assert_allclose(keras_session.embed(frames[:WINDOW]), keras_one[:WINDOW], atol=1e-4)

    windows = [lite_one[i : i + WINDOW] for i in range(len(frames) - WINDOW + 1)]
    lite_p = np.stack([lite.predict_window(w) for w in windows])
    keras_p = np.stack([keras_session.predict_window(w) for w in windows])
    assert lite_p.shape == (len(windows), len(lite.classes))
    np.testing.assert_allclose(lite_p, keras_p, atol=TOL)
    np.testing.assert_allclose(lite_p.sum(axis=1), 1, atol=1e-5)
    # Each engine end to end on its own embeddings (what a live loop on either backend would say).
    keras_own = np.stack([keras_session.predict_window(keras_one[i : i + WINDOW]) for i in range(len(windows))])
    np.testing.assert_allclose(lite_p, keras_own, atol=TOL)
    assert np.ptp(lite_p, axis=0).max() > 1e-4, "the probabilities should depend on the frames"


def test_session_checks_frames_and_windows_on_both_backends(lite, keras_session, punch_frames):
    for session in (lite, keras_session):
        with pytest.raises(ActionrecError, match=r"frames of shape \(56, 100, 3\) uint8: expected \(N, 56, 100, 3\) uint8"):
            session.embed(punch_frames[0])
        with pytest.raises(ActionrecError, match=r"frame of shape \(112, 200, 3\) uint8: expected \(56, 100, 3\) uint8"):
            session.embed_one(np.zeros((112, 200, 3), np.uint8))
        with pytest.raises(ActionrecError, match=rf"window of shape \({WINDOW}, 512\): expected \({WINDOW}, 1024\)"):
            session.predict_window(np.zeros((WINDOW, 512), np.float32))


# --- a bad export: auto falls back and says why, litert refuses -------------------------------------------------


def _tamper_embedder(directory, other_model):
    path = directory / EMBEDDER_FILE
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # still a loadable file, but not the one that was exported and checked
    path.write_bytes(bytes(data))
    return f"{path}: sha256 does not match"


def _remove_classifier(directory, other_model):
    (directory / CLASSIFIER_FILE).unlink()
    return f"{directory / CLASSIFIER_FILE}: missing"


def _retrain_model(directory, other_model):
    shutil.copyfile(other_model / MODEL_FILE, directory / MODEL_FILE)  # the export is of the previous model.keras
    return f"{directory / MODEL_FILE}: changed since the TFLite export"


@pytest.fixture(scope="module")
def other_model(embedded, tmp_path_factory):
    """The same architecture trained with another seed: a model.keras the export was not made from."""
    return fit(embedded, spec(seed=1)).save(tmp_path_factory.mktemp("other") / "model")


@pytest.mark.parametrize("damage", [_tamper_embedder, _remove_classifier, _retrain_model],
                         ids=["tampered-embedder", "missing-classifier", "model-changed"])
def test_a_bad_export_falls_back_to_keras_with_the_reason(exported_dir, other_model, tmp_path, damage):
    directory = shutil.copytree(exported_dir, tmp_path / "model")
    expected = damage(directory, other_model)
    with pytest.raises(ActionrecError) as err:
        InferenceSession(SessionOptions(directory, backend="litert"))
    assert one_line(err).startswith(expected) and "actionrec export" in str(err.value)
    with pytest.warns(RuntimeWarning, match="using the Keras model") as caught:
        session = InferenceSession(SessionOptions(directory))
    assert session.backend == "keras" and session.reason.startswith(expected)
    assert any(expected in str(w.message) for w in caught)
    p = session.predict_window(np.zeros((WINDOW, 1024), np.float32))
    assert p.shape == (len(session.classes),) and abs(float(p.sum()) - 1) < 1e-5


def test_an_export_that_does_not_fit_the_config_is_refused(exported_dir, tmp_path):
    """config.json is not covered by the export record's sha256s: an edited window must not reach LiteRT."""
    directory = shutil.copytree(exported_dir, tmp_path / "model")
    config = json.loads((directory / CONFIG_FILE).read_text())
    config["window"] = WINDOW + 2
    (directory / CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(ActionrecError) as err:
        InferenceSession(SessionOptions(directory))
    msg = one_line(err)
    assert str(directory) in msg and str(WINDOW + 2) in msg


# --- a model directory or options the session cannot use -----------------------------------------------------


def test_unusable_model_directories_are_one_line(model_dir, tmp_path):
    missing = tmp_path / "nothing"
    empty = tmp_path / "empty"
    empty.mkdir()
    not_json = shutil.copytree(model_dir, tmp_path / "not_json")
    (not_json / CONFIG_FILE).write_text("{kind: lstm")
    no_classes = shutil.copytree(model_dir, tmp_path / "no_classes")
    config = json.loads((no_classes / CONFIG_FILE).read_text())
    del config["classes"]
    (no_classes / CONFIG_FILE).write_text(json.dumps(config))
    for directory, words in ((missing, ["nothing"]), (empty, ["empty", CONFIG_FILE]),
                             (not_json, [str(not_json / CONFIG_FILE), "JSON"]),
                             (no_classes, [str(no_classes / CONFIG_FILE), "classes"])):
        for backend in ("auto", "keras", "litert"):
            with pytest.raises(ActionrecError) as err:
                InferenceSession(SessionOptions(directory, backend=backend))
            msg = one_line(err)
            assert all(w in msg for w in words), (backend, msg)


def test_bad_session_options_are_refused(exported_dir):
    with pytest.raises(ActionrecError, match=r"^num_threads 0: expected >= 1$"):
        InferenceSession(SessionOptions(exported_dir, num_threads=0))
    with pytest.raises(ActionrecError, match=r"^backend 'gpu': expected one of auto, litert, keras$"):
        InferenceSession(SessionOptions(exported_dir, backend="gpu"))


# --- the LiteRT path never imports TensorFlow ----------------------------------------------------------------


def test_litert_session_runs_without_tensorflow(exported_dir, lite, punch_frames, tmp_path):
    np.save(tmp_path / "frames.npy", punch_frames[:WINDOW])
    code = (
        "import sys, json, numpy as np\n"
        "from actionrec.live.runtime import InferenceSession, SessionOptions\n"
        f"s = InferenceSession(SessionOptions({str(exported_dir)!r}))\n"
        f"frames = np.load({str(tmp_path / 'frames.npy')!r}, allow_pickle=False)\n"
        "p = s.predict_window(np.stack([s.embed_one(f) for f in frames]))\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tf_keras'))\n"
        "print(json.dumps({'backend': s.backend, 'heavy': heavy, 'p': p.tolist()}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["backend"] == "litert" and out["heavy"] == []
    expected = lite.predict_window(np.stack([lite.embed_one(f) for f in punch_frames[:WINDOW]]))
    np.testing.assert_allclose(out["p"], expected, atol=1e-6)

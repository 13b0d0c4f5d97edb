"""The TFLite export and the inference session: real weights, real clips, small real models trained here.

The exported path (LiteRT) must give the Keras model's embeddings and probabilities within 1e-3 on the
fixture clips, be written atomically and recorded with sha256s, and be refused when it does not match.
"""

import json
import shutil

import numpy as np
import pytest
from conftest import EXERCISE_AVI, PUNCH_AVI, build_class_dataset, leftover_temp_files

from actionrec.data.digest import file_digest
from actionrec.errors import ActionrecError
from actionrec.live.exported import CLASSIFIER_FILE, EMBEDDER_FILE, SAVEDMODEL_DIR
from actionrec.live.export import export_model
from actionrec.learn.models import CONFIG_FILE, LSTMOptions, TrainOptions
from actionrec.learn.train import TrainSpec, fit, predict_clip
from actionrec.learn.embedded import embed_dataset_dir
from actionrec.live.runtime import InferenceSession, SessionOptions
from actionrec.tools.bench.stream import measure_engines, measure_stream_step
from actionrec.data.video import FrameSpec, read_clip

FAST = TrainOptions(epochs=3, batch_size=32, patience=0)
TOL = 1e-3


@pytest.fixture(scope="module")
def embedded(tmp_path_factory, embedder):
    root = build_class_dataset(tmp_path_factory.mktemp("export") / "data", frames=30)
    return embed_dataset_dir(root, FrameSpec(), embedder=embedder, show_progress=False)


@pytest.fixture(scope="module")
def lstm_dir(embedded, tmp_path_factory):
    """An LSTM over windows of 8 (motion features on), saved but not exported."""
    spec = TrainSpec(kind="lstm", lstm=LSTMOptions(window=8, stride=2, units=32, projection=32), train=FAST)
    return fit(embedded, spec).save(tmp_path_factory.mktemp("lstm") / "model")


@pytest.fixture(scope="module")
def exported_lstm(lstm_dir, tmp_path_factory):
    """A copy of the LSTM directory exported as TFLite and SavedModel."""
    directory = shutil.copytree(lstm_dir, tmp_path_factory.mktemp("exported") / "model")
    export_model(directory, formats=("tflite", "savedmodel"))
    return directory


@pytest.fixture(scope="module")
def keras_lstm(lstm_dir):
    return InferenceSession(SessionOptions(lstm_dir, backend="keras"))


def stream_probabilities(session: InferenceSession, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Embed each frame once and classify the window ending at it (the first frame repeated at start)."""
    embs = np.stack([session.embed_one(f) for f in frames])
    n = session.window
    padded = np.concatenate([np.repeat(embs[:1], n - 1, axis=0), embs])
    return embs, np.stack([session.predict_window(padded[i : i + n]) for i in range(len(embs))])


@pytest.mark.parametrize("clip", [PUNCH_AVI, EXERCISE_AVI], ids=["punch", "exercise"])
def test_exported_lstm_matches_keras_on_fixture_clips(exported_lstm, keras_lstm, embedder, clip):
    session = InferenceSession(SessionOptions(exported_lstm))
    assert session.backend == "litert", session.reason
    frames, _ = read_clip(clip, session.frame_spec)
    frames = frames[:80]
    embs, proba = stream_probabilities(session, frames)
    np.testing.assert_allclose(embs, embedder.embed(frames), atol=TOL)
    # The reference: the Keras pipeline over the whole clip (batch embedding, batch windows).
    reference = predict_clip(exported_lstm, clip, embedder=embedder).proba[: len(frames)]
    assert proba.shape == reference.shape == (len(frames), 3)
    np.testing.assert_allclose(proba, reference, atol=TOL)
    np.testing.assert_allclose(proba.sum(axis=1), 1, atol=1e-5)
    # And the Keras session, step by step, the way the live loop calls it.
    np.testing.assert_allclose(stream_probabilities(keras_lstm, frames[:20])[1], proba[:20], atol=TOL)


def test_exported_frame_model_matches_keras(embedded, embedder, tmp_path):
    directory = fit(embedded, TrainSpec(kind="frame", train=FAST)).save(tmp_path / "frame")
    (directory / SAVEDMODEL_DIR).write_text("a user's file of that name")  # no export wrote it: not ours to delete
    record = export_model(directory)
    assert record["formats"] == ["tflite"] and record["check"]["proba_max_abs_diff"] <= TOL
    assert (directory / SAVEDMODEL_DIR).read_text() == "a user's file of that name"
    session = InferenceSession(SessionOptions(directory, backend="litert"))
    assert session.window == 1
    frames, _ = read_clip(PUNCH_AVI, session.frame_spec)
    _, proba = stream_probabilities(session, frames)
    np.testing.assert_allclose(proba, predict_clip(directory, PUNCH_AVI, embedder=embedder).proba, atol=TOL)


def test_export_is_recorded_atomic_and_replaces_the_previous_one(exported_lstm, lstm_dir, embedder):
    import tensorflow as tf

    assert leftover_temp_files(exported_lstm.parent) == []
    config = json.loads((exported_lstm / CONFIG_FILE).read_text())
    before = json.loads((lstm_dir / CONFIG_FILE).read_text())
    record = config.pop("export")
    assert config == before  # the rest of config.json is untouched
    assert record["versions"]["tensorflow"] == tf.__version__
    assert set(record["files"]) == {EMBEDDER_FILE, CLASSIFIER_FILE, SAVEDMODEL_DIR}
    for name in (EMBEDDER_FILE, CLASSIFIER_FILE):
        assert record["files"][name]["sha256"] == file_digest(exported_lstm / name)

    # The SavedModel serves both stages with a free batch size.
    loaded = tf.saved_model.load(str(exported_lstm / SAVEDMODEL_DIR))
    frames, _ = read_clip(PUNCH_AVI, FrameSpec())
    embs = loaded.embed(tf.constant(frames[:10])).numpy()
    np.testing.assert_allclose(embs, embedder.embed(frames[:10]), atol=TOL)
    keras_model = InferenceSession(SessionOptions(exported_lstm, backend="keras"))
    windows = np.stack([embs[i : i + 8] for i in range(3)])
    np.testing.assert_allclose(loaded.classify(tf.constant(windows)).numpy(),
                               np.stack([keras_model.predict_window(w) for w in windows]), atol=TOL)


def test_export_bytes_do_not_depend_on_what_the_process_built_before(exported_lstm, embedded, tmp_path):
    """The same training after other models were built (frame models, an LSTM without the motion layer)
    exports the same classifier bytes: Keras' automatic layer names would have counted those models."""
    fit(embedded, TrainSpec(kind="frame", train=FAST))
    fit(embedded, TrainSpec(kind="lstm", lstm=LSTMOptions(window=8, stride=2, units=16, motion=False), train=FAST))
    spec = TrainSpec(kind="lstm", lstm=LSTMOptions(window=8, stride=2, units=32, projection=32), train=FAST)
    again = fit(embedded, spec).save(tmp_path / "again")
    export_model(again, formats=("tflite",))
    assert file_digest(again / CLASSIFIER_FILE) == file_digest(exported_lstm / CLASSIFIER_FILE)
    assert file_digest(again / EMBEDDER_FILE) == file_digest(exported_lstm / EMBEDDER_FILE)


def test_failed_export_leaves_the_directory_as_it_was(exported_lstm, tmp_path):
    directory = shutil.copytree(exported_lstm, tmp_path / "model")
    listing = sorted(p.name for p in directory.iterdir())
    config = (directory / CONFIG_FILE).read_text()
    bad_weights = tmp_path / "not_weights.h5"
    bad_weights.write_bytes(b"not an HDF5 file")
    with pytest.raises(ActionrecError, match="not_weights.h5"):
        export_model(directory, weights=bad_weights)
    with pytest.raises(ActionrecError, match="export format onnx"):
        export_model(directory, formats=("onnx",))
    assert sorted(p.name for p in directory.iterdir()) == listing
    assert (directory / CONFIG_FILE).read_text() == config
    assert InferenceSession(SessionOptions(directory)).backend == "litert"

    # A user's file where an export would write, or an exported file changed since: refused, nothing written.
    (directory / CLASSIFIER_FILE).write_bytes(b"a user's")
    with pytest.raises(ActionrecError, match=rf"^{directory / CLASSIFIER_FILE}: exists and no export of this model "
                                             r"wrote it \(it changed since\)"):
        export_model(directory)
    assert (directory / CLASSIFIER_FILE).read_bytes() == b"a user's"
    # An export stopped after it began writing: its files are its own to write again.
    config_now = json.loads((directory / CONFIG_FILE).read_text())
    (directory / CONFIG_FILE).write_text(json.dumps({**config_now, "export_pending": [CLASSIFIER_FILE]}))
    export_model(directory)
    assert "export_pending" not in json.loads((directory / CONFIG_FILE).read_text())

    # Exporting again with fewer formats removes what the new record no longer covers.
    export_model(directory, formats=("tflite",))
    assert not (directory / SAVEDMODEL_DIR).exists() and leftover_temp_files(tmp_path) == []
    assert set(json.loads((directory / CONFIG_FILE).read_text())["export"]["files"]) == {EMBEDDER_FILE, CLASSIFIER_FILE}


def test_auto_falls_back_to_keras_without_export(lstm_dir):
    session = InferenceSession(SessionOptions(lstm_dir))
    assert session.backend == "keras" and "no TFLite export recorded" in session.reason
    with pytest.raises(ActionrecError, match="no TFLite export recorded.*actionrec export"):
        InferenceSession(SessionOptions(lstm_dir, backend="litert"))


def test_tampered_export_is_refused_or_falls_back(exported_lstm, tmp_path):
    directory = shutil.copytree(exported_lstm, tmp_path / "model")
    path = directory / CLASSIFIER_FILE
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one weight byte: the file still loads, but is not what was exported
    path.write_bytes(bytes(data))
    with pytest.warns(RuntimeWarning, match="classifier.tflite: sha256 does not match.*using the Keras model"):
        session = InferenceSession(SessionOptions(directory))
    assert session.backend == "keras" and "sha256 does not match" in session.reason
    with pytest.raises(ActionrecError, match="classifier.tflite: sha256 does not match"):
        InferenceSession(SessionOptions(directory, backend="litert"))


def test_session_rejects_wrong_inputs(exported_lstm):
    session = InferenceSession(SessionOptions(exported_lstm))
    with pytest.raises(ActionrecError, match=r"expected \(56, 100, 3\) uint8"):
        session.embed_one(np.zeros((56, 100, 3), np.float32))
    with pytest.raises(ActionrecError, match=r"expected \(8, 1024\)"):
        session.predict_window(np.zeros((4, 1024), np.float32))
    with pytest.raises(ActionrecError, match="backend 'onnx'"):
        InferenceSession(SessionOptions(exported_lstm, backend="onnx"))


def test_measure_stream_step_reports_both_paths(exported_lstm):
    frames, _ = read_clip(PUNCH_AVI, FrameSpec())
    figures = measure_stream_step(exported_lstm, n_frames=10, naive_steps=5, warmup=2, frames=frames)
    assert figures["backend"] == "litert" and figures["window"] == 8
    assert 0 < figures["embed_one_ms_p50"] <= figures["stream_step_ms_p50"] <= figures["stream_step_ms_p95"]
    assert figures["naive_step_ms_p50"] > 0 and figures["stream_steps"] == 10 and figures["naive_steps"] == 5


def test_measure_engines_times_every_candidate(exported_lstm):
    frames, _ = read_clip(PUNCH_AVI, FrameSpec())
    figures = measure_engines(exported_lstm, steps=5, warmup=1, frames=frames)
    assert set(figures) == {"tf.function", "xla", "litert_1t", "litert_2t"}
    assert all(f["embed_one_ms_p50"] > 0 and f["predict_window_ms_p50"] > 0 for f in figures.values())

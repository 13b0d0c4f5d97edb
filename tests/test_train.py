"""The train pipeline (actionrec.learn.train) and the embedded dataset it runs on (actionrec.learn.embedded).

Real MobileNet embeddings of the conftest datasets, tiny models (1-2 epochs): these check what each stage
hands the next (spec -> windows -> model directory -> per-frame predictions), not how well models learn.
"""

import json
from dataclasses import asdict

import numpy as np
import pytest
from conftest import EXERCISE_AVI, PUNCH_AVI, build_class_dataset, source_frames, write_clip

from actionrec.data.datasets import load_dataset
from actionrec.data.video import FrameSpec, read_clip
from actionrec.errors import ActionrecError
from actionrec.features.mobilenet import WEIGHTS_ENV
from actionrec.learn.embedded import embed_dataset_dir
from actionrec.learn.models import (
    CONFIG_FILE,
    HISTORY_FILE,
    MODEL_FILE,
    FrameOptions,
    LSTMOptions,
    TrainOptions,
    article_settings,
    load_model,
)
from actionrec.learn.train import TrainSpec, fit, predict_clip, train_on_dataset

FAST = TrainOptions(epochs=2, batch_size=32, patience=0)
ONE = TrainOptions(epochs=1, batch_size=32, patience=0)
SMALL_LSTM = LSTMOptions(window=4, stride=2, units=16, projection=16)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return build_class_dataset(tmp_path_factory.mktemp("train") / "data", frames=20)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def embedded(data_root, cache_dir, embedder):
    return embed_dataset_dir(data_root, FrameSpec(), cache_dir=cache_dir, embedder=embedder, show_progress=False)


@pytest.fixture(scope="module")
def lstm(embedded):
    return fit(embedded, TrainSpec(kind="lstm", lstm=SMALL_LSTM, train=FAST))


def frame_count(data, clips=None) -> int:
    return sum(len(data.embeddings[c.id].times) for c in (clips or data.clips))


# --- TrainSpec.from_cli --------------------------------------------------------------------------------


CLI = dict(model="lstm", window=6, stride=3, label_policy="center", epochs=7, learning_rate=3e-4, augment=2, seed=11)


def test_from_cli_puts_every_flag_in_its_place():
    spec = TrainSpec.from_cli(**CLI, article=False)
    assert spec.kind == "lstm" and spec.augment == 2
    assert spec.lstm == LSTMOptions(window=6, stride=3, label_policy="center")
    assert spec.train == TrainOptions(epochs=7, learning_rate=3e-4, seed=11)
    assert spec.frame == FrameOptions()
    # The spec is what gets written next to the outputs: plain JSON, and it says what was asked.
    written = json.loads(json.dumps(spec.to_dict()))
    assert written["lstm"]["window"] == 6 and written["train"]["epochs"] == 7 and written["kind"] == "lstm"


def test_from_cli_article_takes_the_2018_settings_but_keeps_the_seed():
    spec = TrainSpec.from_cli(**{**CLI, "model": "frame"}, article=True)
    frame, opts = article_settings()
    assert spec.frame == frame and spec.frame.dropout == 0.0
    # The article's optimizer and schedule replace the --epochs / --learning-rate values.
    assert spec.train == TrainOptions(**{**asdict(opts), "seed": 11})
    assert (spec.train.epochs, spec.train.learning_rate, spec.train.patience, spec.train.class_weight) == (500, 1e-6, 0, False)
    assert spec.kind == "frame" and spec.lstm.window == 6 and spec.augment == 2


# --- fit: frame vs lstm -----------------------------------------------------------------------------------


def test_fit_frame_trains_on_every_frame(embedded):
    trained = fit(embedded, TrainSpec(kind="frame", train=FAST))
    assert trained.kind == "frame" and trained.window == 1
    assert trained.classes == embedded.labels == ["other", "punch/hook", "punch/jab"]
    assert trained.keras_model.input_shape == (None, 1024)
    # Two groups (alice, bob): none is held out for early stopping, so every frame is a training window.
    assert trained.config["train_windows"] == frame_count(embedded) and trained.config["val_windows"] == 0
    assert trained.config["frame"]["units"] == FrameOptions().units and trained.config["lstm"] is None
    assert trained.config["epochs_run"] == FAST.epochs == len(trained.history["loss"])
    x = embedded.windows(1).last_frames()
    p = trained.predict_frames(x)
    assert p.shape == (len(x), 3)
    np.testing.assert_allclose(p.sum(axis=1), 1, atol=1e-5)


def test_fit_lstm_trains_on_windows_of_the_spec(embedded, lstm):
    assert lstm.kind == "lstm" and lstm.window == SMALL_LSTM.window
    assert lstm.keras_model.input_shape == (None, SMALL_LSTM.window, 1024)
    expected = embedded.windows(SMALL_LSTM.window, SMALL_LSTM.stride, SMALL_LSTM.label_policy)
    assert lstm.config["train_windows"] == len(expected) < frame_count(embedded)
    recorded = {k: lstm.config["lstm"][k] for k in ("window", "stride", "label_policy", "units", "projection")}
    assert recorded == {"window": 4, "stride": 2, "label_policy": "last", "units": 16, "projection": 16}
    assert lstm.config["frame"] is None and lstm.config["train"]["epochs"] == FAST.epochs
    p = lstm.predict_windows(expected.sequences())
    assert p.shape == (len(expected), 3)
    np.testing.assert_allclose(p.sum(axis=1), 1, atol=1e-5)


def test_fit_on_some_clips_keeps_the_classes_given(embedded):
    """What an evaluation fold does: train on some clips, but over every class of the dataset."""
    some = [c for c in embedded.clips if c.label != "punch/hook"]
    trained = fit(embedded, TrainSpec(kind="frame", train=ONE), clips=some, classes=embedded.labels)
    assert trained.classes == ["other", "punch/hook", "punch/jab"]
    assert trained.config["train_windows"] == frame_count(embedded, some)
    assert trained.predict_frames(embedded.windows(1).last_frames()).shape[1] == 3


def test_fit_names_an_unknown_kind(embedded):
    with pytest.raises(ActionrecError, match=r"^model kind 'gru': expected .*frame.*lstm$"):
        fit(embedded, TrainSpec(kind="gru", train=FAST))


# --- train_on_dataset: the model directory -------------------------------------------------------------------


def test_train_on_dataset_writes_a_model_directory_recording_dataset_and_spec(data_root, cache_dir, embedded, tmp_path, monkeypatch):
    spec = TrainSpec(kind="frame", lstm=SMALL_LSTM, train=TrainOptions(epochs=1, batch_size=32, patience=0, seed=5))
    cached = {p: p.stat().st_mtime_ns for p in cache_dir.rglob("*.npz")}
    monkeypatch.chdir(data_root.parent)  # a relative dataset path is recorded resolved
    out = tmp_path / "models" / "mine"
    trained = train_on_dataset(data_root.name, spec, FrameSpec(), cache_dir=cache_dir, out=out)
    assert sorted(p.name for p in out.iterdir()) == sorted([CONFIG_FILE, HISTORY_FILE, MODEL_FILE])
    config = json.loads((out / CONFIG_FILE).read_text())
    assert config["dataset"] == str(data_root.resolve())
    assert config["spec"] == spec.to_dict()
    assert (config["spec"]["kind"], config["spec"]["train"]["seed"], config["spec"]["lstm"]["window"]) == ("frame", 5, 4)
    assert config["kind"] == "frame" and config["window"] == 1 and config["classes"] == embedded.labels
    assert config["embedder"] == embedded.config.to_dict()
    assert {p: p.stat().st_mtime_ns for p in cache_dir.rglob("*.npz")} == cached  # embeddings came from the cache
    loaded = load_model(out)
    assert loaded.config["spec"] == spec.to_dict()
    x = embedded.windows(1).last_frames()
    np.testing.assert_allclose(loaded.predict_frames(x), trained.predict_frames(x), atol=1e-6)


# --- predict_clip: the warm-up --------------------------------------------------------------------------------


def test_predict_clip_counts_and_pads_the_warm_up(lstm, embedder):
    n = lstm.window
    result = predict_clip(lstm, PUNCH_AVI, embedder=embedder)
    frames, times = read_clip(PUNCH_AVI, lstm.frame_spec)
    assert result.warmup == n - 1 == 3
    assert result.classes == lstm.classes and result.proba.shape == (len(frames), 3)
    np.testing.assert_allclose(result.times, times)
    emb = embedder.embed(frames)
    # Until n frames exist the window is padded with the first frame, as the live ring buffer starts.
    padded = np.stack([emb[[0, 0, 0, 0]], emb[[0, 0, 0, 1]], emb[[0, 0, 1, 2]]])
    np.testing.assert_allclose(result.proba[:n - 1], lstm.predict_windows(padded), atol=1e-5)
    full = np.stack([emb[i - n + 1 : i + 1] for i in (n - 1, 10, len(emb) - 1)])
    np.testing.assert_allclose(result.proba[[n - 1, 10, len(emb) - 1]], lstm.predict_windows(full), atol=1e-5)


def test_predict_clip_on_a_clip_shorter_than_the_window(lstm, embedder, tmp_path):
    clip = write_clip(tmp_path / "short.avi", source_frames(EXERCISE_AVI, 0, 2), fps=10)
    result = predict_clip(lstm, clip, embedder=embedder)
    assert len(result.times) == 2 < lstm.window
    assert result.warmup == 2  # every frame's window was padded
    np.testing.assert_allclose(result.proba.sum(axis=1), 1, atol=1e-5)


# --- embedded.py: labels and the Embedder --------------------------------------------------------------------


def test_embedded_labels_are_those_frames_carry(tmp_path, embedder):
    """A video annotated end to end has no background frame: ``other`` is a dataset label but not a frame's."""
    root = tmp_path / "data"
    write_clip(root / "kick" / "k1.avi", source_frames(PUNCH_AVI, 0, 10), fps=25)
    write_clip(root / "videos" / "all_punch.avi", source_frames(EXERCISE_AVI, 0, 12), fps=10)
    (root / "annotations.csv").write_text("video,start,end,label\nvideos/all_punch.avi,0,5,punch\n")
    dataset = load_dataset(root)
    assert dataset.labels == ["kick", "other", "punch"]
    data = embed_dataset_dir(dataset, FrameSpec(), cache_dir=tmp_path / "cache", embedder=embedder, show_progress=False)
    assert data.labels == ["kick", "punch"]
    assert data.dataset is dataset and [c.id for c in data.clips] == ["kick/k1.avi", "videos/all_punch.avi"]
    assert data.config == embedder.config and data.cache_dir == tmp_path / "cache"
    assert len(data.embeddings["videos/all_punch.avi"].times) == 12


def test_embedded_dataset_keeps_its_embedder_for_augmenting(data_root, cache_dir, embedder, tmp_path, monkeypatch):
    """Augmenting after embedding uses the MobileNet already loaded, so it needs no weights file any more."""
    from actionrec.learn.augmented_copies import add_augmented_clips

    data = embed_dataset_dir(data_root, FrameSpec(), cache_dir=cache_dir, embedder=embedder, show_progress=False)
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path / "gone.h5"))  # a second MobileNet load would fail here
    clip = next(c for c in data.clips if c.id == "other/o1.avi")
    extended, new = add_augmented_clips(data, [clip], copies=1, seed=0)
    assert len(new) == 1 and extended.embeddings[new[0].id].embeddings.shape == data.embeddings[clip.id].embeddings.shape


def test_from_cli_refuses_the_article_settings_on_an_lstm():
    """Adam(1e-6) for 500 epochs is the 2018 frame baseline; on an LSTM it would only burn hours."""
    with pytest.raises(ActionrecError, match="for the frame model"):
        TrainSpec.from_cli(**{**CLI, "model": "lstm"}, article=True)

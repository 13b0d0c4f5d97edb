"""The frame baseline and the LSTM on real embeddings: save/load round trip, safe loading, and refusals."""

import json
import shutil
import time
from dataclasses import replace

import numpy as np
import pytest
from conftest import PUNCH_AVI, build_class_dataset, leftover_temp_files

from actionrec.features.mobilenet import EmbedderConfig
from actionrec.errors import ActionrecError
from actionrec.learn.models import CONFIG_FILE, MODEL_FILE, FrameOptions, LSTMOptions, TrainOptions, load_model, split_validation, train
from actionrec.learn.train import TrainSpec, fit, predict_clip
from actionrec.learn.embedded import embed_dataset_dir
from actionrec.data.video import FrameSpec

FAST = TrainOptions(epochs=2, batch_size=32, patience=0)


@pytest.fixture(scope="module")
def embedded(tmp_path_factory, embedder):
    """The class-folder dataset (30 source frames per clip), embedded once for the module."""
    root = build_class_dataset(tmp_path_factory.mktemp("models") / "data", frames=30)
    return embed_dataset_dir(root, FrameSpec(), embedder=embedder, show_progress=False)


@pytest.fixture(scope="module")
def frame_model_dir(embedded, tmp_path_factory):
    trained = fit(embedded, TrainSpec(kind="frame", train=FAST))
    return trained, trained.save(tmp_path_factory.mktemp("out") / "frame")


def test_frame_model_round_trip(frame_model_dir, embedded):
    trained, directory = frame_model_dir
    assert sorted(p.name for p in directory.iterdir()) == ["config.json", "history.json", "model.keras"]
    assert leftover_temp_files(directory.parent) == []
    config = json.loads((directory / CONFIG_FILE).read_text())
    assert config["kind"] == "frame" and config["classes"] == ["other", "punch/hook", "punch/jab"]
    assert config["coarse_classes"] == ["other", "punch"] and config["window"] == 1
    assert EmbedderConfig.from_dict(config["embedder"]) == embedded.config
    assert {"tensorflow", "keras", "numpy", "actionrec"} <= set(config["versions"])
    assert config["epochs_run"] == 2 and len(json.loads((directory / "history.json").read_text())["loss"]) == 2

    loaded = load_model(directory)
    x = embedded.windows(1).last_frames()
    before, after = trained.predict_frames(x), loaded.predict_frames(x)
    assert before.shape == (len(x), 3)
    np.testing.assert_allclose(after, before, atol=1e-6)
    np.testing.assert_allclose(before.sum(axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(loaded.predict_window(x[:1][None][0]), before[0], atol=1e-5)
    np.testing.assert_allclose(loaded.to_coarse(before)[:, 1], before[:, 1] + before[:, 2], atol=1e-6)


def test_lstm_round_trip(embedded, tmp_path):
    spec = TrainSpec(kind="lstm", lstm=LSTMOptions(window=4, stride=2, units=16, projection=16), train=FAST)
    trained = fit(embedded, spec)
    assert trained.window == 4 and trained.config["lstm"]["units"] == 16
    loaded = load_model(trained.save(tmp_path / "lstm"))
    windows = embedded.windows(4).sequences()
    assert windows.shape[1:] == (4, 1024)
    np.testing.assert_allclose(loaded.predict_windows(windows), trained.predict_windows(windows), atol=1e-6)
    np.testing.assert_allclose(loaded.predict_window(windows[3]), trained.predict_windows(windows[3:4])[0], atol=1e-5)


def test_the_same_seed_gives_the_same_model_file(embedded, tmp_path):
    """Two fits of one spec, saved apart in time: model.keras the same bytes (Keras alone writes the address of
    each shared layer setting, its save time and a zip time), and the directory differs only in when it was
    made and how long training took."""
    import zipfile

    # Input dropout shares a seed generator between layers: a shared object with an id in the config.
    spec = TrainSpec(kind="lstm", lstm=LSTMOptions(window=4, stride=2, units=8, projection=8, input_dropout=0.3), train=FAST)
    one = fit(embedded, spec).save(tmp_path / "one")
    time.sleep(2.1)  # a zip entry's time has 2 s steps
    two = fit(embedded, spec).save(tmp_path / "two")
    with zipfile.ZipFile(one / MODEL_FILE) as archive:
        assert {i.date_time for i in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert "date_saved" not in json.loads(archive.read("metadata.json"))
        assert '"shared_object_id": 0' in archive.read("config.json").decode()
    assert (one / MODEL_FILE).read_bytes() == (two / MODEL_FILE).read_bytes()
    configs = [json.loads((d / CONFIG_FILE).read_text()) for d in (one, two)]
    histories = [json.loads((d / "history.json").read_text()) for d in (one, two)]
    assert configs[0]["created"] != configs[1]["created"]
    for c in configs:
        c.pop("created")
    for h in histories:
        h.pop("seconds")
    assert configs[0] == configs[1] and histories[0] == histories[1]
    windows = embedded.windows(4).sequences()
    np.testing.assert_array_equal(load_model(one).predict_windows(windows), load_model(two).predict_windows(windows))


def test_two_classes_use_a_sigmoid_and_give_two_columns(embedded):
    two = [c for c in embedded.clips if c.label in ("other", "punch/jab")]
    trained = fit(embedded, TrainSpec(kind="frame", train=FAST), clips=two, classes=["other", "punch/jab"])
    assert trained.keras_model.output_shape == (None, 1)
    p = trained.predict_frames(embedded.windows(1, clips=two).last_frames())
    assert p.shape[1] == 2 and np.allclose(p.sum(axis=1), 1)


def test_predict_clip_per_frame(frame_model_dir, embedder):
    _, directory = frame_model_dir
    result = predict_clip(directory, PUNCH_AVI, embedder=embedder)
    assert result.proba.shape == (43, 3) and len(result.times) == 43 and result.warmup == 0
    assert np.allclose(result.proba.sum(axis=1), 1, atol=1e-5)


def test_model_refuses_embeddings_from_another_embedder_config(frame_model_dir, embedder):
    trained, directory = frame_model_dir
    other = replace(trained.embedder_config, frame_spec=FrameSpec(grayscale=True))
    with pytest.raises(ActionrecError, match="another embedder config.*grayscale: False vs True"):
        trained.check_embedder(other)
    with pytest.raises(ActionrecError, match=f"embeddings for {PUNCH_AVI}.*fps: 10.0 vs 5.0"):
        predict_clip(directory, PUNCH_AVI, embedder=embedder.for_spec(FrameSpec(fps=5)))


def test_model_directory_problems(frame_model_dir, tmp_path):
    _, good = frame_model_dir
    with pytest.raises(ActionrecError, match="does not exist"):
        load_model(tmp_path / "nothing")
    no_config = tmp_path / "no_config"
    no_config.mkdir()
    (no_config / MODEL_FILE).write_bytes((good / MODEL_FILE).read_bytes())
    with pytest.raises(ActionrecError, match=f"{no_config}: model directory has no config.json"):
        load_model(no_config)
    (no_config / CONFIG_FILE).write_text("{not json")
    with pytest.raises(ActionrecError, match=f"{no_config / CONFIG_FILE}: not a valid model config"):
        load_model(no_config)
    # Hand-edited features: the file and the value named, before anything runs on them.
    config = json.loads((good / CONFIG_FILE).read_text())
    for features, says in ((dict(kind="pose", pose_options=dict(num_threads="two")), "num_threads='two': expected a whole number"),
                           (dict(kind="pose", pose_options=dict(smooth="yes")), "smooth='yes': expected true or false"),
                           (dict(kind="pose", pose_long_side="big"), "pose_long_side 'big'")):
        (no_config / CONFIG_FILE).write_text(json.dumps({**config, "features": features}))
        with pytest.raises(ActionrecError, match=f"{no_config / CONFIG_FILE}: not a valid model config, .*{says}"):
            load_model(no_config)
    (no_config / CONFIG_FILE).write_text((good / CONFIG_FILE).read_text())
    (no_config / MODEL_FILE).write_text("not a keras file")
    with pytest.raises(ActionrecError, match=f"{no_config / MODEL_FILE}: damaged, not a complete .keras archive"):
        load_model(no_config)
    (no_config / MODEL_FILE).unlink()
    with pytest.raises(ActionrecError, match="has no model.keras"):
        load_model(no_config)


def test_load_model_is_safe_mode(frame_model_dir, tmp_path):
    """A .keras file with a Python lambda inside is refused: loading it would run arbitrary code."""
    import keras

    _, good = frame_model_dir
    inputs = keras.Input((1024,))
    evil = keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2)(inputs))
    directory = tmp_path / "evil"
    directory.mkdir()
    evil.save(directory / MODEL_FILE)
    (directory / CONFIG_FILE).write_text((good / CONFIG_FILE).read_text())
    with pytest.raises(ActionrecError, match="cannot load Keras model.*(unsafe|safe_mode)"):
        load_model(directory)


def test_training_refusals(embedded):
    windows = embedded.windows(1)
    only_other = np.flatnonzero(windows.labels == "other")
    with pytest.raises(ActionrecError, match="at least 2 classes"):
        train(windows, "frame", embedded.config, rows=only_other, options=FAST)
    with pytest.raises(ActionrecError, match="expected one of frame, lstm"):
        train(windows, "gru", embedded.config, options=FAST)
    with pytest.raises(ActionrecError, match="single frames"):
        train(embedded.windows(4), "frame", embedded.config, options=FAST)
    with pytest.raises(ActionrecError, match=r"not among the model's classes"):
        train(windows, "frame", embedded.config, classes=["other", "punch/jab"], options=FAST)


def test_validation_holds_out_whole_groups():
    groups = np.array(["a", "a", "b", "b", "b", "c", "d", "e"])
    tr, val = split_validation(groups, 0.4, seed=3)
    assert val.any() and tr.any()
    assert not set(groups[tr]) & set(groups[val])
    assert np.array_equal(split_validation(groups, 0.4, seed=3)[1], val)  # seeded
    tr, val = split_validation(np.array(["solo"] * 5), 0.4, seed=0)
    assert tr.all() and not val.any()


def test_article_settings_are_reachable():
    spec = TrainSpec.from_cli(model="frame", window=16, stride=1, label_policy="last", epochs=5,
                              learning_rate=1e-3, article=True, augment=0, seed=7)
    assert spec.frame == FrameOptions(units=1024, dropout=0.0)
    assert (spec.train.learning_rate, spec.train.epochs, spec.train.class_weight, spec.train.seed) == (1e-6, 500, False, 7)


def test_a_truncated_model_file_is_called_damaged(frame_model_dir, tmp_path):
    """Keras itself says "File not found" about a .keras file that is there but cut short."""
    _, good = frame_model_dir
    cut = shutil.copytree(good, tmp_path / "cut")
    data = (good / MODEL_FILE).read_bytes()
    (cut / MODEL_FILE).write_bytes(data[: len(data) // 2])
    with pytest.raises(ActionrecError) as e:
        load_model(cut)
    assert str(e.value).startswith(f"{cut / MODEL_FILE}: damaged") and "not found" not in str(e.value).lower()


def _edited(good, tmp_path, name, **changes):
    """A copy of the model directory whose config.json was edited by hand."""
    directory = shutil.copytree(good, tmp_path / name)
    config = json.loads((directory / CONFIG_FILE).read_text())
    config.update(changes)
    (directory / CONFIG_FILE).write_text(json.dumps(config))
    return directory


def test_an_edited_config_that_disagrees_with_the_model_is_one_line_at_load_time(frame_model_dir, embedded, tmp_path):
    from actionrec.live.runtime import InferenceSession, SessionOptions

    _, frame_dir = frame_model_dir
    lstm_dir = fit(embedded, TrainSpec(kind="lstm", lstm=LSTMOptions(window=4, units=8, projection=8), train=FAST)).save(tmp_path / "lstm")
    cases = [
        (_edited(frame_dir, tmp_path, "as_lstm", kind="lstm", window=16), "says kind 'lstm', window 16, but .* is a frame model"),
        (_edited(lstm_dir, tmp_path, "as_frame", kind="frame", window=1), "says kind 'frame', but .* is an lstm model with window 4"),
        (_edited(lstm_dir, tmp_path, "window", window=8), "says kind 'lstm', window 8, but .* is an lstm model with window 4"),
        (_edited(frame_dir, tmp_path, "classes", classes=["other", "punch/hook", "punch/jab", "kick"]),
         "lists 4 classes, but .* gives 3 outputs"),
        (_edited(frame_dir, tmp_path, "two", classes=["other", "punch"]), "lists 2 classes, but .* gives 3 outputs"),
        (_edited(frame_dir, tmp_path, "gru", kind="gru"), "kind 'gru'; expected one of frame, lstm"),
        (_edited(frame_dir, tmp_path, "frame_window", window=16), "window 16; expected 1 for a frame model"),
    ]
    for directory, pattern in cases:
        with pytest.raises(ActionrecError, match=pattern) as e:
            load_model(directory)
        assert str(e.value).startswith(f"{directory / CONFIG_FILE}: ") and "\n" not in str(e.value)
        # The live runtime reads config.json through the same reader and checks (its Keras backend).
        with pytest.raises(ActionrecError, match=pattern):
            InferenceSession(SessionOptions(directory, backend="keras"))

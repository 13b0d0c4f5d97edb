"""Training that holds on small data (issue 16): temporal augmentation of windows, the best epoch restored,
the memorising warning, options chosen from the data, and the size comparison.

Real MobileNet embeddings of the real fixture clips, cut into short pseudo-clips with random labels, are
what a model can only memorise: the validation loss rises from the first epochs, as on real surveillance
clips where the training sources are learnt instead of the action.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import EXERCISE_AVI, PUNCH_AVI
from conftest import build_order_dataset
from typer.testing import CliRunner

from actionrec.cli import app
from actionrec.data.datasets import Clip, Dataset
from actionrec.data.video import FrameSpec, iter_source_frames
from actionrec.errors import ActionrecError
from actionrec.features.cache import ClipEmbeddings
from actionrec.learn import fitting
from actionrec.learn.diagnose import memorises, memorising_warnings
from actionrec.learn.embedded import EmbeddedDataset
from actionrec.learn.evaluate import EvaluateOptions, evaluate
from actionrec.learn.models import FrameOptions, LSTMOptions, TrainOptions, both_columns, train
from actionrec.learn.regularization import DataSize, resolve
from actionrec.learn.report import format_table
from actionrec.learn.sizes import advice, parse_sizes
from actionrec.learn.temporal import TemporalAugment, augment_rows, batch_rng, clip_bounds
from actionrec.learn.train import TrainSpec
from actionrec.learn.windows import make_windows

OFF = TemporalAugment.none()
# The pre-issue-16 LSTM, every option fixed: it memorises random labels quickly.
PLAIN = LSTMOptions(window=8, stride=2, units=32, projection=32, input_dropout=0.0, dropout=0.0, window_mean=False)
PLAIN_TRAIN = dict(weight_decay=0.0, schedule="constant", label_smoothing=0.0, temporal=OFF, val_fraction=0.3, members=1)


def toy_clips(lengths, dim=5, labels=("a", "b"), seed=0):
    """Clips with embeddings whose first feature is the frame's row number: rows can be read back."""
    rng = np.random.default_rng(seed)
    clips, embs, row = [], {}, 0
    for i, m in enumerate(lengths):
        clip = Clip(Path(f"c{i}.avi"), f"c{i}", f"g{i % 3}", labels[i % len(labels)])
        e = rng.normal(size=(m, dim)).astype(np.float32)
        e[:, 0] = np.arange(row, row + m)
        clips.append(clip)
        embs[clip.id] = ClipEmbeddings(e, np.arange(m) / 10.0)
        row += m
    return clips, embs


def test_temporal_augmentation_stays_in_the_clip_and_is_seeded():
    clips, embs = toy_clips([20, 26, 17, 40])
    ws = make_windows(clips, embs, n=16, stride=2)
    lo, hi = clip_bounds(ws)
    aug = TemporalAugment(shift=2, speed=1.25, drop=0.1)
    rows = augment_rows(ws.index, lo, hi, aug, batch_rng(3, 0, 0))
    assert rows.shape == ws.index.shape and rows.dtype == np.int64
    assert (rows >= lo[:, None]).all() and (rows < hi[:, None]).all()
    assert (np.diff(rows, axis=1) >= 0).all()  # time still runs forward
    shifted = augment_rows(ws.index, lo, hi, TemporalAugment(shift=2, speed=1.0, drop=0.0), batch_rng(3, 0, 0))
    moved = shifted[:, -1] - ws.index[:, -1]
    assert (np.abs(moved) <= 2).all() and len(set(moved)) > 2  # the anchor moves by at most ``shift``
    np.testing.assert_array_equal(np.diff(shifted, axis=1), 1)  # a plain crop: consecutive frames
    assert not np.array_equal(rows, ws.index)
    np.testing.assert_array_equal(rows, augment_rows(ws.index, lo, hi, aug, batch_rng(3, 0, 0)))
    assert not np.array_equal(rows, augment_rows(ws.index, lo, hi, aug, batch_rng(3, 1, 0)))  # next epoch
    np.testing.assert_array_equal(augment_rows(ws.index, lo, hi, OFF, batch_rng(3, 0, 0)), ws.index)
    # Frame drops alone: each frame is its own or repeats the one before, never a new one.
    dropped = augment_rows(ws.index, lo, hi, TemporalAugment(shift=0, speed=1.0, drop=0.5), batch_rng(0, 0, 0))
    assert set(np.unique(dropped)) <= set(np.unique(ws.index))
    assert (dropped[:, 1:] == dropped[:, :-1]).mean() > 0.3 and (dropped[:, 0] == ws.index[:, 0]).all()
    # Speed alone: windows span more or fewer frames than n, the anchor stays.
    fast = augment_rows(ws.index, lo, hi, TemporalAugment(shift=0, speed=2.0, drop=0.0), batch_rng(0, 0, 0))
    spans = fast[:, -1] - fast[:, 0]
    assert (fast[:, -1] == ws.index[:, -1]).all() and spans.min() < 15 and spans.max() > 15
    # Without recorded clip rows, the span the clip's windows cover (which may end before the clip does).
    ws.clip_rows = None
    lo2, hi2 = clip_bounds(ws)
    np.testing.assert_array_equal(lo2, lo)
    assert (hi2 <= hi).all() and (hi2 > ws.index[:, -1]).all()


def test_temporal_augmentation_same_bytes_in_a_new_process():
    code = (
        "import hashlib, numpy as np\n"
        "from actionrec.learn.temporal import TemporalAugment, augment_rows, batch_rng\n"
        "index = np.arange(40)[:, None] + np.arange(16)[None, :] + 10\n"
        "rows = augment_rows(index, np.full(40, 10), np.full(40, 70), TemporalAugment(), batch_rng(7, 2, 5))\n"
        "print(hashlib.sha256(rows.tobytes()).hexdigest())\n"
    )
    index = np.arange(40)[:, None] + np.arange(16)[None, :] + 10
    here = augment_rows(index, np.full(40, 10), np.full(40, 70), TemporalAugment(), batch_rng(7, 2, 5))
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert there == hashlib.sha256(here.tobytes()).hexdigest()


def test_augmented_batches_keep_the_feature_dimension_and_relabel_annotated_windows():
    """An annotated clip (label changes at frame 10): a window moved across the change takes the new label."""
    clips, embs = toy_clips([30], dim=7)
    ws = make_windows(clips, embs, n=8, stride=1)
    ws.frame_labels = np.array(["a"] * 10 + ["b"] * 20)
    ws.labels = ws.frame_labels[ws.index[:, -1]]
    frame_y = (ws.frame_labels == "b").astype(np.int64)
    y = (ws.labels == "b").astype(np.int64)
    rows = np.arange(len(ws))
    aug = TemporalAugment(shift=3, speed=1.0, drop=0.0)
    data = fitting.batches(ws, rows, y, 64, False, 5, 2, False, temporal=aug, frame_y=frame_y)
    x, labels = data[0]
    assert x.shape == (len(ws), 8, 7)
    np.testing.assert_array_equal(labels, frame_y[x[:, -1, 0].astype(int)])  # label of the (moved) last frame
    again_x, _ = fitting.batches(ws, rows, y, 64, False, 5, 2, False, temporal=aug, frame_y=frame_y)[0]
    assert again_x.tobytes() == x.tobytes()
    with pytest.raises(ActionrecError, match="temporal augmentation"):
        TemporalAugment(speed=0.5)


@pytest.fixture(scope="module")
def random_label_clips(embedder):
    """21 pseudo-clips of 20 real embedded frames each, 7 groups, labels at random: only memorisable."""
    frames = [f for path in (PUNCH_AVI, EXERCISE_AVI) for _, f in iter_source_frames(path, FrameSpec())]
    emb = embedder.embed(np.stack(frames[: 21 * 20]))
    rng = np.random.default_rng(0)
    clips, embs = [], {}
    for i in range(21):
        clip = Clip(Path(f"rand/{i}.avi"), f"rand{i}", f"g{i % 7}", str(rng.choice(["fight", "other"])))
        clips.append(clip)
        embs[clip.id] = ClipEmbeddings(emb[i * 20 : (i + 1) * 20], np.arange(20) / 10.0)
    return clips, embs


def test_training_ends_with_the_best_epoch_weights(random_label_clips, embedder):
    clips, embs = random_label_clips
    ws = make_windows(clips, embs, n=8, stride=2)
    options = TrainOptions(epochs=14, patience=100, learning_rate=3e-3, seed=1, **PLAIN_TRAIN)
    trained = train(ws, "lstm", embedder.config, lstm=PLAIN, options=options)
    h = trained.history
    best = h["best_epoch"]
    assert len(h["val_loss"]) == 14 and best == int(np.argmin(h["val_loss"]))
    assert h["val_loss"][-1] > h["val_loss"][best] * 1.05  # the last epoch is clearly worse: restoring matters
    val = np.isin(ws.groups, trained.config["val_groups"])
    y = (ws.labels[val] == "other").astype(np.float32)
    p = np.clip(trained.predict_windows(ws.sequences(val))[:, 1], 1e-7, 1 - 1e-7)
    loss = float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    assert loss == pytest.approx(h["val_loss"][best], rel=1e-3)  # the weights are the best epoch's


def test_memorising_warning_in_report_json_and_md(random_label_clips, embedder, tmp_path):
    clips, embs = random_label_clips
    data = EmbeddedDataset(Dataset(tmp_path / "data", clips), embedder.config, clips, embs, tmp_path / "cache")
    plain = TrainSpec(kind="lstm", lstm=PLAIN, train=TrainOptions(epochs=12, patience=100, learning_rate=3e-3, **PLAIN_TRAIN))
    options = EvaluateOptions(folds=2, sequence_model=plain, frame_model=TrainSpec(kind="frame", train=TrainOptions(epochs=12, patience=100)))
    report = evaluate(data, tmp_path / "report", options, log=lambda *_: None)
    warned = {w["model"]: w for w in report["warnings"]}
    assert "lstm" in warned and warned["lstm"]["folds"]
    on_disk = json.loads((tmp_path / "report" / "report.json").read_text())
    assert on_disk["warnings"] == report["warnings"]
    md = (tmp_path / "report" / "report.md").read_text()
    assert "**Warnings**" in md and "lstm: validation loss was lowest in the first 3 epochs" in md
    assert "memorises the training groups" in format_table(report)


def test_memorises_needs_an_early_best_a_rise_and_a_falling_training_loss():
    rising = {"val_loss": [0.69, 0.68, 0.7, 0.75, 0.8, 0.9], "loss": [0.69, 0.5, 0.3, 0.2, 0.1, 0.05]}
    assert memorises(rising)
    assert not memorises({**rising, "val_loss": [0.69, 0.6, 0.5, 0.45, 0.4, 0.38]})  # still learning
    assert not memorises({**rising, "loss": [0.69, 0.68, 0.68, 0.67, 0.67, 0.66]})  # not fitting either
    assert not memorises({"loss": [0.7, 0.5], "val_loss": [0.7, 0.9]})  # too short to tell
    assert not memorises({"loss": rising["loss"]})  # no validation groups
    assert memorising_warnings([{"lstm": rising, "frame": {}}, {"lstm": rising}])[0]["folds"] == [1, 2]
    assert memorising_warnings([{"lstm": rising}, {"lstm": {}}, {"lstm": {}}]) == []  # 1 of 3 folds


def test_options_left_at_none_are_chosen_from_the_data():
    small, large = DataSize(positions=740, windows=480, groups=29, clips=120), DataSize(positions=4400, windows=2300, groups=6, clips=258)
    l_small, t_small = resolve("lstm", LSTMOptions(), TrainOptions(), small)
    l_large, t_large = resolve("lstm", LSTMOptions(), TrainOptions(), large)
    for opts in (l_small, t_small, l_large, t_large):
        assert None not in vars(opts).values()
    # Small data: every group trains every epoch; plentiful data: early stopping on held-out groups.
    assert (t_small.patience, t_small.val_fraction) == (0, 0.0) and t_large.patience > 0 and t_large.val_fraction > 0
    # A value given explicitly is kept; the frame baseline keeps the article's plain training.
    assert resolve("lstm", LSTMOptions(projection=77), TrainOptions(patience=3), small)[0].projection == 77
    assert resolve("lstm", LSTMOptions(), TrainOptions(patience=3), small)[1].patience == 3
    _, t_frame = resolve("frame", LSTMOptions(), TrainOptions(), small)
    assert (t_frame.weight_decay, t_frame.label_smoothing, t_frame.schedule, t_frame.temporal.active) == (0.0, 0.0, "constant", False)
    assert t_frame.patience > 0
    # Small data: three LSTMs averaged (survfight-dev depended less on the seed); plentiful data and the
    # frame baseline: one model. --members fixes it either way.
    assert (t_small.members, t_large.members, t_frame.members) == (3, 1, 1)
    assert resolve("lstm", LSTMOptions(), TrainOptions(members=1), small)[1].members == 1
    assert resolve("lstm", LSTMOptions(), TrainOptions(members=3), large)[1].members == 3
    # Small data: the window's mean beside the LSTM's state (survfight-dev scored higher for every seed).
    assert (l_small.window_mean, l_large.window_mean) == (True, False)
    assert resolve("lstm", LSTMOptions(window_mean=False), TrainOptions(), small)[0].window_mean is False


def test_data_size_counts_window_positions_whatever_the_stride():
    clips, embs = toy_clips([20, 26, 17, 40])
    for stride in (1, 2, 5):
        ws = make_windows(clips, embs, n=16, stride=stride)
        size = DataSize.of(ws, np.arange(len(ws)))
        assert size.positions == 5 + 11 + 2 + 25 and size.clips == 4 and size.groups == 3
        assert DataSize.of(ws, np.flatnonzero(ws.clip_ids == "c3")).positions == 25


def test_size_list_parsing_and_advice():
    specs = parse_sizes("100x56, 224x224", FrameSpec(fps=5, grayscale=True))
    assert [(s.width, s.height, s.fps, s.grayscale) for s in specs] == [(100, 56, 5, True), (224, 224, 5, True)]
    for bad, why in (("100x56,abc", "'abc' is not WIDTHxHEIGHT"), ("100x56,100x56", "listed twice"), ("16x16", "at least 32x32")):
        with pytest.raises(ActionrecError, match=why):
            parse_sizes(bad)
    pixels = {"100x56": 5600, "224x224": 50176}
    assert advice({"100x56": {"accuracy": 0.6}, "224x224": {"accuracy": 0.7}}, pixels)["size"] == "224x224"
    close = advice({"100x56": {"accuracy": 0.695}, "224x224": {"accuracy": 0.7}}, pixels)
    assert close["size"] == "100x56" and "fewer pixels" in close["reason"]


def test_evaluate_compares_sizes_in_one_report(tmp_path, weights_path):
    data = build_order_dataset(tmp_path / "order", clips_per_class=2)
    out = tmp_path / "sizes"
    args = ["evaluate", str(data), "--out", str(out), "--folds", "2", "--window", "8", "--epochs", "8",
            "--size", "100x56,64x64", "--cache", str(tmp_path / "cache"), "--weights", str(weights_path)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["sizes"] == ["100x56", "64x64"] and report["pending"] == [] and report["folds"] == 2
    for model in ("frame_last", "frame_mean", "lstm"):
        for size in ("100x56", "64x64"):
            single = json.loads((out / size / "report.json").read_text())
            assert report["models"][model][size]["accuracy"] == single["models"][model]["accuracy"]
            assert single["config"]["embedder"]["frame_spec"]["width"] == int(size.split("x")[0])
    assert report["advice"]["size"] in ("100x56", "64x64")
    md = (out / "report.md").read_text()
    assert "| [100x56](100x56/report.md) |" in md and "Advice: --size" in md
    assert "advice: --size" in result.output
    assert len(list((out / "folds").glob("fold*.npz"))) == 4  # 2 folds x 2 sizes, names apart
    again = CliRunner().invoke(app, args)  # a rerun resumes every fold
    assert again.exit_code == 0 and again.output.count("done earlier") == 4, again.output


def test_lever_rows_fix_one_option_over_the_synthetic_tuned_settings():
    from actionrec.learn.evaluate import evaluate_options
    from actionrec.tools.levers import ROWS, main, row_options

    base = evaluate_options(folds=5, seed=1, epochs=7)
    rows = {row.name: row_options(base, row) for row in ROWS}
    before, decay = rows["before: mobilenet, early stopping"], rows["+ weight decay 0.004 (AdamW)"]
    for opts in (before, decay):
        seq = opts.sequence_model
        assert (seq.lstm.projection, seq.train.patience, seq.train.val_fraction, seq.train.epochs) == (128, 8, 0.2, 7)
        assert opts.frame_model == base.frame_model and opts.seed == 1  # the baselines keep their settings
    assert before.sequence_model.train.weight_decay == 0.0 and decay.sequence_model.train.weight_decay == 0.004
    assert rows["+ every group trains, no early stopping"].sequence_model.train.patience == 0
    assert rows["shipped defaults"] is base  # every option left to the shipped rule
    tuned = rows["+ fine-tuning MobileNet's top 2 blocks"].sequence_model
    assert (tuned.finetune, tuned.train.learning_rate, tuned.lstm.projection) == (2, 1e-4, 128)
    assert rows["+ cosine learning rate"].sequence_model.finetune == 0
    # Over the shipped rule: the one option fixed, every other left to the data, the features the default.
    smoothed = rows["shipped + label smoothing 0.1"].sequence_model
    assert smoothed.train.label_smoothing == 0.1 and smoothed.train.patience is None and smoothed.lstm.projection is None
    assert [row.features for row in ROWS if row.over == "shipped"] == [None] * 8
    three = rows["shipped + 3 LSTMs averaged in one model"].sequence_model
    assert three.train.members == 3 and three.train.patience is None
    mean = rows["shipped + the window's mean features beside the LSTM"].sequence_model
    assert mean.lstm.window_mean is True and mean.lstm.projection is None and mean.train == base.sequence_model.train
    # Augmented copies are the evaluation's: every model trains on them, the LSTM's options stay the rule's.
    copies = rows["shipped + 1 augmented copy of each training clip"]
    assert copies.augment == 1 and base.augment == 0 and copies.sequence_model == base.sequence_model
    with pytest.raises(SystemExit, match=rf"--rows '{len(ROWS)}'"):
        main(["data", "--out", "out", "--rows", str(len(ROWS))])
    with pytest.raises(SystemExit, match="--window 1: expected 2 or more"):
        main(["data", "--out", "out", "--window", "1"])


def test_regularizers_given_on_the_command_line_hold_whatever_the_data(class_dataset, tmp_path):
    out = tmp_path / "m"
    given = ["--early-stopping", "--weight-decay", "0.1", "--schedule", "cosine", "--label-smoothing", "0.1",
             "--temporal-augment", "--projection", "16", "--dropout", "0.2", "--members", "2", "--no-window-mean"]
    result = CliRunner().invoke(app, ["train", str(class_dataset), "--window", "4", "--epochs", "3", "--features", "mobilenet",
                                      "--out", str(out), *given])
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())
    # 4 clips are small data: the rule alone would train every epoch on every group; early stopping was asked for
    # (with 2 groups none is held out: split_validation keeps both).
    assert config["data_size"]["small"] and (config["train"]["patience"], config["train"]["val_fraction"]) == (8, 0.2)
    train_, lstm = config["train"], config["lstm"]
    assert (train_["weight_decay"], train_["schedule"], train_["label_smoothing"]) == (0.1, "cosine", 0.1)
    assert train_["temporal"] == {"shift": 2, "speed": 1.25, "drop": 0.1}
    assert train_["members"] == 2 and json.loads((out / "history.json").read_text())["members"] == 2
    assert (lstm["projection"], lstm["dropout"], lstm["input_dropout"]) == (16, 0.2, 0.5)  # input dropout: the rule's
    assert lstm["window_mean"] is False  # the rule's choice for small data is on
    assert config["spec"]["train"]["weight_decay"] == 0.1  # what was asked, beside what ran


def test_bad_regularizers_are_one_line_before_any_embedding(class_dataset, tmp_path):
    from test_cli import assert_one_line_error

    def run(*args):
        return CliRunner().invoke(app, [str(a) for a in args])

    out = tmp_path / "m"
    assert_one_line_error(run("train", class_dataset, "--out", out, "--schedule", "step"), "--schedule 'step'", "cosine, plateau, constant")
    assert_one_line_error(run("evaluate", class_dataset, "--out", out, "--dropout", "1.5"), "--dropout 1.5", "< 1")
    assert_one_line_error(run("train", class_dataset, "--out", out, "--weight-decay", "-1"), "--weight-decay -1", ">= 0")
    assert_one_line_error(run("evaluate", class_dataset, "--out", out, "--members", "0"), "--members 0", "1 (one LSTM) or more")
    assert_one_line_error(run("train", class_dataset, "--out", out, "--members", "2", "--finetune", "1"),
                          "--members 2 with --finetune", "one head")
    assert_one_line_error(run("train", class_dataset, "--model", "frame", "--out", out, "--projection", "8", "--no-temporal-augment"),
                          "--projection, --temporal with --model frame", "LSTM only")
    assert_one_line_error(run("train", class_dataset, "--model", "frame", "--article", "--out", out, "--weight-decay", "0.1"),
                          "--article with regularization options")
    assert not (class_dataset / ".cache").exists() and not out.exists()


def test_evaluate_fixes_the_lstms_regularizers_and_keeps_the_baselines():
    from actionrec.learn.evaluate import evaluate_options
    from actionrec.learn.regularization import fixed_by_user

    base = evaluate_options(folds=5, seed=1, epochs=7)
    fixed = evaluate_options(folds=5, seed=1, epochs=7, fixed=fixed_by_user(early_stopping=False, weight_decay=0.1, projection=0))
    seq = fixed.sequence_model
    assert (seq.train.patience, seq.train.val_fraction, seq.train.weight_decay, seq.lstm.projection) == (0, 0.0, 0.1, 0)
    assert seq.train.schedule is None and seq.lstm.dropout is None  # the rest still follows the data
    assert fixed.frame_model == base.frame_model


def test_a_lever_run_resumes_in_its_own_folder_and_refuses_others(tmp_path):
    from actionrec.util.outputs import LEVERS, claim_output

    out = tmp_path / "levers"
    (out / "row0" / "folds").mkdir(parents=True)  # killed in its first row: a report folder, nothing else
    (out / "row0" / "folds" / "fold0-0123456789abcdef.npz").write_bytes(b"")
    assert claim_output(out, LEVERS) == out
    (out / "levers.json").write_text(json.dumps({"dataset": "d", "rows": []}))
    (out / "levers.md").write_text("| lever |\n")
    assert claim_output(out, LEVERS) == out  # a rerun resumes (this refused before: not an evaluation report)
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ActionrecError, match="not a lever table folder"):
        claim_output(out, LEVERS)
    assert (out / "notes.txt").read_text() == "mine"


def test_averaged_members_are_one_model_that_saves_loads_and_exports(random_label_clips, embedder, tmp_path):
    """Three heads, each with the window's mean beside its LSTM (small data's model): one model that
    loads in Keras' safe mode and exports to LiteRT with the same probabilities."""
    from actionrec.features.spec import FeatureSpec
    from actionrec.learn.models import load_model
    from actionrec.live.export import export_model
    from actionrec.live.runtime import InferenceSession, SessionOptions

    clips, embs = random_label_clips
    ws = make_windows(clips, embs, n=8, stride=2)
    every = dict(PLAIN_TRAIN, val_fraction=0.0)
    options = TrainOptions(epochs=3, patience=0, seed=4, **every)
    averaged = train(ws, "lstm", embedder.config, lstm=replace(PLAIN, window_mean=True), options=replace(options, members=3))
    x = ws.sequences()
    p = averaged.predict_windows(x)
    km = averaged.keras_model
    assert all(km.get_layer(f"window_mean_m{k}") for k in range(3))
    # The kept model is the mean of three heads, each with its own trained weights.
    heads = [keras_head(km, k) for k in range(3)]
    parts = [h(x, training=False).numpy() for h in heads]
    assert not np.allclose(parts[0], parts[1], atol=1e-3) and not np.allclose(parts[1], parts[2], atol=1e-3)
    np.testing.assert_allclose(p, both_columns(np.mean(parts, axis=0)), atol=1e-5)
    assert averaged.history["members"] == 3 and averaged.config["train"]["members"] == 3

    averaged.config["features"] = FeatureSpec().to_dict()
    averaged.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m")  # Keras safe mode
    np.testing.assert_allclose(loaded.predict_windows(x), p, atol=1e-6)
    export_model(tmp_path / "m")  # refused if the TFLite graph disagrees with Keras
    session = InferenceSession(SessionOptions(tmp_path / "m", backend="litert"))
    np.testing.assert_allclose(session.predict_window(x[0]), p[0], atol=1e-4)


def keras_head(model, k: int):
    import keras

    return keras.Model(model.inputs[0], model.get_layer(f"probs_m{k}").output)


def test_members_train_as_if_alone(random_label_clips, embedder):
    """Each member's loss reaches only its own weights: member 0 of a pair learns what one model learns
    from the same start and the same batches."""
    import keras

    from actionrec.learn.models import _build

    clips, embs = random_label_clips
    ws = make_windows(clips, embs, n=8, stride=2)
    x, y = ws.sequences(), (ws.labels == "other").astype(np.float32)
    stats = (np.zeros(x.shape[2], np.float32), np.ones(x.shape[2], np.float32))
    lstm = replace(PLAIN, input_dropout=0.0, dropout=0.0)
    opts = TrainOptions(**dict(PLAIN_TRAIN, patience=0, val_fraction=0.0))
    keras.utils.set_random_seed(5)
    pair = _build("lstm", 2, 8, FrameOptions(), lstm, 1e-2, stats, options=opts, members=2)
    keras.utils.set_random_seed(5)
    one = _build("lstm", 2, 8, FrameOptions(), lstm, 1e-2, stats, options=opts)
    start = keras_head(pair, 0)
    one.set_weights(start.get_weights())
    pair.fit(x, y, epochs=3, batch_size=32, shuffle=False, verbose=0)
    one.fit(x, y, epochs=3, batch_size=32, shuffle=False, verbose=0)
    np.testing.assert_allclose(keras_head(pair, 0)(x).numpy(), one(x).numpy(), atol=1e-4)
    assert pair.loss.name.startswith("members_")  # fitting.members_loss

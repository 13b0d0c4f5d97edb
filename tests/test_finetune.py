"""``train --finetune K`` on real clips and the real ImageNet weights: the decoded-frame cache, which blocks
learn, and that every path that embeds for a fine-tuned model (predict, export, the live runtime) takes its
own MobileNet, never ImageNet's."""

import json

import numpy as np
import pytest
from conftest import build_class_dataset, source_frames
from test_cli import assert_one_line_error, run

from actionrec.data.video import FrameSpec, prepare
from actionrec.errors import ActionrecError
from actionrec.features.mobilenet import Embedder, layer_block, load_mobilenet, tunable_mobilenet
from actionrec.learn.embedded import embed_dataset_dir, frames_dataset_dir
from actionrec.learn.models import LSTMOptions, TrainOptions, load_model
from actionrec.learn.train import FINETUNE_LEARNING_RATE, TrainSpec, fit, predict_clip

K = 2
# A rate 10x the fine-tuning default, so that one short epoch moves the tuned embeddings well clear of
# the export's rounding (the test is about where the backbone goes, not how well it learns).
SPEC = TrainSpec(kind="lstm", lstm=LSTMOptions(window=4, units=8, projection=8),
                 train=TrainOptions(epochs=1, batch_size=8, learning_rate=1e-3, val_fraction=0.0, seed=0), finetune=K)


@pytest.fixture(scope="module")
def tuned(tmp_path_factory, weights_path):
    """(dataset root, frames data, trained model, saved model dir) of one short K = 2 fine-tuning run."""
    root = build_class_dataset(tmp_path_factory.mktemp("ft") / "data", frames=30)
    data = frames_dataset_dir(root, FrameSpec(), weights=weights_path, show_progress=False)
    trained = fit(data, SPEC)
    model_dir = trained.save(root.parent / "model")
    return root, data, trained, model_dir


def test_frozen_backbone_on_cached_frames_gives_the_cached_embeddings(tmp_path, embedder, weights_path):
    root = build_class_dataset(tmp_path / "data")
    cached = embed_dataset_dir(root, FrameSpec(), embedder=embedder, show_progress=False)
    frames = frames_dataset_dir(root, FrameSpec(), weights=weights_path, show_progress=False)
    frozen = Embedder.from_model(tunable_mobilenet(FrameSpec(), weights_path, 0), cached.config)
    for clip in cached.clips:
        a, b = cached.embeddings[clip.id], frames.embeddings[clip.id]
        assert b.embeddings.dtype == np.uint8 and b.embeddings.shape[1:] == (56, 100, 3)
        np.testing.assert_array_equal(a.times, b.times)
        assert np.abs(frozen.embed(b.embeddings) - a.embeddings).max() < 1e-4


def test_frame_cache_is_reused_without_decoding(tmp_path, weights_path, monkeypatch):
    root = build_class_dataset(tmp_path / "data")
    first = frames_dataset_dir(root, FrameSpec(), weights=weights_path, show_progress=False)
    entries = sorted((root / ".cache" / "embeddings").glob("frames-*/*.npz"))
    assert len(entries) == len(first.clips)
    stamps = [p.stat().st_mtime_ns for p in entries]

    def no_decode(*_):
        raise AssertionError("a cached clip was decoded again")

    monkeypatch.setattr("actionrec.features.frame_cache.read_clip", no_decode)
    again = frames_dataset_dir(root, FrameSpec(), weights=weights_path, show_progress=False)
    assert [p.stat().st_mtime_ns for p in entries] == stamps
    for cid, clip in first.embeddings.items():
        np.testing.assert_array_equal(again.embeddings[cid].embeddings, clip.embeddings)


def test_damaged_frame_entry_is_recomputed(tmp_path, weights_path, capsys):
    root = build_class_dataset(tmp_path / "data")
    first = frames_dataset_dir(root, FrameSpec(), weights=weights_path, show_progress=False)
    entry = sorted((root / ".cache" / "embeddings").glob("frames-*/*.npz"))[0]
    np.savez(entry, frames=np.zeros((3, 56, 99, 3), np.uint8), times=np.arange(3.0))
    again = frames_dataset_dir(root, FrameSpec(), weights=weights_path, show_progress=False)
    assert "damaged frame cache entry (frames are uint8 (3, 56, 99, 3)" in capsys.readouterr().err
    for cid, clip in first.embeddings.items():
        np.testing.assert_array_equal(again.embeddings[cid].embeddings, clip.embeddings)


def test_only_the_top_blocks_learn(tuned, weights_path):
    _, _, trained, _ = tuned
    imagenet = load_mobilenet(FrameSpec(), weights_path)
    changed_blocks = set()
    assert len(imagenet.layers) == len(trained.backbone.layers)
    for before, after in zip(imagenet.layers, trained.backbone.layers):
        for w0, w1 in zip(before.get_weights(), after.get_weights()):
            if not np.array_equal(w0, w1):
                changed_blocks.add(layer_block(after.name))
                assert "_bn" not in after.name, f"{after.name}: BatchNorm must stay frozen"
    assert changed_blocks == {12, 13}


def test_saved_model_carries_its_backbone_and_predicts_the_same(tuned, punch_avi):
    _, _, trained, model_dir = tuned
    loaded = load_model(model_dir)
    assert loaded.finetune == K and loaded.config["finetune"] == K and (model_dir / "backbone.keras").is_file()
    assert loaded.embedder_config.weights_sha256.startswith("finetuned-")
    a, b = predict_clip(trained, punch_avi), predict_clip(loaded, punch_avi)
    np.testing.assert_allclose(a.proba, b.proba, atol=1e-6)


def test_export_and_runtime_embed_with_the_tuned_backbone(tuned, embedder, weights_path, punch_avi):
    from actionrec.live.export import export_model
    from actionrec.live.runtime import InferenceSession, SessionOptions

    _, _, trained, model_dir = tuned
    export_model(model_dir, weights=weights_path)
    frames = np.stack([prepare(f[:, :, ::-1].copy(), FrameSpec()) for f in source_frames(punch_avi, 0, 4)])
    own = trained.embedder().embed(frames)
    imagenet = embedder.embed(frames)
    lite = InferenceSession(SessionOptions(model_dir))
    keras = InferenceSession(SessionOptions(model_dir, backend="keras"))
    assert lite.backend == "litert", lite.reason
    for i, frame in enumerate(frames):
        e_lite, e_keras = lite.embed_one(frame), keras.embed_one(frame)
        assert np.abs(e_lite - own[i]).max() < 2e-4
        assert np.abs(e_keras - own[i]).max() < 1e-4  # batch 1 against batch 4: oneDNN rounds differently
        assert np.abs(e_lite - imagenet[i]).max() > 1e-2  # the tuned backbone, not ImageNet's


def test_fine_tuned_model_refuses_imagenet_embeddings(tuned, embedder, punch_avi):
    _, _, trained, _ = tuned
    with pytest.raises(ActionrecError, match="fine-tuned one \\(finetune 2\\)"):
        trained.check_embedder(embedder.config)
    with pytest.raises(ActionrecError, match="fine-tuned"):
        predict_clip(trained, punch_avi, embedder=embedder)


def test_changed_backbone_is_refused(tuned, tmp_path, weights_path):
    import shutil

    from actionrec.live.export import export_model
    from actionrec.live.exported import export_problem

    _, _, _, model_dir = tuned
    if export_problem(model_dir):  # not exported yet by the test above
        export_model(model_dir, weights=weights_path)
    copy = tmp_path / "model"
    shutil.copytree(model_dir, copy)
    other = load_model(model_dir)
    other.backbone.layers[-3].set_weights([w + 1 for w in other.backbone.layers[-3].get_weights()])
    other.backbone.save(copy / "backbone.keras")
    with pytest.raises(ActionrecError, match="backbone.keras: not the backbone trained with this model"):
        load_model(copy)
    # Its embedder.tflite is the old backbone: the export is stale too, and the live runtime will not use it.
    assert "backbone.keras: missing or changed since the TFLite export" in export_problem(copy)


@pytest.mark.parametrize("k", ["-1", "14"])
def test_bad_finetune_is_one_line(class_dataset, tmp_path, k):
    assert_one_line_error(run("train", class_dataset, "--out", tmp_path / "m", "--finetune", k),
                          f"--finetune {k}", "from 0 to 13")
    assert not (tmp_path / "m").exists()


def test_finetune_with_pose_features_is_one_line(class_dataset, tmp_path):
    assert_one_line_error(run("train", class_dataset, "--out", tmp_path / "m", "--finetune", "2", "--features", "pose"),
                          "--finetune with --features pose", "expected --features mobilenet")


def test_fine_tuned_training_is_refused_on_embeddings(tuned, embedder):
    root, _, _, _ = tuned
    data = embed_dataset_dir(root, FrameSpec(), embedder=embedder, show_progress=False)
    with pytest.raises(ActionrecError, match="fine-tuning trains on frames"):
        fit(data, SPEC)


def test_cli_trains_and_predicts_a_fine_tuned_model(class_dataset, tmp_path, punch_avi):
    out = tmp_path / "m"
    result = run("train", class_dataset, "--out", out, "--finetune", "1", "--window", "4", "--epochs", "1")
    assert result.exit_code == 0, result.output
    assert "MobileNet's top 1 blocks tuned" in result.stdout
    config = json.loads((out / "config.json").read_text())
    assert config["finetune"] == 1 and config["train"]["learning_rate"] == FINETUNE_LEARNING_RATE
    assert config["features"]["kind"] == "mobilenet"  # not the default mobilenet+diff: it tunes appearance only
    result = run("predict", out, punch_avi, "--json")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert rows and set(rows[0]["proba"]) == {"other", "punch/hook", "punch/jab"}


def test_score_embeds_with_the_tuned_backbone(tuned, tmp_path):
    from actionrec.learn.score import score_model

    root, _, trained, model_dir = tuned
    report = score_model(model_dir, root, tmp_path / "report", show_progress=False)
    assert report["windows"] > 0
    # The dataset's embeddings for this model sit under the tuned embedder's key, apart from ImageNet's.
    assert list((root / ".cache" / "embeddings" / trained.embedder_config.key()).glob("*.npz"))


def test_an_evaluation_fold_reads_its_test_clips_through_the_tuned_mobilenet(tuned, embedder):
    from dataclasses import replace

    from actionrec.learn.evaluate import _fit_sequence_model, evaluate_options, run_fold

    root, frames, _, _ = tuned
    data = embed_dataset_dir(root, FrameSpec(), embedder=embedder, show_progress=False)
    train_clips = [c for c in data.clips if c.group == "alice"]
    test_clips = [c for c in data.clips if c.group == "bob"]
    options = replace(evaluate_options(folds=2, window=4, epochs=1), sequence_model=SPEC)
    lstm, seen = _fit_sequence_model(data, frames, options, data.labels, train_clips, test_clips)
    assert lstm.finetune == K
    tuned_mobilenet = lstm.embedder()
    for clip in test_clips:  # the model's own embeddings of the same frames, at the same times
        own, imagenet = seen.embeddings[clip.id], data.embeddings[clip.id]
        np.testing.assert_array_equal(own.times, imagenet.times)
        np.testing.assert_allclose(own.embeddings, tuned_mobilenet.embed(frames.embeddings[clip.id].embeddings), atol=1e-5)
        assert np.abs(own.embeddings - imagenet.embeddings).max() > 1e-3  # the tuning moved them
    assert all(seen.embeddings[c.id] is data.embeddings[c.id] for c in train_clips)

    # The whole fold: the frame baselines are the frozen run's, whatever the LSTM tuned.
    result = run_fold(data, data.labels, train_clips, test_clips, options, frames)
    frozen = run_fold(data, data.labels, train_clips, test_clips, replace(options, sequence_model=replace(SPEC, finetune=0)))
    np.testing.assert_array_equal(result.proba["frame_last"], frozen.proba["frame_last"])
    assert result.proba["lstm"].shape == frozen.proba["lstm"].shape
    with pytest.raises(ActionrecError, match="the decoded frames are needed"):
        run_fold(data, data.labels, train_clips, test_clips, options)


def test_evaluate_finetune_refuses_what_it_cannot_do_in_one_line(class_dataset, tmp_path):
    assert_one_line_error(run("evaluate", class_dataset, "--out", tmp_path / "r", "--finetune", "1", "--size", "100x56,160x90"),
                          "evaluate --finetune with a --size list, --ray or --also: not supported")
    assert_one_line_error(run("evaluate", class_dataset, "--out", tmp_path / "r", "--finetune", "1", "--augment", "2"),
                          "--augment 2 with --finetune: not supported together")
    assert_one_line_error(run("evaluate", class_dataset, "--out", tmp_path / "r", "--finetune", "1", "--features", "diff"),
                          "--finetune with --features diff")
    assert not (tmp_path / "r").exists()

"""--features mobilenet|pose|both: the spec and its cache keys, pose per clip from the source frames,
cached separately so ``both`` reuses each part, with the real BlazePose and MobileNet models."""

import os
from pathlib import Path

import numpy as np
import pytest
from conftest import PUNCH_AVI, SHARED, build_class_dataset

from actionrec.data.digest import clip_digest
from actionrec.data.video import FrameSpec, iter_decoded_frames, iter_source_frames, prepare
from actionrec.errors import ActionrecError
from actionrec.features.cache import EmbeddingCache, default_cache_dir
from actionrec.features.frames import LazyPose, pose_clip
from actionrec.features.pose.image import cap_long_side
from actionrec.features.pose.tracker import PoseOptions
from actionrec.features.pose.vector import NO_PERSON, POSE_DIM
from actionrec.features.spec import POSE_LONG_SIDE, FeatureSpec
from actionrec.learn.embedded import embed_dataset_dir

POSE_MODELS = Path(os.environ.setdefault("ACTIONREC_POSE_MODELS", str(SHARED / "weights" / "pose")))
pytestmark = pytest.mark.skipif(not (POSE_MODELS / "pose_detection.tflite").is_file(),
                                reason=f"BlazePose models not in {POSE_MODELS}")


def test_spec_dims_keys_and_refusals():
    assert [FeatureSpec(k).dim for k in ("mobilenet", "pose", "both")] == [1024, POSE_DIM, 1024 + POSE_DIM]
    assert FeatureSpec("both").dim == 1190 and FeatureSpec("both").pose_slice == slice(1024, 1190)
    assert FeatureSpec("pose").pose_slice == slice(0, POSE_DIM)
    with pytest.raises(ActionrecError, match="expected one of mobilenet\\|pose\\|diff\\|both"):
        FeatureSpec("skeleton")
    fs = FrameSpec()
    key = FeatureSpec("pose").pose_key(fs).key()
    # Same poses -> same key: where the files are and the thread count do not change a pose.
    assert FeatureSpec("both", pose_options=PoseOptions(models="/elsewhere", num_threads=2)).pose_key(fs).key() == key
    assert FeatureSpec("pose", pose_long_side=320).pose_key(fs).key() != key
    assert FeatureSpec("pose", pose_options=PoseOptions(min_pose_score=0.6)).pose_key(fs).key() != key
    assert FeatureSpec("pose").pose_key(FrameSpec(fps=5)).key() != key
    # The model's input size does not change a pose (it runs on the source frame).
    assert FeatureSpec("pose").pose_key(FrameSpec(width=224, height=126)).key() == key
    # Recorded and read back; a model from before pose records nothing: MobileNet.
    both = FeatureSpec("both", pose_long_side=480)
    assert FeatureSpec.from_dict(both.to_dict()) == both
    assert FeatureSpec.from_dict(None) == FeatureSpec("mobilenet")
    with pytest.raises(ActionrecError, match="trained on pose.*use --features pose"):
        FeatureSpec("pose").require(FeatureSpec("mobilenet"), "embeddings")
    with pytest.raises(ActionrecError, match="pose_long_side: 640 vs 320"):
        FeatureSpec("pose").require(FeatureSpec("pose", pose_long_side=320))
    FeatureSpec("mobilenet").require(FeatureSpec("mobilenet", pose_long_side=320))  # pose settings unused


def test_decoded_frames_are_the_source_and_prepare_to_the_model_input():
    spec = FrameSpec()
    pairs = list(zip(iter_decoded_frames(PUNCH_AVI, spec), iter_source_frames(PUNCH_AVI, spec)))
    assert abs(len(pairs) - 108 / 25 * 10) <= 1  # 108 frames at 25 fps, resampled to 10 fps
    for (t, bgr), (t2, rgb) in pairs[:5]:
        assert t == t2 and bgr.shape == (240, 320, 3) and rgb.shape == (56, 100, 3)
        assert np.array_equal(prepare(bgr, spec), rgb)
    big = np.zeros((1080, 1920, 3), np.uint8)
    assert cap_long_side(big, POSE_LONG_SIDE).shape == (360, 640, 3)
    assert cap_long_side(big[:240, :320], POSE_LONG_SIDE).shape == (240, 320, 3)  # never scaled up


def test_both_is_mobilenet_then_the_pose_only_cache(tmp_path):
    root = build_class_dataset(tmp_path / "ds")
    spec = FrameSpec()
    pose = embed_dataset_dir(root, spec, features=FeatureSpec("pose"), show_progress=False)
    mob = embed_dataset_dir(root, spec, show_progress=False)
    cache = default_cache_dir(root)
    pose_dir = cache / FeatureSpec("pose").pose_key(spec).key()
    assert len(list(pose_dir.glob("*.npz"))) == 4  # one entry per clip
    stamp = {p: p.stat().st_mtime_ns for p in cache.rglob("*.npz")}
    both = embed_dataset_dir(root, spec, features=FeatureSpec("both"), show_progress=False)
    assert {p: p.stat().st_mtime_ns for p in cache.rglob("*.npz")} == stamp  # both parts read, none rewritten
    win = both.windows(4)
    assert win.frames.shape[1] == 1190 and win.sequences().shape[2] == 1190
    for clip in both.clips:
        e = both.embeddings[clip.id]
        assert np.array_equal(e.embeddings[:, 1024:], pose.embeddings[clip.id].embeddings)
        assert np.array_equal(e.embeddings[:, :1024], mob.embeddings[clip.id].embeddings)
        assert np.array_equal(e.times, mob.embeddings[clip.id].times)
    # The punch clips show a boxer: most of their frames have a pose (flag 0); the flag is 0 or 1 only.
    punch = np.concatenate([pose.embeddings[c.id].embeddings for c in pose.clips if c.label.startswith("punch")])
    assert set(np.unique(punch[:, NO_PERSON])) <= {0.0, 1.0}
    assert (punch[:, NO_PERSON] == 0).mean() > 0.6
    assert pose.config.weights_sha256 == ""  # pose only: MobileNet's weights are not needed


def test_pose_entry_validated_and_recomputed(tmp_path, capsys):
    spec, features = FrameSpec(), FeatureSpec("pose")
    cache, lazy = EmbeddingCache(tmp_path / "cache"), LazyPose(features)
    first = pose_clip(PUNCH_AVI, spec, features, lazy, cache)
    entry = cache.path(features.pose_key(spec), clip_digest(PUNCH_AVI))
    assert entry.is_file() and first.embeddings.shape == (len(first.times), POSE_DIM)
    # Tracking starts anew per clip: a second run (same estimator) gives the same vectors.
    again = pose_clip(PUNCH_AVI, spec, features, lazy, None)
    assert np.allclose(again.embeddings, first.embeddings, atol=1e-5)
    bad = first.embeddings.copy()
    bad[0, NO_PERSON] = 0.5
    np.savez(entry, embeddings=bad, times=first.times)
    redone = pose_clip(PUNCH_AVI, spec, features, lazy, cache)
    assert "damaged embedding cache entry (no-person flags other than 0 and 1)" in capsys.readouterr().err
    assert np.array_equal(redone.embeddings, first.embeddings)
    np.savez(entry, embeddings=first.embeddings[:, :100], times=first.times)
    assert pose_clip(PUNCH_AVI, spec, features, lazy, cache).embeddings.shape == first.embeddings.shape
    assert f"expected float (N, {POSE_DIM})" in capsys.readouterr().err


def test_model_records_pose_features_and_refuses_others(tmp_path):
    from typer.testing import CliRunner

    from actionrec.cli import app
    from actionrec.learn.models import LSTMOptions, TrainOptions, load_model
    from actionrec.learn.train import TrainSpec, predict_clip, train_on_dataset

    root = build_class_dataset(tmp_path / "ds")
    spec = TrainSpec(kind="lstm", lstm=LSTMOptions(window=4, stride=2, units=16, projection=16),
                     train=TrainOptions(epochs=2, batch_size=32, patience=0))
    out = tmp_path / "model"
    train_on_dataset(root, spec, FrameSpec(), out=out, features=FeatureSpec("pose"))
    model = load_model(out)
    assert model.features == FeatureSpec("pose") and model.feature_dim == POSE_DIM
    with pytest.raises(ActionrecError, match=f"expected \\(B, n, {POSE_DIM}\\), the model's pose features"):
        model.predict_windows(np.zeros((1, 4, 1024), np.float32))
    with pytest.raises(ActionrecError, match="mobilenet features but the model was trained on pose"):
        model.check_features(FeatureSpec("mobilenet"))
    pred = predict_clip(model, PUNCH_AVI)  # the model's features: pose, no MobileNet loaded
    assert pred.proba.shape == (len(pred.times), len(model.classes))
    assert np.allclose(pred.proba.sum(axis=1), 1.0, atol=1e-5)
    result = CliRunner().invoke(app, ["predict", str(out), str(PUNCH_AVI), "--features", "mobilenet"])
    assert result.exit_code == 2
    assert "mobilenet features but the model was trained on pose" in result.output
    assert "Traceback" not in result.output


def test_cli_bench_pose_prints_json_and_fetch_command_exists():
    import json as _json

    from typer.testing import CliRunner

    from actionrec.cli import app
    from actionrec.features.pose import assets

    result = CliRunner().invoke(app, ["bench", "pose", str(PUNCH_AVI), "--seconds", "1"])
    assert result.exit_code == 0, result.output
    figures = _json.loads(result.output[result.output.index("{"):])
    assert figures["step_ms_p50"] > 0 and figures["step_ms_p95"] >= figures["step_ms_p50"]
    # The command the "models not found" error names is a real command of the CLI.
    assert assets.FETCH_COMMAND == "actionrec fetch-pose-models"
    assert CliRunner().invoke(app, ["fetch-pose-models", "--help"]).exit_code == 0

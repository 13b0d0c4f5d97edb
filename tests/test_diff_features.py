"""--features diff (and mobilenet+diff, pose+diff, both+diff): the motion stream, MobileNet on the difference
of consecutive frames at the model's rate. Its names, its cache (own key, resumed in chunks with the true
previous frame, times equal to the mobilenet part's), the live features against the offline ones, and a
mobilenet+diff model through training, refusal, export and the LiteRT runtime. Real weights, real clips."""

import json
import os

import numpy as np
import pytest
from conftest import (EXERCISE_AVI, PUNCH_AVI, SHARED, build_annotated_dataset, build_class_dataset, source_frames,
                      write_frame_folder)
from typer.testing import CliRunner

from actionrec.cli import app
from actionrec.data.datasets import Clip, load_dataset
from actionrec.data.digest import clip_digest
from actionrec.data.video import FrameSpec, iter_decoded_frames
from actionrec.errors import ActionrecError
from actionrec.features.cache import ClipEmbeddings, DiffKey, EmbeddingCache, embed_clip
from actionrec.features.frames import features_dataset
from actionrec.features.pose.vector import POSE_DIM
from actionrec.features.spec import FeatureSpec
from actionrec.learn.models import LSTMOptions, TrainOptions
from actionrec.learn.train import TrainSpec, train_on_dataset
from actionrec.live.features import LiveFeatures

os.environ.setdefault("ACTIONREC_POSE_MODELS", str(SHARED / "weights" / "pose"))
WINDOW = 4
SPEC = TrainSpec(kind="lstm", lstm=LSTMOptions(window=WINDOW, stride=2, units=16, projection=16),
                 train=TrainOptions(epochs=2, batch_size=32, patience=0))
ACCEPTED = "expected one of mobilenet|pose|diff|both|mobilenet+diff|pose+diff|both+diff"


def test_names_parts_dims_and_slices():
    dims = {"diff": 1024, "mobilenet+diff": 2048, "pose+diff": POSE_DIM + 1024, "both+diff": 2048 + POSE_DIM}
    for kind, dim in dims.items():
        assert FeatureSpec(kind).dim == dim and FeatureSpec(kind).uses_diff and FeatureSpec(kind).runs_mobilenet
    # One spelling each, whatever the order or case; mobilenet+pose is both (old models keep their name).
    assert FeatureSpec("diff+mobilenet").kind == "mobilenet+diff"
    assert FeatureSpec("mobilenet+pose").kind == "both" == FeatureSpec("pose+mobilenet").kind
    assert FeatureSpec("Diff+Pose+MobileNet").kind == "both+diff" == FeatureSpec("mobilenet+pose+diff").kind
    assert FeatureSpec("mobilenet+pose") == FeatureSpec("both")
    assert FeatureSpec("diff+mobilenet").to_dict()["kind"] == "mobilenet+diff"
    assert FeatureSpec.from_dict({"kind": "both"}) == FeatureSpec("both") and FeatureSpec.from_dict(None).kind == "mobilenet"
    assert not FeatureSpec("both").uses_diff and not FeatureSpec("pose").runs_mobilenet
    # The pose part keeps its place after mobilenet; diff comes last.
    both_diff = FeatureSpec("both+diff")
    assert both_diff.parts == ("mobilenet", "pose", "diff")
    assert both_diff.pose_slice == slice(1024, 1024 + POSE_DIM) == FeatureSpec("both").pose_slice
    assert both_diff.part_slice("diff") == slice(1024 + POSE_DIM, 2048 + POSE_DIM)
    assert FeatureSpec("pose+diff").pose_slice == slice(0, POSE_DIM)
    assert FeatureSpec("diff").part_slice("diff") == slice(0, 1024) and FeatureSpec("diff").pose_slice == slice(0, 0)
    for bad in ("motion", "mobilenet+", "both+pose", "diff+diff", ""):
        with pytest.raises(ActionrecError, match=ACCEPTED.replace("|", "\\|").replace("+", "\\+")):
            FeatureSpec(bad)
    with pytest.raises(ActionrecError, match="mobilenet features but the model was trained on mobilenet\\+diff"):
        FeatureSpec("mobilenet+diff").require(FeatureSpec("mobilenet"))


def test_diff_of_a_static_video_is_the_embedding_of_a_black_image(tmp_path, embedder):
    still = np.repeat(source_frames(PUNCH_AVI, 30, 1), 36, axis=0)  # one real frame, held for 36 frames
    # PNG, lossless (a video codec need not decode equal frames alike: MJPG's second frame differed).
    clip = write_frame_folder(tmp_path / "still", still, ext=".png")  # 30 fps: 12 frames at 10 fps
    diff = embed_clip(clip, embedder, diff=True)
    black = embedder.embed_one(np.zeros((56, 100, 3), np.uint8))
    assert diff.embeddings.shape == (12, 1024)
    np.testing.assert_allclose(diff.embeddings, np.broadcast_to(black, diff.embeddings.shape), atol=1e-4)
    # ... and not the frame's own embedding, which the mobilenet part holds.
    assert np.abs(embed_clip(clip, embedder).embeddings[0] - black).max() > 0.5


def test_diff_part_is_cached_under_its_own_key_with_the_mobilenet_times(tmp_path, embedder):
    root = build_class_dataset(tmp_path / "ds")
    clips, spec, cache = load_dataset(root).clips, FrameSpec(), tmp_path / "cache"
    both = features_dataset(clips, spec, FeatureSpec("mobilenet+diff"), cache, embedder=embedder)
    mob = features_dataset(clips, spec, FeatureSpec("mobilenet"), cache, embedder=embedder)
    diff_dir = cache / DiffKey(embedder.config).key()
    assert diff_dir.name.startswith("diff1-") and len(list(diff_dir.glob("*.npz"))) == 4  # one entry per clip
    stamp = {p: p.stat().st_mtime_ns for p in cache.rglob("*.npz")}
    diff = features_dataset(clips, spec, FeatureSpec("diff"), cache, embedder=embedder)
    assert {p: p.stat().st_mtime_ns for p in cache.rglob("*.npz")} == stamp  # reused, nothing rewritten
    for clip in clips:
        joined = both[clip.id]
        assert joined.embeddings.shape == (len(mob[clip.id].times), 2048)
        np.testing.assert_array_equal(diff[clip.id].times, mob[clip.id].times)  # exactly: one clock
        np.testing.assert_array_equal(joined.embeddings[:, :1024], mob[clip.id].embeddings)
        np.testing.assert_array_equal(joined.embeddings[:, 1024:], diff[clip.id].embeddings)
        assert np.abs(diff[clip.id].embeddings[1:] - mob[clip.id].embeddings[1:]).max() > 0.5  # another image
    # A damaged diff entry is recomputed, with the warning every cache entry gets.
    entry = diff_dir / f"{clip_digest(clips[0].path)}.npz"
    np.savez(entry, embeddings=np.full((3, 1024), np.nan, np.float32), times=np.zeros(3))
    redone = features_dataset(clips[:1], spec, FeatureSpec("diff"), cache, embedder=embedder)
    np.testing.assert_allclose(redone[clips[0].id].embeddings, diff[clips[0].id].embeddings, atol=1e-5)


def test_diff_resumes_from_its_chunks_with_the_true_previous_frame(embedder, tmp_path):
    cache = EmbeddingCache(tmp_path / "cache")
    cache.CHUNK = 64
    done = 40  # a finished part of a killed run: frames 0..39 (393 frames at 10 fps)
    full = embed_clip(EXERCISE_AVI, embedder, diff=True)
    marked = full.embeddings[:done] + 1.0  # marked, so we can tell it was used rather than recomputed
    key, digest = DiffKey(embedder.config), clip_digest(EXERCISE_AVI)
    cache.store(cache.path(key, digest, "part00000"), ClipEmbeddings(marked, full.times[:done]))
    seen = []
    resumed = embed_clip(EXERCISE_AVI, embedder, cache, progress=seen.append, diff=True)
    assert seen[0] == done
    np.testing.assert_array_equal(resumed.embeddings[:done], marked)
    # Frame 40's difference is from frame 39, not a black first difference of a restarted stream.
    np.testing.assert_allclose(resumed.embeddings[done:], full.embeddings[done:], atol=1e-4)
    np.testing.assert_array_equal(resumed.times, full.times)
    assert not list(cache.root.rglob("*part*")) and (cache.root / key.key() / f"{digest}.npz").is_file()
    assert not (cache.root / embedder.config.key()).exists()  # the mobilenet part's folder is another


def test_keypoint_clips_refuse_diff(tmp_path):
    clip = Clip(path=tmp_path / "seq.kp.npz", id="seq.kp.npz", group="seq", label="other")  # refused before it is read
    for kind in ("diff", "pose+diff"):
        with pytest.raises(ActionrecError, match=f"seq.kp.npz: a keypoint clip has no pixels for MobileNet "
                                                 f"\\({kind.replace('+', '.')} features\\); expected --features pose"):
            features_dataset([clip], FrameSpec(), FeatureSpec(kind), tmp_path / "cache")


def test_live_features_equal_the_offline_ones_at_the_sampled_frames(embedder, tmp_path):
    """A 25 fps camera: MobileNet and the difference on the frames the 10 fps clock picks, held between them
    (the ring buffer keeps only those frames for such a model, so an embedding between would be unread)."""
    spec, features = FrameSpec(), FeatureSpec("mobilenet+diff")
    clip = Clip(path=PUNCH_AVI, id="punch.avi", group="g", label="punch")
    offline = features_dataset([clip], spec, features, tmp_path / "cache", embedder=embedder)[clip.id]
    live = LiveFeatures(features, spec, embedder.embed_one)
    vectors = {round(t, 6): live(bgr, t) for t, bgr in iter_decoded_frames(PUNCH_AVI, FrameSpec(fps=0))}
    assert len(vectors) == 108 and len(offline.times) == 43
    picked = np.stack([vectors[round(t, 6)] for t in offline.times])
    np.testing.assert_allclose(picked, offline.embeddings, atol=1e-4)
    # Between ticks the diff part is the latest tick's: frame 0.04 s follows the tick at 0.0 s (black).
    black = embedder.embed_one(np.zeros((56, 100, 3), np.uint8))
    np.testing.assert_allclose(vectors[0.04][1024:], offline.embeddings[0, 1024:], atol=1e-4)
    np.testing.assert_allclose(vectors[0.04][1024:], black, atol=1e-4)
    np.testing.assert_array_equal(vectors[0.16], vectors[0.12])  # 0.12 ticked, 0.16 did not
    assert np.abs(vectors[0.2] - vectors[0.12]).max() > 0 and live.ticked is False  # 0.2 ticked; 4.28 did not
    live.clear()  # a new stream: its first difference is black again
    bgr = np.ascontiguousarray(source_frames(PUNCH_AVI, 60, 1)[0][:, :, ::-1])
    np.testing.assert_allclose(live(bgr, 5.0)[1024:], black, atol=1e-4)


@pytest.fixture(scope="module")
def diff_model(tmp_path_factory):
    from actionrec.live.export import export_model

    root = build_annotated_dataset(tmp_path_factory.mktemp("ds"))
    out = tmp_path_factory.mktemp("models") / "md"
    train_on_dataset(root, SPEC, FrameSpec(), out=out, features=FeatureSpec("diff+mobilenet"))
    export_model(out)
    return out


def test_a_diff_model_records_its_features_and_refuses_others(diff_model):
    from actionrec.learn.models import load_model

    model = load_model(diff_model)
    assert json.loads((diff_model / "config.json").read_text())["features"]["kind"] == "mobilenet+diff"
    assert model.features == FeatureSpec("mobilenet+diff") and model.feature_dim == 2048
    with pytest.raises(ActionrecError, match="expected \\(B, n, 2048\\), the model's mobilenet\\+diff features"):
        model.predict_windows(np.zeros((1, WINDOW, 1024), np.float32))
    result = CliRunner().invoke(app, ["predict", str(diff_model), str(PUNCH_AVI), "--features", "mobilenet"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.output.strip().splitlines() == [
        "error: --features mobilenet for " + str(PUNCH_AVI) + " are mobilenet features but the model was trained on "
        "mobilenet+diff (kind: 'mobilenet+diff' vs 'mobilenet'); use --features mobilenet+diff"]
    result = CliRunner().invoke(app, ["predict", str(diff_model), str(PUNCH_AVI), "--features", "diff+mobilenet", "--json"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    assert len(rows) == 43 and all(abs(sum(r["proba"].values()) - 1) < 1e-3 for r in rows)


def test_cli_accepts_diff_kinds_and_names_what_it_accepts(tmp_path):
    root = build_class_dataset(tmp_path / "ds", frames=5)
    result = CliRunner().invoke(app, ["embed", str(root), "--features", "mobilenet+diff"])
    assert result.exit_code == 0, result.output
    digest = clip_digest(root / "punch" / "jab" / "p1.avi")
    assert len(list((root / ".cache" / "embeddings").glob(f"diff1-*/{digest}.npz"))) == 1
    result = CliRunner().invoke(app, ["embed", str(root), "--features", "motion"])
    assert result.exit_code == 2
    assert result.output.strip() == (f"error: features 'motion': {ACCEPTED} (parts mobilenet, pose, diff joined "
                                     "with +; mobilenet+pose is both)")
    result = CliRunner().invoke(app, ["embed", str(root), "--features", "diff", "--ray"])
    assert result.exit_code == 2
    assert result.output.strip() == ("error: --features diff --ray: without shared storage Ray workers compute the "
                                     "mobilenet part only, and diff has none; put the dataset on shared storage and "
                                     "add --ray-shared-storage")


def test_export_and_the_litert_runtime_serve_a_diff_model(diff_model):
    from actionrec.live.runtime import InferenceSession, SessionOptions
    from actionrec.live.stream import StreamClassifier

    record = json.loads((diff_model / "config.json").read_text())["export"]
    assert set(record["files"]) == {"classifier.tflite", "embedder.tflite"}  # one MobileNet for both parts
    assert record["classifier_input"] == f"float32 (1, {WINDOW}, 2048) mobilenet+diff features"
    assert record["check"]["proba_max_abs_diff"] <= 1e-3 and record["pose_models"] == {}
    lite = InferenceSession(SessionOptions(diff_model))
    keras = InferenceSession(SessionOptions(diff_model, backend="keras"))
    assert lite.backend == "litert" and lite.feature_dim == 2048
    runs = []
    for session in (lite, keras):
        classifier = StreamClassifier.for_session(session, source_fps=25)
        frames = source_frames(PUNCH_AVI)[:30]
        probs = [classifier.step(np.ascontiguousarray(f[:, :, ::-1]), i / 25) for i, f in enumerate(frames)]
        runs.append((np.asarray(probs), classifier.buffer.window_array()))
        assert isinstance(classifier.features, LiveFeatures)
    (lite_p, lite_w), (keras_p, keras_w) = runs
    assert lite_w.shape == (WINDOW, 2048) and np.allclose(lite_p.sum(axis=1), 1.0, atol=1e-4)
    # The exported MobileNet gives the diff part what Keras gives it (TFLite sums in another order).
    np.testing.assert_allclose(lite_w[:, 1024:], keras_w[:, 1024:], atol=2e-3)
    np.testing.assert_allclose(lite_p, keras_p, atol=2e-3)


def test_replay_and_live_run_a_diff_model_on_litert(diff_model):
    """The live loop's two entry points on a real clip: replay (every frame) and live (the page's server,
    the source read in real time); a diff model's messages carry no pose."""
    from actionrec.live.game import LiveOptions, run_live
    from actionrec.live.replay import replay
    from actionrec.live.runtime import InferenceSession, SessionOptions

    result = replay(InferenceSession(SessionOptions(diff_model)), PUNCH_AVI)
    assert result.probs.shape == (108, 3) and np.allclose(result.probs.sum(axis=1), 1.0, atol=1e-4)
    lines = []
    report = run_live(diff_model, LiveOptions(source=str(PUNCH_AVI), port=0, linger=0.1), log=lines.append)
    assert not report.failed and report.frames + report.dropped == 108 and report.frames > 50, lines
    assert lines[0].startswith("inference: litert")


def test_default_features_are_appearance_and_motion_except_to_tune_or_for_the_article():
    from actionrec.cli import feature_spec

    assert feature_spec(None).kind == "mobilenet+diff"
    assert feature_spec(None, finetune=2).kind == "mobilenet"  # --finetune tunes the appearance network alone
    assert feature_spec(None, article=True).kind == "mobilenet"  # the article's frame model
    assert feature_spec("pose:body", finetune=2).name == "pose:body"  # asked for: kept (and refused by train)
    assert feature_spec(None, augment=2).kind == "mobilenet+diff"  # copies carry their own motion stream

"""MobileNet embeddings with the real weights: equal to a direct Keras call, cached, resumable, and the
weights lookup with its errors."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest
from conftest import EXERCISE_AVI, PUNCH_AVI, leftover_temp_files, source_frames, write_clip

import actionrec.features.cache as embed_mod
from actionrec.data.datasets import load_dataset
from actionrec.features.mobilenet import WEIGHTS_ENV, EmbedderConfig, Embedder, resolve_weights
from actionrec.features.cache import EmbeddingCache, embed_clip, embed_dataset
from actionrec.data.digest import clip_digest
from actionrec.errors import ActionrecError
from actionrec.data.video import FrameSpec, read_clip


def test_embedding_equals_direct_keras_call(embedder, weights_path):
    import keras

    frames, _ = read_clip(PUNCH_AVI, FrameSpec())
    frame = frames[20]
    model = keras.applications.MobileNet(include_top=False, weights=str(weights_path), input_shape=(56, 100, 3), pooling="avg")
    x = keras.applications.mobilenet.preprocess_input(frame[None].astype("float32"))
    expected = np.asarray(model(x, training=False))[0]
    assert expected.shape == (1024,) and np.abs(expected).max() > 0.1
    np.testing.assert_allclose(embedder.embed_one(frame), expected, atol=1e-4)
    # The same frame through the real decode path (clip -> frames -> batches of 32, padded).
    from_clip = embed_clip(PUNCH_AVI, embedder)
    assert from_clip.embeddings.shape == (43, 1024) and from_clip.embeddings.dtype == np.float32
    np.testing.assert_allclose(from_clip.embeddings[20], expected, atol=1e-4)


def test_batching_does_not_change_embeddings(embedder):
    frames, _ = read_clip(EXERCISE_AVI, FrameSpec(fps=2))  # 79 frames: 2 full batches and 15 padded to 16
    together = embedder.embed(frames)
    one_by_one = np.stack([embedder.embed_one(f) for f in frames[60:66]])
    np.testing.assert_allclose(together[60:66], one_by_one, atol=1e-4)
    in_a_full_batch = embedder.embed(frames[47:79])[17:]  # the last 15 frames among 32
    np.testing.assert_allclose(together[64:], in_a_full_batch, atol=1e-5)
    assert not np.allclose(together[0], together[-1])  # different pictures, different vectors


def test_embed_rejects_frames_of_the_wrong_shape(embedder):
    with pytest.raises(ActionrecError, match=r"expected \(N, 56, 100, 3\) uint8"):
        embedder.embed(np.zeros((2, 100, 56, 3), np.uint8))
    with pytest.raises(ActionrecError, match="uint8"):
        embedder.embed(np.zeros((2, 56, 100, 3), np.float32))


# --- cache: hit, miss, damage, resume -------------------------------------------------------------------


@pytest.fixture
def count_embedders(monkeypatch):
    """Counts Embedder constructions inside ``embed_dataset`` (the real class, just counted)."""
    made = []

    class Counting(Embedder):
        def __init__(self, *args, **kwargs):
            made.append(args)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(embed_mod, "Embedder", Counting)
    return made


def _cache_files(cache_dir: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in cache_dir.rglob("*.npz")}


def test_cache_hit_loads_no_model(class_dataset, embedder, count_embedders, tmp_path):
    clips = load_dataset(class_dataset).clips
    cache_dir = tmp_path / "cache"
    first = embed_dataset(clips, FrameSpec(), cache_dir, embedder=embedder)
    files = _cache_files(cache_dir)
    assert len(files) == 4 and all(p.parent.name == embedder.config.key() for p in files)
    assert {k: len(v.times) for k, v in first.items()} == {
        "other/o1.avi": 20, "other/o2": 7, "punch/hook/p2": 7, "punch/jab/p1.avi": 8
    }
    again = embed_dataset(clips, FrameSpec(), cache_dir)  # no embedder given: built only on a miss
    assert count_embedders == []
    assert _cache_files(cache_dir) == files  # nothing rewritten
    for cid, emb in first.items():
        np.testing.assert_array_equal(again[cid].embeddings, emb.embeddings)
        np.testing.assert_array_equal(again[cid].times, emb.times)
    assert leftover_temp_files(tmp_path) == []


def test_cache_key_covers_the_whole_embedder_config(embedder):
    base = embedder.config
    variants = [
        EmbedderConfig(FrameSpec(width=224, height=224), base.weights_sha256),
        EmbedderConfig(FrameSpec(grayscale=True), base.weights_sha256),
        EmbedderConfig(FrameSpec(fps=5), base.weights_sha256),
        EmbedderConfig(FrameSpec(), "0" * 64),
    ]
    keys = {base.key(), *(v.key() for v in variants)}
    assert len(keys) == 5
    assert EmbedderConfig.from_dict(base.to_dict()) == base and EmbedderConfig.from_dict(base.to_dict()).key() == base.key()
    assert base.describe_difference(variants[1]) == "grayscale: False vs True"


def test_config_change_misses_the_cache(class_dataset, embedder, count_embedders, tmp_path):
    clips = [c for c in load_dataset(class_dataset).clips if c.id == "other/o1.avi"]
    cache_dir = tmp_path / "cache"
    rgb = embed_dataset(clips, FrameSpec(), cache_dir, embedder=embedder)["other/o1.avi"]
    gray = embed_dataset(clips, FrameSpec(grayscale=True), cache_dir)["other/o1.avi"]
    assert len(count_embedders) == 1  # the grayscale config is a miss: MobileNet had to load
    assert len({p.parent for p in _cache_files(cache_dir)}) == 2  # two config keys, two folders
    np.testing.assert_array_equal(gray.times, rgb.times)
    assert np.abs(gray.embeddings - rgb.embeddings).max() > 0.05


def test_clip_content_is_part_of_the_key(class_dataset):
    folder = class_dataset / "punch" / "hook" / "p2"
    before = clip_digest(folder)
    (folder / "3.jpg").rename(folder / "30.jpg")  # same bytes, other order
    assert clip_digest(folder) != before
    video = class_dataset / "other" / "o1.avi"
    before = clip_digest(video)
    write_clip(video, source_frames(EXERCISE_AVI, 1, 20), fps=10)
    assert clip_digest(video) != before


def test_damaged_cache_entry_is_recomputed(class_dataset, embedder, tmp_path):
    clip = class_dataset / "punch" / "jab" / "p1.avi"
    cache = EmbeddingCache(tmp_path / "cache")
    first = embed_clip(clip, embedder, cache)
    final = cache.path(embedder.config, clip_digest(clip))
    final.write_bytes(b"PK\x03\x04 half a zip")
    again = embed_clip(clip, embedder, cache)
    np.testing.assert_allclose(again.embeddings, first.embeddings, atol=1e-5)
    assert np.load(final, allow_pickle=False)["embeddings"].shape == (8, 1024)


def test_resume_uses_the_chunks_already_on_disk(exercise_avi, embedder, tmp_path):
    cache = EmbeddingCache(tmp_path / "cache")
    cache.CHUNK = 64  # save a part every 64 frames
    spec_frames = 40  # 393 frames at 10 fps, 4 s: the first 40 as one finished part
    full = embed_clip(exercise_avi, embedder)
    digest = clip_digest(exercise_avi)
    # A part left by a killed run (marked, so we can tell it was used rather than recomputed).
    marked = full.embeddings[:spec_frames] + 1.0
    cache.store(cache.path(embedder.config, digest, "part00000"), embed_mod.ClipEmbeddings(marked, full.times[:spec_frames]))
    seen = []
    resumed = embed_clip(exercise_avi, embedder, cache, progress=seen.append)
    assert seen[0] == spec_frames  # progress starts where the last run stopped
    np.testing.assert_array_equal(resumed.embeddings[:spec_frames], marked)
    np.testing.assert_allclose(resumed.embeddings[spec_frames:], full.embeddings[spec_frames:], atol=1e-4)
    np.testing.assert_array_equal(resumed.times, full.times)
    assert not list(cache.root.rglob("*part*"))  # parts are dropped once the clip is whole


def _long_clip(path: Path) -> Path:
    """800 distinct real frames at 30 fps (no two positions alike, so a wrong resume offset shows)."""
    small = lambda frames: np.stack([cv2.resize(f, (160, 120), interpolation=cv2.INTER_AREA) for f in frames])
    ex, pu = small(source_frames(EXERCISE_AVI)), small(source_frames(PUNCH_AVI))
    return write_clip(path, np.concatenate([ex, pu, ex[::-1][:299]]), fps=30)


@pytest.mark.slow
def test_killed_embed_run_resumes_to_the_same_result(tmp_path, embedder):
    root = tmp_path / "data"
    _long_clip(root / "other" / "long.avi")  # > 512 frames at fps 0: a part is saved mid-clip
    write_clip(root / "punch" / "p.avi", source_frames(PUNCH_AVI, 0, 40), fps=25)
    cache_dir = root / ".cache" / "embeddings"
    cmd = [sys.executable, "-m", "actionrec.cli", "embed", str(root), "--fps", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    saved_part = lambda: [p for p in cache_dir.rglob("*-part*.npz") if not p.name.startswith(".")]  # not a temp
    while not saved_part() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    finals = [p for p in cache_dir.rglob("*.npz") if "-part" not in p.name]
    assert finals == []  # killed mid-clip: only a part was on disk

    # Rerun (in-process, to share the loaded model): it starts from the saved part, not from frame 0.
    ds = load_dataset(root)
    seen = []
    resumed = embed_dataset(ds.clips, FrameSpec(fps=0), cache_dir, embedder=embedder, progress=seen.append)
    assert seen[0] == EmbeddingCache.CHUNK
    assert sum(seen) == 840 == sum(len(e.times) for e in resumed.values())
    reference = embed_dataset(ds.clips, FrameSpec(fps=0), tmp_path / "uninterrupted", embedder=embedder)
    for cid in ("other/long.avi", "punch/p.avi"):
        np.testing.assert_array_equal(resumed[cid].times, reference[cid].times)
        np.testing.assert_allclose(resumed[cid].embeddings, reference[cid].embeddings, atol=1e-4)
    assert not list(cache_dir.rglob("*-part*"))
    assert leftover_temp_files(tmp_path) == []


def test_zero_frame_clip_fails_and_caches_nothing(tmp_path, embedder):
    path = tmp_path / "zero.avi"
    cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48)).release()
    cache = EmbeddingCache(tmp_path / "cache")
    with pytest.raises(ActionrecError, match="zero") as err:
        embed_clip(path, embedder, cache)
    assert str(path) in str(err.value)
    assert not list(cache.root.rglob("*.npz"))


# --- weights: lookup order and errors -------------------------------------------------------------------


@pytest.fixture
def no_weights_env(monkeypatch, tmp_path):
    """No env var, an empty KERAS_HOME, and downloads sent to a closed port (no network, even on CI)."""
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    for var in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    for var in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path / "keras_home"


def test_explicit_path_beats_env_var(monkeypatch, tmp_path, weights_path):
    decoy = tmp_path / "decoy.h5"
    decoy.write_text("not weights")
    monkeypatch.setenv(WEIGHTS_ENV, str(decoy))
    assert resolve_weights(weights_path) == weights_path
    assert resolve_weights() == decoy  # the env var when nothing explicit is given


def test_missing_explicit_or_env_file_is_named(monkeypatch, tmp_path):
    with pytest.raises(ActionrecError, match="explicit weights path") as err:
        resolve_weights(tmp_path / "missing.h5")
    assert str(tmp_path / "missing.h5") in str(err.value)
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path / "gone.h5"))
    with pytest.raises(ActionrecError, match=f"set by \\${WEIGHTS_ENV}") as err:
        resolve_weights()
    assert str(tmp_path / "gone.h5") in str(err.value)


def test_keras_cache_is_the_third_way(no_weights_env, weights_path):
    cached = no_weights_env / "models" / "mobilenet_1_0_224_tf_no_top.h5"
    cached.parent.mkdir(parents=True)
    os.symlink(weights_path, cached)
    assert resolve_weights() == cached


def test_no_weights_anywhere_names_all_three_ways(no_weights_env):
    with pytest.raises(ActionrecError) as err:
        resolve_weights()
    msg = str(err.value)
    assert "--weights PATH" in msg and f"${WEIGHTS_ENV}" in msg
    assert str(no_weights_env / "models" / "mobilenet_1_0_224_tf_no_top.h5") in msg and "download failed" in msg


def test_wrong_weights_files_are_refused(tmp_path):
    text = tmp_path / "weights.h5"
    text.write_text("this is not HDF5")
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as fh:
        fh["layer"] = np.zeros(3)
    for path in (text, other):
        with pytest.raises(ActionrecError, match="not usable as MobileNet") as err:
            Embedder(weights=path)
        assert str(path) in str(err.value) and "expected mobilenet_1_0_224_tf_no_top.h5" in str(err.value)
    with pytest.raises(ActionrecError, match="not found"):
        Embedder(weights=tmp_path / "missing.h5")


def test_stale_temp_files_of_killed_writers_are_removed(tmp_path):
    from actionrec.util.atomic import write_json

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    stale = tmp_path / f".abc.npz.{dead_pid}.k2j_ab9x.actionrec-tmp.npz"  # what a killed writer leaves
    stale_dir = tmp_path / f".model.{dead_pid}.abcdefgh.actionrec-tmp"
    live = tmp_path / f".other.npz.{os.getpid()}.zz9x_1ab.actionrec-tmp.npz"  # a writer still running: kept
    stale.write_bytes(b"half")
    stale_dir.mkdir()
    live.write_bytes(b"in progress")
    write_json(tmp_path / "any.json", {"a": 1})
    assert not stale.exists() and not stale_dir.exists() and live.exists()
    assert json.loads((tmp_path / "any.json").read_text()) == {"a": 1}


def test_bench_embed_reports_full_path_next_to_raw_forward(embedder):
    from actionrec.tools.bench.embed import bench_embed

    result = bench_embed(embedder=embedder, seconds=0)
    assert result["repeats"] == 3 and result["frames_per_run"] == 150  # 15 s at 10 fps
    assert result["full_fps"] > 0 and result["raw_fps"] > 0
    assert result["ratio"] == pytest.approx(result["full_fps"] / result["raw_fps"], abs=2e-3)
    assert result["source"] == "synthetic 320x240 30 fps 450 frames"
    print(result)  # the figures, for whoever runs the test with -s


@pytest.mark.parametrize(
    "embeddings, times, problem",
    [
        (np.zeros((8, 1000), np.float32), np.arange(8) / 10, "embeddings are float32 (8, 1000), expected float (N, 1024)"),
        (np.zeros(8 * 1024, np.float32), np.arange(8) / 10, "embeddings are float32 (8192,), expected float (N, 1024)"),
        (np.zeros((8, 1024), np.int64), np.arange(8) / 10, "embeddings are int64 (8, 1024), expected float"),
        (np.zeros((8, 1024), np.float32), np.arange(9) / 10, "8 embeddings for 9 times"),
        (np.zeros((8, 1024), np.float32), np.zeros((8, 1)), "times are float64 (8, 1), expected float (N,)"),
        (np.full((8, 1024), np.nan, np.float32), np.arange(8) / 10, "holds NaN or infinite values"),
        (np.zeros((8, 1024), np.float32), np.arange(8)[::-1] / 10, "times are not in order"),
    ],
)
def test_a_cache_entry_of_the_wrong_shape_is_recomputed_with_a_warning(
    class_dataset, embedder, tmp_path, capsys, embeddings, times, problem
):
    from actionrec.util.atomic import write_npz

    clip = class_dataset / "punch" / "jab" / "p1.avi"
    cache = EmbeddingCache(tmp_path / "cache")
    first = embed_clip(clip, embedder, cache)
    final = cache.path(embedder.config, clip_digest(clip))
    write_npz(final, embeddings=embeddings, times=times)  # a readable zip: only its contents are wrong
    capsys.readouterr()
    ds = load_dataset(class_dataset)
    again = embed_dataset([c for c in ds.clips if c.path == clip], FrameSpec(), cache.root, embedder=embedder)
    (hit,) = again.values()
    np.testing.assert_allclose(hit.embeddings, first.embeddings, atol=1e-5)
    (line,) = capsys.readouterr().err.splitlines()  # one warning, then the entry is made again
    assert line.startswith(f"warning: {final}: damaged embedding cache entry (") and line.endswith("); recomputing it")
    assert problem in line, line
    assert cache.load(final) is not None and np.load(final)["embeddings"].shape == (8, 1024)

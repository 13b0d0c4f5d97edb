"""Augmentation: the article's recipe on real frames, one transform per window, flips that map labels."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import imgaug as ia
import imgaug.augmenters as iaa
import numpy as np
import pytest

from actionrec.data.recipe import AugmentOptions, FlipMap, RecipeParams, WindowAugmenter, article_recipe, derive_seed, load_recipe, mirror_label, parse_flip_pairs
from actionrec.data.augment import augment_dataset, preview_grid, save_preview
from actionrec.tools.bench.augment import bench_augment
from actionrec.data.datasets import load_dataset
from actionrec.errors import ActionrecError
from actionrec.data.video import FrameSpec, read_clip, write_video
from conftest import EXERCISE_AVI, PUNCH_AVI

# imgaug's CropAndPad converts 1-element arrays to scalars, deprecated since numpy 1.25 (fine with numpy 2.2).
pytestmark = pytest.mark.filterwarnings("ignore:Conversion of an array with ndim > 0:DeprecationWarning")

SPEC = FrameSpec()  # 100x56 at 10 fps, the model input


@pytest.fixture(scope="module")
def punch_frames() -> np.ndarray:
    frames, _ = read_clip(PUNCH_AVI, SPEC)
    return frames


@pytest.fixture(scope="module")
def other_frames() -> np.ndarray:
    frames, _ = read_clip(EXERCISE_AVI, SPEC)
    return frames[:60]


# ------------------------------------------------------------------------------------------ the recipe


def test_every_augmenter_of_the_recipe_runs_on_real_frames(punch_frames):
    # Everything switched on and all eight of SomeOf chosen: each leaf must run (seen by a hook) and keep
    # the frame's shape and dtype under the installed numpy/OpenCV.
    recipe = article_recipe(RecipeParams(sometimes=1.0, invert_probability=1.0, some_of=(8, 8)))
    assert not any(isinstance(a, iaa.Fliplr) for a in recipe.get_all_children(flat=True))
    seen: set[int] = set()

    def record(images, augmenter, parents):
        seen.add(id(augmenter))
        return images

    hooks = ia.HooksImages(postprocessor=record)
    for seed in range(40):
        recipe.seed_(seed)
        out = recipe.augment_images([punch_frames[seed % len(punch_frames)]], hooks=hooks)[0]
        assert out.shape == (56, 100, 3) and out.dtype == np.uint8
    missing = [a.name for a in recipe.get_all_children(flat=True) if id(a) not in seen]
    assert missing == []


def test_default_recipe_many_seeds_changes_windows(punch_frames):
    aug = WindowAugmenter()
    window = punch_frames[:4]
    changed = 0
    for seed in range(60):
        out, label = aug.augment(window, "punch", seed)
        assert out.shape == window.shape and out.dtype == np.uint8
        assert label == "punch"
        changed += not np.array_equal(out, window)
    assert changed >= 50
    assert np.array_equal(window, punch_frames[:4])  # the input is never modified in place


def test_identical_frames_in_a_window_come_out_identical(punch_frames, other_frames):
    a, b = punch_frames[10], other_frames[5]
    window = np.stack([a, b, a, a, b])
    aug = WindowAugmenter(AugmentOptions(flip_probability=0.5))
    for seed in range(40):
        out, _ = aug.augment(window, None, seed)
        assert np.array_equal(out[0], out[2]) and np.array_equal(out[0], out[3])
        assert np.array_equal(out[1], out[4])
        assert not np.array_equal(out[0], out[1])


def test_one_transform_per_window_not_per_frame(punch_frames):
    # A still window (the same frame 8 times) must stay still; a batch call of imgaug would not.
    window = np.repeat(punch_frames[20][None], 8, axis=0)
    aug = WindowAugmenter()
    for seed in range(10):
        out, _ = aug.augment(window, None, seed)
        assert all(np.array_equal(out[0], f) for f in out[1:])


def test_same_seed_same_bytes_whatever_the_history(punch_frames):
    window = punch_frames[:6]
    first = WindowAugmenter().augment(window, "punch", 123)[0]
    other = WindowAugmenter()
    for seed in range(5):  # use it for other windows, disturb global random state too
        other.augment(punch_frames[6:12], "punch", seed)
    np.random.seed(999)
    ia.seed(999)
    again = other.augment(window, "punch", 123)[0]
    assert first.tobytes() == again.tobytes()
    outputs = {WindowAugmenter().augment(window, "punch", s)[0].tobytes() for s in range(8)}
    assert len(outputs) == 8


def test_per_frame_noise_is_mild_seeded_and_per_frame(punch_frames):
    window = np.repeat(punch_frames[30][None], 3, axis=0)
    quiet = WindowAugmenter(AugmentOptions(recipe=iaa.Identity(), flip_probability=0.0))
    noisy = WindowAugmenter(AugmentOptions(recipe=iaa.Identity(), flip_probability=0.0, noise_sigma=3.0))
    out = noisy.augment(window, None, 5)[0]
    assert np.array_equal(quiet.augment(window, None, 5)[0], window)
    assert not np.array_equal(out[0], out[1])  # drawn anew per frame
    diff = np.abs(out.astype(int) - window.astype(int))
    assert 1.0 < diff.mean() < 4.0
    assert np.array_equal(out, noisy.augment(window, None, 5)[0])


# ------------------------------------------------------------------------------------------------ flips


def test_mirror_label_swaps_side_words_only():
    assert mirror_label("punch/left") == "punch/right"
    assert mirror_label("Left_Kick") == "Right_Kick"
    assert mirror_label("walk-RIGHT") == "walk-LEFT"
    assert mirror_label("walk/left_to_right") == "walk/right_to_left"
    assert mirror_label("leftover") is None
    assert mirror_label("kick") is None


def test_flip_map_pairs_sided_labels_and_disables_orphans():
    fm = FlipMap(["punch/left", "punch/right", "kick/left", "other", "jab"], pairs=[("jab", "cross")])
    assert fm.flip("punch/left") == "punch/right" and fm.flip("punch/right") == "punch/left"
    assert fm.flip("other") == "other" and fm.flip(None) is None
    assert fm.flip("jab") == "cross"
    assert not fm.can_flip("kick/left")
    assert fm.unflippable == ["kick/left"]
    assert fm.pairs == [("cross", "jab"), ("punch/left", "punch/right")]
    with pytest.raises(ActionrecError, match="kick/left"):
        fm.flip("kick/left")
    # A user pair overrides the automatic one; the label left without partner cannot flip.
    fm = FlipMap(["punch/left", "punch/right", "hook/left"], pairs=[("punch/left", "hook/left")])
    assert fm.flip("punch/left") == "hook/left" and not fm.can_flip("punch/right")
    with pytest.raises(ActionrecError, match="already paired"):
        FlipMap(pairs=[("a", "b"), ("a", "c")])
    # A pair naming no label of the dataset is a misspelling: refused, naming the labels there are.
    with pytest.raises(ActionrecError, match="'puch/left'='puch/right': neither.*punch/left"):
        FlipMap(["punch/left", "punch/right"], pairs=[("puch/left", "puch/right")])
    assert parse_flip_pairs(["jab = cross"]) == [("jab", "cross")]
    with pytest.raises(ActionrecError, match="LABEL=LABEL"):
        parse_flip_pairs(["jab"])


def test_flip_maps_label_and_mirrors_pixels(punch_frames):
    fm = FlipMap(["punch/left", "punch/right", "kick/left"])
    aug = WindowAugmenter(AugmentOptions(recipe=iaa.Identity(), flip_probability=1.0, flip_map=fm))
    window = punch_frames[:3]
    out, label = aug.augment(window, "punch/left", 1)
    assert label == "punch/right" and np.array_equal(out, window[:, :, ::-1])
    out, label = aug.augment(window, "kick/left", 1)  # no partner: never flips
    assert label == "kick/left" and np.array_equal(out, window)
    out, labels = aug.augment_labeled(window, ["other", "punch/left", "punch/right"], 1)
    assert labels == ["other", "punch/right", "punch/left"] and np.array_equal(out, window[:, :, ::-1])
    out, labels = aug.augment_labeled(window, ["punch/left", "kick/left", "other"], 1)
    assert labels == ["punch/left", "kick/left", "other"] and np.array_equal(out, window)


def test_a_sided_label_without_partner_never_flips_under_the_full_recipe(punch_frames):
    fm = FlipMap(["kick/left", "punch/left", "punch/right"])
    aug = WindowAugmenter(AugmentOptions(flip_map=fm))
    flips = [aug.flips(["punch/left"], s) for s in range(40)]
    assert 5 < sum(flips) < 35
    assert not any(aug.flips(["kick/left"], s) for s in range(40))
    assert {aug.augment(punch_frames[:2], "kick/left", s)[1] for s in range(10)} == {"kick/left"}


def test_bad_input_is_explained():
    aug = WindowAugmenter()
    with pytest.raises(ActionrecError, match=r"\(T, H, W, 3\)"):
        aug.augment(np.zeros((56, 100, 3), np.uint8), None, 0)
    with pytest.raises(ActionrecError, match="seed"):
        aug.augment(np.zeros((1, 56, 100, 3), np.uint8), None, -1)
    with pytest.raises(ActionrecError, match="one per frame"):
        aug.augment_labeled(np.zeros((2, 56, 100, 3), np.uint8), ["a"], 0)


# ---------------------------------------------------------------------------------- user recipes, extras


def test_load_recipe_article_file_and_module(tmp_path, monkeypatch, punch_frames):
    assert isinstance(load_recipe("article"), iaa.Sequential)
    (tmp_path / "my_recipe.py").write_text(
        "import imgaug.augmenters as iaa\n"
        "def gentle():\n    return iaa.Sequential([iaa.Add((-5, 5))])\n"
        "def broken():\n    return 42\n"
    )
    custom = load_recipe(f"{tmp_path}/my_recipe.py:gentle")
    out, _ = WindowAugmenter(AugmentOptions(recipe=custom, flip_probability=0.0)).augment(punch_frames[:2], None, 3)
    assert np.abs(out.astype(int) - punch_frames[:2].astype(int)).max() <= 5
    monkeypatch.syspath_prepend(str(tmp_path))
    assert isinstance(load_recipe("my_recipe:gentle"), iaa.Sequential)
    for spec, msg in [
        (f"{tmp_path}/my_recipe.py:broken", "returned int"),
        (f"{tmp_path}/my_recipe.py:nothing", "no function"),
        (f"{tmp_path}/missing.py:gentle", "not found"),
        ("no_such_module_xyz:f", "cannot import"),
        ("fancy", "expected 'article'"),
    ]:
        with pytest.raises(ActionrecError, match=msg):
            load_recipe(spec)


def test_preview_grid_and_png(tmp_path, punch_frames):
    grid = preview_grid(punch_frames[40], WindowAugmenter(), seed=0)
    assert grid.shape == (4 * 56 + 3 * 2, 4 * 100 + 3 * 2, 3) and grid.dtype == np.uint8
    cells = {grid[y : y + 56, x : x + 100].tobytes() for y in range(0, 232, 58) for x in range(0, 406, 102)}
    assert len(cells) == 16  # sixteen different augmentations
    path = save_preview(tmp_path / "p.png", punch_frames[40], article_recipe(), seed=0, n=6)
    img = cv2.imread(str(path))
    assert img.shape == (2 * 56 + 2, 3 * 100 + 4, 3)
    assert [p.name for p in tmp_path.iterdir()] == ["p.png"]  # no temp file left behind


def test_bench_augment_reports_ms_per_frame():
    result = bench_augment(n_frames=20, repeats=2)
    print(f"\naugment bench (small run): {result}")
    assert result["ms_per_frame"] > 0 and result["size"] == "100x56" and len(result["runs_ms_per_frame"]) == 2
    # The article's recipe is named, whether left as the default or passed in as loaded by `--recipe article`.
    assert result["recipe"] == "article"
    assert bench_augment(n_frames=10, repeats=1, recipe=load_recipe("article"))["recipe"] == "article"
    assert bench_augment(n_frames=10, repeats=1, recipe=iaa.Fliplr(1.0))["recipe"].startswith("custom ")


def test_derive_seed_is_stable_and_distinct():
    assert derive_seed(0, "punch/a.mp4", 3) == derive_seed(0, "punch/a.mp4", 3)
    assert len({derive_seed(0, "punch/a.mp4", k) for k in range(100)}) == 100
    assert derive_seed(1, "punch/a.mp4", 3) != derive_seed(0, "punch/a.mp4", 3)


# ------------------------------------------------------------------------------------------ a dataset


@pytest.fixture()
def tiny_dataset(tmp_path, punch_frames, other_frames) -> Path:
    root = tmp_path / "src"
    write_video(root / "punch/left/a.mp4", punch_frames[:20], 10)
    write_video(root / "punch/right/b.mp4", punch_frames[20:40], 10)
    write_video(root / "kick/left/c.mp4", other_frames[:20], 10)  # sided, no partner
    write_video(root / "other/d.mp4", other_frames[20:40], 10)
    write_video(root / "sessions/s1.mp4", other_frames[30:60], 10)
    (root / "annotations.csv").write_text("video,start,end,label\nsessions/s1.mp4,0.5,1.5,punch/left\n")
    (root / "groups.csv").write_text(
        "clip,group\npunch/left/a.mp4,alice\npunch/right/b.mp4,alice\nkick/left/c.mp4,bob\n"
        "other/d.mp4,bob\nsessions/s1.mp4,carol\n"
    )
    return root


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_augment_dataset_layout_groups_flips_and_resume(tmp_path, tiny_dataset):
    out = tmp_path / "aug"
    summary = augment_dataset(tiny_dataset, out, copies=2, seed=7, flip_probability=1.0)
    assert (summary.sources, summary.written, summary.skipped) == (5, 15, 0)
    assert summary.unflippable == ["kick/left"]

    ds = load_dataset(out)
    ids = {c.id for c in ds.clips}
    assert {"punch/right/a__aug00_flip.mp4", "punch/right/a__aug01_flip.mp4", "punch/left/a__orig.mp4"} <= ids
    assert {"punch/left/b__aug00_flip.mp4", "kick/left/c__aug00.mp4", "other/d__aug01_flip.mp4"} <= ids
    assert not any(i.startswith("kick/right") for i in ids)
    source_group = {"a": "alice", "b": "alice", "c": "bob", "d": "bob", "s1": "carol"}
    for clip in ds.clips:
        assert clip.group == source_group[Path(clip.id).name.split("__")[0]]
    annotations = {r["video"]: r["label"] for r in _rows(out / "annotations.csv")}
    assert annotations == {
        "sessions/s1__orig.mp4": "punch/left",
        "sessions/s1__aug00_flip.mp4": "punch/right",
        "sessions/s1__aug01_flip.mp4": "punch/right",
    }
    frames, _ = read_clip(out / "punch/right/a__aug00_flip.mp4", SPEC)
    assert frames.shape == (20, 56, 100, 3)
    assert cv2.imread(str(out / "preview.png")).shape == (230, 406, 3)
    config = json.loads((out / "augment.json").read_text())
    assert config["complete"] and config["copies"] == 2 and config["recipe"] == "article"

    # A killed run: one copy missing, settings recorded as incomplete. The rerun writes exactly that copy,
    # byte for byte as before.
    victim = out / "other/d__aug01_flip.mp4"
    before = victim.read_bytes()
    victim.unlink()
    (out / "augment.json").write_text(json.dumps({**config, "complete": False}))
    again = augment_dataset(tiny_dataset, out, copies=2, seed=7, flip_probability=1.0)
    assert (again.written, again.skipped) == (1, 14)
    assert victim.read_bytes() == before
    assert not [p for p in out.rglob("*") if "actionrec-tmp" in p.name]

    with pytest.raises(ActionrecError, match="seed"):
        augment_dataset(tiny_dataset, out, copies=2, seed=8, flip_probability=1.0)
    with pytest.raises(ActionrecError, match="outside the source"):
        augment_dataset(tiny_dataset, tiny_dataset / "aug")


def test_augment_dataset_same_seed_same_data(tmp_path, tiny_dataset):
    one = augment_dataset(tiny_dataset, tmp_path / "one", copies=1, seed=3, originals=False).out_root
    two = augment_dataset(tiny_dataset, tmp_path / "two", copies=1, seed=3, originals=False).out_root
    three = augment_dataset(tiny_dataset, tmp_path / "three", copies=1, seed=4, originals=False).out_root
    files = sorted(p.relative_to(one) for p in one.rglob("*.mp4"))
    assert len(files) == 5 and files == sorted(p.relative_to(two) for p in two.rglob("*.mp4"))
    assert all((one / f).read_bytes() == (two / f).read_bytes() for f in files)
    frames_one = read_clip(one / files[0], SPEC)[0]
    other_files = sorted(p for p in three.rglob("*.mp4") if p.name.split("__")[0] == files[0].name.split("__")[0])
    assert not np.array_equal(frames_one, read_clip(other_files[0], SPEC)[0])


def test_frequency_noise_blend_is_deterministic(punch_frames):
    # imgaug's FrequencyNoise caches state between draws; actionrec.augment makes it a pure function.
    recipe = article_recipe()
    blend = next(a for a in recipe.get_all_children(flat=True) if isinstance(a, iaa.BlendAlphaFrequencyNoise))
    aug = WindowAugmenter(AugmentOptions(recipe=blend, flip_probability=0.0))
    window = np.repeat(punch_frames[30][None], 3, axis=0)
    for seed in range(30):
        out, _ = aug.augment(window, None, seed)
        assert np.array_equal(out[0], out[1]) and np.array_equal(out[0], out[2])


def test_on_the_fly_copies_are_of_training_clips_only_keep_groups_and_are_cached(tiny_dataset, embedder):
    """``--augment N`` on train/evaluate: copies of the clips passed (a fold's training clips) and no others,
    each in its source's group, flipped labels mapped, source embeddings untouched, and a second run
    served from the cache with the same numbers."""
    from actionrec.data.recipe import AugmentOptions, FlipMap
    from actionrec.learn.augmented_copies import AUG_MARK, add_augmented_clips
    from actionrec.learn.embedded import embed_dataset_dir

    data = embed_dataset_dir(tiny_dataset, SPEC, embedder=embedder, show_progress=False)
    before = {cid: e.embeddings.copy() for cid, e in data.embeddings.items()}
    training = [c for c in data.clips if c.group != "bob"]  # bob is the held-out person
    options = AugmentOptions(flip_map=FlipMap(data.labels), flip_probability=1.0)
    extended, copies = add_augmented_clips(data, training, 2, seed=3, options=options)

    sources = {c.id: c for c in training}
    assert len(copies) == 2 * len(training)
    for copy in copies:
        source = sources[copy.id.split(AUG_MARK)[0]]
        assert copy.group == source.group != "bob"
        if source.label is not None:  # every copy was flipped: left and right swap
            assert copy.label == {"punch/left": "punch/right", "punch/right": "punch/left"}.get(source.label, source.label)
        else:
            assert [s.label for s in copy.segments] == ["punch/right"]
        assert not np.array_equal(extended.embeddings[copy.id].embeddings, data.embeddings[source.id].embeddings)
    assert {c.id for c in extended.clips} == set(data.embeddings) | {c.id for c in copies}
    for cid, emb in before.items():  # the originals, the held-out person's above all, are as they were
        assert np.array_equal(extended.embeddings[cid].embeddings, emb)

    cache_files = sorted(data.cache_dir.rglob("*.npz"))
    extended_again, again = add_augmented_clips(data, training, 2, seed=3, options=options)
    assert sorted(data.cache_dir.rglob("*.npz")) == cache_files  # nothing new computed
    assert [c.id for c in again] == [c.id for c in copies]
    for c in copies:
        assert np.array_equal(extended_again.embeddings[c.id].embeddings, extended.embeddings[c.id].embeddings)


def test_copies_carry_the_motion_stream_of_their_own_augmented_frames(tiny_dataset, embedder):
    """With the default features (mobilenet+diff) a copy's motion part is MobileNet on the differences of its
    augmented frames: under a transform that changes nothing, a copy's features are its source's, both parts,
    as the embedding of the clip itself computes them (the stream's differences, the first frame black)."""
    import imgaug.augmenters as iaa

    from actionrec.data.recipe import AugmentOptions
    from actionrec.features.spec import FeatureSpec
    from actionrec.learn.augmented_copies import add_augmented_clips
    from actionrec.learn.embedded import embed_dataset_dir

    data = embed_dataset_dir(tiny_dataset, SPEC, embedder=embedder, show_progress=False,
                             features=FeatureSpec("mobilenet+diff"))
    clip = data.clips[0]
    same = AugmentOptions(recipe=iaa.Sequential([iaa.Identity()]), flip_probability=0.0)
    extended, (copy,) = add_augmented_clips(data, [clip], 1, seed=0, options=same)
    own, copied = data.embeddings[clip.id], extended.embeddings[copy.id]
    assert copied.embeddings.shape == own.embeddings.shape == (len(own.times), 2048)
    assert np.allclose(copied.embeddings, own.embeddings, atol=1e-4)
    assert np.array_equal(copied.times, own.times)
    # A real transform changes both parts, and the motion part is not the appearance part.
    augmented, (other,) = add_augmented_clips(data, [clip], 1, seed=1)
    moved = augmented.embeddings[other.id].embeddings
    assert not np.allclose(moved[:, :1024], own.embeddings[:, :1024], atol=1e-3)
    assert not np.allclose(moved[:, 1024:], own.embeddings[:, 1024:], atol=1e-3)


def test_copies_refuse_pose_features_before_any_embedding():
    from actionrec.cli import feature_spec

    assert feature_spec(None, augment=2).kind == "mobilenet+diff"  # the default features, motion included
    with pytest.raises(ActionrecError, match=r"--augment 2 with --features pose:body: .*source's pixels"):
        feature_spec("pose:body", augment=2)


# ------------------------------------------------------------------- issue 11: outputs stay under --out


def test_augment_writes_nothing_outside_out(tmp_path, tiny_dataset):
    out = tmp_path / "aug"
    # A flip partner name is a folder name: "../escape" would put copies beside --out.
    with pytest.raises(ActionrecError, match=r"would be written to .*/escape/d__aug00_flip.mp4, outside the output folder"):
        augment_dataset(tiny_dataset, out, copies=1, flip_pairs=[("other", "../escape")], flip_probability=1.0)
    assert not (tmp_path / "escape").exists() and not out.exists()  # refused before the first write

    # A folder inside --out that is a symlink to somewhere else, in a resumed run.
    augment_dataset(tiny_dataset, out, copies=1, seed=2)
    elsewhere = tmp_path / "elsewhere"
    (out / "other").rename(elsewhere)
    (out / "other").symlink_to(elsewhere)
    before = sorted(p.name for p in elsewhere.iterdir())
    with pytest.raises(ActionrecError, match=f"outside the output folder {out}"):
        augment_dataset(tiny_dataset, out, copies=1, seed=2)
    assert sorted(p.name for p in elsewhere.iterdir()) == before


def test_a_resumed_augment_rewrites_a_copy_that_is_not_complete(tmp_path, tiny_dataset):
    out = tmp_path / "aug"
    augment_dataset(tiny_dataset, out, copies=1, seed=4)
    victim = out / "other" / "d__orig.mp4"
    good = victim.read_bytes()
    victim.write_bytes(good[: len(good) - 300])  # what a full disk used to leave: no moov atom at the end
    config = json.loads((out / "augment.json").read_text())
    (out / "augment.json").write_text(json.dumps({**config, "complete": False}))
    again = augment_dataset(tiny_dataset, out, copies=1, seed=4)
    assert (again.written, again.skipped) == (1, 9)
    assert victim.read_bytes() == good

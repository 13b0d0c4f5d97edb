"""Same seed, same bytes in a NEW process: ``augment`` and ``train --augment`` under different string hashing.

imgaug lists ``pad_mode=ALL`` from a set, so before the fix the mode a seed picked, and the recipe's
fingerprint, followed PYTHONHASHSEED: a rerun refused to resume, and on-the-fly copies missed their cache.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import imgaug
import imgaug.augmenters as iaa
import pytest
from conftest import build_class_dataset

pytestmark = pytest.mark.filterwarnings("ignore:Conversion of an array with ndim > 0:DeprecationWarning")


def actionrec(*args, hash_seed: int, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONHASHSEED": str(hash_seed)}
    proc = subprocess.run(
        [sys.executable, "-m", "actionrec", *map(str, args)], capture_output=True, text=True, env=env, timeout=timeout
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def in_new_process(code: str, hash_seed: int) -> str:
    env = {**os.environ, "PYTHONHASHSEED": str(hash_seed)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.strip()


def test_pad_mode_chosen_by_a_seed_is_the_same_in_every_process():
    """The pixels themselves, not only the fingerprint: a padding-only recipe under three hash seeds."""
    code = (
        "import hashlib, imgaug, numpy as np, imgaug.augmenters as iaa\n"
        "from actionrec.data.recipe import AugmentOptions, WindowAugmenter, recipe_fingerprint\n"
        "recipe = iaa.CropAndPad(percent=(0.1, 0.3), pad_mode=imgaug.ALL)\n"
        "w = WindowAugmenter(AugmentOptions(recipe=recipe, flip_probability=0.0))\n"
        "f = (np.arange(56 * 100 * 3) % 251).astype(np.uint8).reshape(1, 56, 100, 3)\n"
        "h = hashlib.sha256(b''.join(w.transform(f, False, s).tobytes() for s in range(30))).hexdigest()\n"
        "print(recipe_fingerprint(recipe), h)\n"
    )
    outputs = {in_new_process(code, seed) for seed in (1, 2, 3)}
    assert len(outputs) == 1, outputs


def test_canonical_recipe_keeps_a_users_own_order():
    from actionrec.data.recipe import canonical_recipe

    mine = iaa.CropAndPad(percent=(0, 0.2), pad_mode=["wrap", "edge", "constant"])
    choice = mine.get_parameters()[5]
    canonical_recipe(mine)
    assert choice.a == ["wrap", "edge", "constant"]
    every = canonical_recipe(iaa.Pad(percent=(0, 0.2), pad_mode=imgaug.ALL))
    assert every.get_parameters()[5].a == sorted(every.get_parameters()[5].a)


@pytest.mark.slow
def test_augment_gives_the_same_bytes_and_resumes_under_other_string_hashing(tmp_path):
    src = build_class_dataset(tmp_path / "src")
    args = ["--copies", 4, "--seed", 5]
    actionrec("augment", src, "--out", tmp_path / "one", *args, hash_seed=1)
    actionrec("augment", src, "--out", tmp_path / "two", *args, hash_seed=2)
    one, two = _files(tmp_path / "one"), _files(tmp_path / "two")
    assert sum(name.endswith(".mp4") for name in one) == 4 * 5  # 4 clips, 4 copies and the original each
    assert one.keys() == two.keys()
    differ = [name for name in one if one[name] != two[name]]
    assert differ == [], differ
    # The rerun of the same command (a killed run's resume) is accepted and finds every file complete.
    again = actionrec("augment", src, "--out", tmp_path / "one", *args, hash_seed=3)
    assert "0 clips written, 20 already there" in again.stdout
    assert _files(tmp_path / "one") == one


@pytest.mark.slow
def test_train_augment_copies_are_cache_hits_in_a_new_process(tmp_path):
    src = build_class_dataset(tmp_path / "src")
    args = ["--model", "frame", "--epochs", 1, "--augment", 2, "--seed", 3]
    actionrec("train", src, "--out", tmp_path / "m1", *args, hash_seed=1)
    cache = src / ".cache" / "embeddings"
    entries = {p: p.read_bytes() for p in sorted(cache.rglob("*.npz"))}
    augmented = [p for p in entries if "-aug-" in p.name]
    assert len(augmented) >= 2 * 2  # two copies of every training clip
    actionrec("train", src, "--out", tmp_path / "m2", *args, hash_seed=2)
    assert {p: p.read_bytes() for p in sorted(cache.rglob("*.npz"))} == entries  # all hits, nothing added

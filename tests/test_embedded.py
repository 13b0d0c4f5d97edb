"""Joining embedded datasets and relabelling them at the coarse level (in memory: no files, no model)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from actionrec.data.datasets import Clip, Dataset, Segment
from actionrec.errors import ActionrecError
from actionrec.features.cache import ClipEmbeddings
from actionrec.features.mobilenet import EmbedderConfig
from actionrec.features.spec import FeatureSpec
from actionrec.learn.embedded import EmbeddedDataset, coarse_labels, join_embedded


def _data(root: str, clips: list[Clip], dim: int = 4, features: FeatureSpec = FeatureSpec()) -> EmbeddedDataset:
    rng = np.random.default_rng(len(root))
    times = np.arange(20) / 10.0
    embs = {c.id: ClipEmbeddings(rng.random((20, dim), dtype=np.float32), times) for c in clips}
    return EmbeddedDataset(Dataset(Path(root), clips), EmbedderConfig(), list(clips), embs, Path(root) / "cache",
                           features=features)


SYNTH = [Clip(Path("s/a"), "punch/jab/a", "p00", label="punch/jab"),
         Clip(Path("s/b"), "kick/front/b", "p01", label="kick/front")]
REAL = [Clip(Path("r/a"), "clips/a", "p00", segments=(Segment(0.5, 1.0, "punch/left"), Segment(1.2, 1.5, "kick/side_left")))]


def test_coarse_labels_relabels_labels_and_segments_and_keeps_embeddings():
    data = _data("synth", SYNTH + REAL)
    flat = coarse_labels(data)
    assert [c.label for c in flat.clips] == ["punch", "kick", None]
    assert flat.clips[2].segments == (Segment(0.5, 1.0, "punch"), Segment(1.2, 1.5, "kick"))
    assert flat.labels == ["kick", "other", "punch"]
    assert flat.dataset.labels == ["kick", "other", "punch"]
    assert flat.embeddings is data.embeddings
    assert data.clips[0].label == "punch/jab"  # the original is untouched


def test_join_prefixes_ids_and_groups_so_people_never_merge():
    synth, real = _data("synth", SYNTH), _data("real", REAL)
    joined = join_embedded({"synth": synth, "real": real})
    assert [c.id for c in joined.clips] == ["synth:punch/jab/a", "synth:kick/front/b", "real:clips/a"]
    assert [c.group for c in joined.clips] == ["synth:p00", "synth:p01", "real:p00"]  # both parts had p00
    assert joined.embeddings["real:clips/a"] is real.embeddings["clips/a"]
    assert joined.dataset.clips == joined.clips and joined.dataset.root == Path("synth")
    windows = coarse_labels(joined).windows(4, 4)
    assert set(windows.labels) == {"punch", "kick", "other"}
    assert len(windows) == 3 * 5


def test_join_keeps_only_each_parts_selected_clips():
    real = _data("real", REAL + [Clip(Path("r/b"), "clips/b", "p09", label="other")])
    subset = dataclasses.replace(real, clips=[c for c in real.clips if c.group != "p09"])
    joined = join_embedded({"synth": _data("synth", SYNTH), "real": subset})
    assert "real:clips/b" not in joined.embeddings and len(joined.clips) == 3


def test_join_refuses_other_features_and_bad_names():
    synth = _data("synth", SYNTH)
    with pytest.raises(ActionrecError, match="same features"):
        join_embedded({"synth": synth, "real": _data("real", REAL, features=FeatureSpec.parse("pose:body"))})
    with pytest.raises(ActionrecError, match="without ':'"):
        join_embedded({"a:b": synth})
    with pytest.raises(ActionrecError, match="at least one"):
        join_embedded({})

"""A dataset with the features of every clip: what the models train and evaluate on.

``embed_dataset_dir`` embeds a dataset folder once (cached per clip) and keeps the ``Embedder`` it built,
so augmenting or predicting afterwards reuses the loaded MobileNet instead of loading it again.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from actionrec.data.datasets import Clip, Dataset, Segment, coarse, load_dataset
from actionrec.data.video import FrameSpec
from actionrec.errors import ActionrecError
from actionrec.features.cache import ClipEmbeddings, LazyEmbedder, default_cache_dir
from actionrec.features.frames import LazyPose, features_dataset
from actionrec.features.mobilenet import Embedder, EmbedderConfig
from actionrec.features.spec import FeatureSpec
from actionrec.learn.windows import WindowSet, make_windows
from actionrec.util.notice import warn
from actionrec.util.progress import Progress

if TYPE_CHECKING:
    from actionrec.util.ray_cluster import RayOptions


@dataclass
class EmbeddedDataset:
    """A dataset with every clip's embeddings, ready to be cut into windows."""

    dataset: Dataset
    config: EmbedderConfig
    clips: list[Clip]
    embeddings: dict[str, ClipEmbeddings]
    cache_dir: Path
    weights: str | os.PathLike | None = None
    embedder: LazyEmbedder | None = None  # the MobileNet embedding used (or will load on first need)
    features: FeatureSpec = FeatureSpec()  # what ``embeddings`` hold per frame (``features.dim`` columns)
    # Clips of other datasets added to train on too (``--also``, ``with_training_data``): never tested on, and
    # the only ones whose groups early stopping holds out. ``also``: those datasets' folders.
    training_only: frozenset[str] = frozenset()
    also: tuple[str, ...] = ()

    def get_embedder(self) -> Embedder:
        """The dataset's MobileNet: the one embedding loaded, else loaded now (once)."""
        if self.embedder is None:
            self.embedder = LazyEmbedder(self.config.frame_spec, self.weights)
        return self.embedder.get()

    @property
    def labels(self) -> list[str]:
        """Labels that frames really carry (the background only if some frame is outside every segment)."""
        return sorted({lab for c in self.clips for lab in c.labels_at(self.embeddings[c.id].times)})

    def windows(self, n: int, stride: int = 1, policy: str = "last", clips: list[Clip] | None = None) -> WindowSet:
        return make_windows(self.clips if clips is None else clips, self.embeddings, n=n, stride=stride, policy=policy)


def embed_dataset_dir(
    dataset: str | Path | Dataset,
    frame_spec: FrameSpec,
    cache_dir: str | os.PathLike | None = None,
    weights: str | os.PathLike | None = None,
    embedder: Embedder | None = None,
    show_progress: bool = True,
    features: FeatureSpec | None = None,
    ray: "RayOptions | None" = None,
    also: "Sequence[str | os.PathLike]" = (),
) -> EmbeddedDataset:
    """``features``: MobileNet (default), pose, diff or several; with pose only, MobileNet's weights are not
    needed and the config holds just the frame spec (its sampling is the pose's too). ``ray``: uncached clips
    are embedded on that Ray cluster first, into the cache (``features.distributed``): MobileNet's appearance
    features, or all of them when ``ray.shared_storage``. ``also``: more dataset folders to train on too
    (``with_training_data``), embedded the same way, each into its own cache (or ``cache_dir``)."""
    ds = dataset if isinstance(dataset, Dataset) else load_dataset(dataset)
    for message in ds.warnings:  # usable but suspicious (inspect lists them too): say so before the work
        warn(message)
    # The added datasets are read (and refused) before any work.
    added = {name: load_dataset(path) for name, path in _also_names([Path(p) for p in also], ds.root).items()}
    features = features or FeatureSpec()
    cache = cache_dir or default_cache_dir(ds.root)
    lazy = LazyEmbedder(frame_spec, weights, embedder)
    bar = Progress("embed", unit="frames") if show_progress else None
    if ray is not None and embedder is None and (features.uses_mobilenet or ray.shared_storage):
        from actionrec.features.distributed import prefill_cache_ray

        ray_bar = Progress("embed on Ray", unit="frames") if show_progress else None
        # Without shared storage only MobileNet's part goes to Ray; features_dataset below computes the rest.
        prefill_cache_ray(ds.clips, frame_spec, features, cache, weights, ray, progress=ray_bar)
        if ray_bar:
            ray_bar.close()
    embs = features_dataset(ds.clips, frame_spec, features, cache, embedder=lazy, pose=LazyPose(features),
                            progress=bar)
    if bar:
        bar.close()
    config = lazy.config if features.runs_mobilenet else EmbedderConfig(frame_spec=frame_spec)
    data = EmbeddedDataset(ds, config, list(ds.clips), embs, Path(cache), weights, lazy, features)
    _warn_unseen_labels(data, frame_spec)
    return with_training_data(data, {name: embed_dataset_dir(part, frame_spec, cache_dir, weights, show_progress=show_progress,
                                                             features=features, ray=ray)
                                     for name, part in added.items()})


def _warn_unseen_labels(data: EmbeddedDataset, frame_spec: FrameSpec) -> None:
    """Say which annotated labels no frame carries: train went on without them, a class quietly missing."""
    unseen = sorted(set(data.dataset.labels) - set(data.labels) - {data.dataset.background})
    if unseen:
        rate = f" at {frame_spec.fps:g} fps" if frame_spec.fps else ""
        warn(f"{data.dataset.root}: label(s) {', '.join(unseen)} are annotated, but no frame{rate} falls in their "
             "segments (past the video's end, or shorter than a frame; actionrec inspect names them): no model "
             "here will learn or score them")


def frames_dataset_dir(
    dataset: str | Path | Dataset,
    frame_spec: FrameSpec,
    cache_dir: str | os.PathLike | None = None,
    weights: str | os.PathLike | None = None,
    show_progress: bool = True,
    features: FeatureSpec | None = None,
) -> EmbeddedDataset:
    """The dataset with every clip's decoded frames (uint8, cached per clip) in place of its features: what
    ``train --finetune`` trains MobileNet on. The config is the ImageNet embedder's the tuning starts from."""
    from actionrec.features.frame_cache import frames_dataset

    features = features or FeatureSpec()
    if features.kind != "mobilenet":
        raise ActionrecError(f"--finetune with --features {features.kind}: fine-tuning trains MobileNet alone; "
                             f"expected --features mobilenet")
    ds = dataset if isinstance(dataset, Dataset) else load_dataset(dataset)
    cache_dir = cache_dir or default_cache_dir(ds.root)
    lazy = LazyEmbedder(frame_spec, weights)
    bar = Progress("decode", unit="frames") if show_progress else None
    frames = frames_dataset(ds.clips, frame_spec, cache_dir, progress=bar)
    if bar:
        bar.close()
    # ClipEmbeddings as the container of (per-frame rows, times) that windows are cut from.
    rows = {cid: ClipEmbeddings(f.frames, f.times) for cid, f in frames.items()}
    return EmbeddedDataset(ds, lazy.config, list(ds.clips), rows, Path(cache_dir), weights, lazy, features)


def coarse_labels(data: EmbeddedDataset) -> EmbeddedDataset:
    """``data`` with every clip's label, segments and background at their coarse class (``punch/jab`` ->
    ``punch``): datasets whose fine classes differ can then train one model. Embeddings are shared."""
    def relabel(clips: list[Clip]) -> list[Clip]:
        return [dataclasses.replace(
            c, label=None if c.label is None else coarse(c.label), background=coarse(c.background),
            segments=tuple(Segment(s.start, s.end, coarse(s.label)) for s in c.segments)) for c in clips]

    ds = dataclasses.replace(data.dataset, clips=relabel(data.dataset.clips), background=coarse(data.dataset.background))
    return dataclasses.replace(data, dataset=ds, clips=relabel(data.clips))


def join_embedded(parts: dict[str, EmbeddedDataset]) -> EmbeddedDataset:
    """One dataset of the clips of several (name -> dataset), to train on all of them at once.

    Clip ids and groups become ``<name>:<id>`` and ``<name>:<group>``, so no two parts can share a clip or
    a person. The parts must hold the same features made the same way (``features`` and ``config``); the
    joined dataset keeps the first part's root, cache folder, weights and embedder."""
    if not parts:
        raise ActionrecError("nothing to join: expected at least one embedded dataset")
    if any(not name or ":" in name for name in parts):
        raise ActionrecError(f"dataset names {list(parts)}: expected non-empty names without ':'")
    first = next(iter(parts.values()))
    clips, embeddings = [], {}
    for name, part in parts.items():
        if part.features != first.features or part.config != first.config:
            raise ActionrecError(f"dataset {name!r}: its features ({part.features.name}, {part.config.to_dict()}) "
                                 f"differ from the first's ({first.features.name}, {first.config.to_dict()}); "
                                 "expected the same features on every dataset joined")
        for c in part.clips:
            joined = dataclasses.replace(c, id=f"{name}:{c.id}", group=f"{name}:{c.group}")
            clips.append(joined)
            embeddings[joined.id] = part.embeddings[c.id]
    ds = Dataset(first.dataset.root, clips, first.dataset.background)
    return dataclasses.replace(first, dataset=ds, clips=clips, embeddings=embeddings)


def with_training_data(data: EmbeddedDataset, extras: dict[str, EmbeddedDataset]) -> EmbeddedDataset:
    """``data`` plus the clips of other datasets (name -> dataset) to train on too: ``train --also`` and
    ``evaluate --also``, e.g. your recordings plus the demo's synthetic people (``runs/demo/starter-synth``).

    The added clips' ids and groups become ``<name>:<id>`` and ``<name>:<group>`` (as ``join_embedded``
    names them); ``data``'s own keep theirs, so reports still name its people. The added ids are
    ``training_only``: ``evaluate`` trains every fold on them and tests only on ``data``'s people, and early
    stopping holds out only their groups (a user's few people all train). Every dataset must hold the same
    features made the same way."""
    if not extras:
        return data
    added = join_embedded(extras)
    if added.features != data.features or added.config != data.config:
        raise ActionrecError(f"dataset {next(iter(extras))!r}: its features ({added.features.name}, {added.config.to_dict()}) "
                             f"differ from {data.dataset.root}'s ({data.features.name}, {data.config.to_dict()}); "
                             "expected the same features on every dataset")
    clash = sorted(set(data.embeddings) & set(added.embeddings))
    if clash:
        raise ActionrecError(f"clip {clash[0]!r} of {data.dataset.root} has the name of an added dataset's clip; "
                             "expected clip names without ':'")
    return dataclasses.replace(
        data, clips=data.clips + added.clips, embeddings={**data.embeddings, **added.embeddings},
        training_only=data.training_only | {c.id for c in added.clips},
        also=data.also + tuple(str(part.dataset.root) for part in extras.values()))


def _also_names(paths: list[Path], dataset: Path) -> dict[str, Path]:
    """A name for each dataset given with ``--also`` (its folder's, made unique and without ':'), checked to be
    another folder than ``dataset`` and than each other."""
    names: dict[str, Path] = {}
    seen = {Path(dataset).resolve()}
    for path in paths:
        where = Path(path).resolve()
        if where in seen:
            raise ActionrecError(f"--also {path}: it is {'the dataset itself' if where == Path(dataset).resolve() else 'given twice'}; "
                                 "expected another dataset folder")
        seen.add(where)
        base = where.name.replace(":", "_") or "also"
        name, k = base, 2
        while name in names:
            name, k = f"{base}-{k}", k + 1
        names[name] = Path(path)
    return names

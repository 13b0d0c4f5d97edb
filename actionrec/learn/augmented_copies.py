"""``--augment N`` on train and evaluate: augmented copies of training clips, embedded once and cached.

Each copy is the whole clip under one deterministic transform (see ``augment.WindowAugmenter``), so the
LSTM never learns per-frame flicker. A copy is cached by source clip content, seed, copy index and recipe,
and keeps its source's group, so a person's copies never leak into a test fold (only training clips are
ever passed here).
"""

from __future__ import annotations

import dataclasses

from actionrec.data.datasets import Clip, Segment
from actionrec.data.digest import clip_digest
from actionrec.data.recipe import (
    AugmentOptions,
    FlipMap,
    WindowAugmenter,
    article_recipe,
    derive_seed,
    recipe_fingerprint,
)
from actionrec.data.video import read_clip
from actionrec.features.cache import ClipEmbeddings, EmbeddingCache
from actionrec.features.spec import check_augment_features
from actionrec.learn.embedded import EmbeddedDataset
from actionrec.util.progress import Progress

AUG_MARK = "#aug"


def add_augmented_clips(
    data: EmbeddedDataset, clips: list[Clip], copies: int, seed: int = 0, options: AugmentOptions | None = None
) -> tuple[EmbeddedDataset, list[Clip]]:
    """``data`` extended with ``copies`` augmented versions of each clip, and the list of the new clips."""
    check_augment_features(data.features, copies)
    options = options or AugmentOptions(flip_map=FlipMap(data.labels))
    augmenter = WindowAugmenter(options)
    recipe = options.recipe or article_recipe()
    tag_base = f"aug-{recipe_fingerprint(recipe)}-f{options.flip_probability:g}-n{options.noise_sigma:g}"
    cache = EmbeddingCache(data.cache_dir)
    spec = data.config.frame_spec
    embeddings = dict(data.embeddings)
    new: list[Clip] = []
    bar = Progress("augment+embed", total=len(clips) * copies, unit="copies")
    for clip in clips:
        digest = clip_digest(clip.path)
        for k in range(copies):
            s = derive_seed(seed, clip.id, k)
            flip = augmenter.flips(clip.labels, s)
            path = cache.path(data.config, digest, f"{tag_base}-s{s}")
            emb = cache.load(path)
            if emb is None:
                frames, times = read_clip(clip.path, spec)
                emb = ClipEmbeddings(data.get_embedder().embed(augmenter.transform(frames, flip, s)), times)
                cache.store(path, emb)
            copy = _copy_of(clip, k, flip, options.flip_map)
            embeddings[copy.id] = emb
            new.append(copy)
            bar(1)
    bar.close()
    extended = dataclasses.replace(data, clips=data.clips + new, embeddings=embeddings)
    return extended, new


def _copy_of(clip: Clip, k: int, flip: bool, flip_map: FlipMap) -> Clip:
    if not flip:
        return dataclasses.replace(clip, id=f"{clip.id}{AUG_MARK}{k:02d}")
    segments = tuple(Segment(s.start, s.end, flip_map.flip(s.label)) for s in clip.segments)
    return dataclasses.replace(
        clip, id=f"{clip.id}{AUG_MARK}{k:02d}", label=flip_map.flip(clip.label), segments=segments,
        background=flip_map.flip(clip.background),
    )

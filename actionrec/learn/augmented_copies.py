"""``--augment N`` on train and evaluate: augmented copies of training clips, embedded once and cached.

Each copy is the whole clip under one deterministic transform (see ``augment.WindowAugmenter``), so the
LSTM never learns per-frame flicker, and the motion stream (``diff``) of a copy is the difference of its
consecutive augmented frames, as it would be of a clip filmed that way. A copy is cached by source clip
content, seed, copy index and recipe, and keeps its source's group, so a person's copies never leak into a
test fold (only training clips are ever passed here). Pose features are refused: a copy is model-size
frames, and BlazePose needs the source's pixels.
"""

from __future__ import annotations

import dataclasses

import numpy as np

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
from actionrec.data.video import iter_differences, read_clip
from actionrec.features.cache import ClipEmbeddings, DiffKey, EmbeddingCache
from actionrec.features.frames import join_parts
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
    # Each part of the features under its own cache key, as the clips' own parts are.
    keys = {part: key for part, key, used in (("mobilenet", data.config, data.features.uses_mobilenet),
                                              ("diff", DiffKey(data.config), data.features.uses_diff)) if used}
    embeddings = dict(data.embeddings)
    new: list[Clip] = []
    bar = Progress("augment+embed", total=len(clips) * copies, unit="copies")
    for clip in clips:
        digest = clip_digest(clip.path)
        for k in range(copies):
            s = derive_seed(seed, clip.id, k)
            flip = augmenter.flips(clip.labels, s)
            tag = f"{tag_base}-s{s}"
            paths = {part: cache.path(key, digest, tag) for part, key in keys.items()}
            parts = {part: cache.load(path) for part, path in paths.items()}
            if any(emb is None for emb in parts.values()):
                frames, times = read_clip(clip.path, spec)
                augmented = augmenter.transform(frames, flip, s)
                for part, emb in parts.items():
                    if emb is None:
                        images = (np.stack([d for _, d in iter_differences(zip(times, augmented))])
                                  if part == "diff" else augmented)
                        parts[part] = ClipEmbeddings(data.get_embedder().embed(images), times)
                        cache.store(paths[part], parts[part])
            copy = _copy_of(clip, k, flip, options.flip_map)
            embeddings[copy.id] = join_parts(parts, f"{clip.path} (augmented copy {k})")
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

"""``actionrec bench augment``: milliseconds per frame of the augmentation recipe."""

from __future__ import annotations

import math
import time

import cv2
import imgaug.augmenters as iaa
import numpy as np

from actionrec.data.recipe import AugmentOptions, WindowAugmenter, _recipe_name, derive_seed


def bench_augment(
    n_frames: int = 300,
    size: tuple[int, int] = (100, 56),
    seed: int = 0,
    window: int = 10,
    repeats: int = 5,
    recipe: iaa.Augmenter | None = None,
) -> dict:
    """Median milliseconds per frame of the recipe (default: the article's) on ``size`` (width, height) frames.

    Frames go through in windows of ``window`` with a fresh seed each, so the per-window cost of seeding
    and freezing the recipe is included. One untimed warm-up window first.
    """
    rng = np.random.default_rng(seed)
    w, h = size
    # Smooth noise rather than flat colour: blurs and median filters cost what they cost on real frames.
    frame = cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (0, 0), 3)
    frames = np.repeat(frame[None], window, axis=0)
    aug = WindowAugmenter(AugmentOptions(recipe=recipe))
    aug.transform(frames, False, seed)
    n_windows = max(1, math.ceil(n_frames / window))
    runs = []
    for r in range(repeats):
        start = time.perf_counter()
        for i in range(n_windows):
            aug.transform(frames, bool(i % 2), derive_seed(seed, r, i))
        runs.append(1000 * (time.perf_counter() - start) / (n_windows * window))
    return {
        "ms_per_frame": float(np.median(runs)),
        "runs_ms_per_frame": [round(x, 3) for x in runs],
        "frames_per_run": n_windows * window,
        "window": window,
        "size": f"{w}x{h}",
        "recipe": _recipe_name(recipe),
    }



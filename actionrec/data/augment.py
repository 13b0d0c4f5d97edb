"""``actionrec augment``: write augmented copies of every clip of a dataset, one transform per clip, resumably."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

import cv2
import imgaug
import imgaug.augmenters as iaa
import numpy as np

from actionrec.data.datasets import ANNOTATIONS, GROUPS, Clip, format_csv, load_dataset
from actionrec.data.recipe import (
    AugmentOptions,
    FlipMap,
    RecipeParams,
    WindowAugmenter,
    _check_frames,
    article_recipe,
    derive_seed,
    recipe_fingerprint,
)
from actionrec.data.video import FrameSpec, is_complete_video, probe, read_clip, write_video
from actionrec.errors import ActionrecError
from actionrec.util.atomic import write_bytes, write_json, write_text
from actionrec.util.progress import ProgressFn

# -------------------------------------------------------------------------------------- preview, bench


def preview_grid(frame: np.ndarray, augmenter: WindowAugmenter | iaa.Augmenter, seed: int, n: int = 16) -> np.ndarray:
    """``n`` augmentations of one RGB frame tiled in a near-square grid (4x4 for 16), like the article's."""
    if isinstance(augmenter, iaa.Augmenter):
        augmenter = WindowAugmenter(AugmentOptions(recipe=augmenter))
    if n < 1:
        raise ActionrecError(f"preview size must be >= 1, got {n}")
    frame = _check_frames(np.asarray(frame)[None])[0]
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    h, w, gap = frame.shape[0], frame.shape[1], 2
    grid = np.zeros((rows * h + (rows - 1) * gap, cols * w + (cols - 1) * gap, 3), np.uint8)
    for i in range(n):
        cell, _ = augmenter.augment(frame[None], None, derive_seed(seed, "preview", i))
        y, x = (i // cols) * (h + gap), (i % cols) * (w + gap)
        grid[y : y + h, x : x + w] = cell[0]
    return grid


def save_preview(
    path: str | Path, frame: np.ndarray, augmenter: WindowAugmenter | iaa.Augmenter, seed: int, n: int = 16
) -> Path:
    """Write ``preview_grid`` as a PNG, atomically."""
    grid = preview_grid(frame, augmenter, seed, n)
    ok, png = cv2.imencode(".png", cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ActionrecError(f"{path}: OpenCV could not encode the preview PNG")
    write_bytes(path, png.tobytes())
    return Path(path)


# --------------------------------------------------------------------------------------- dataset level

CONFIG = "augment.json"
PREVIEW = "preview.png"


@dataclass
class AugmentSummary:
    out_root: Path
    sources: int  # clips read from the source dataset
    written: int  # clips written by this run
    skipped: int  # clips already present from an earlier (killed) run
    flipped: int  # augmented copies that were mirrored (label mapped)
    unflippable: list[str]  # sided labels without a partner: never flipped
    flip_pairs: list[tuple[str, str]]


@dataclass(frozen=True)
class _Target:
    rel: str  # output path relative to the output root
    seed: int | None  # None: the original, re-encoded at the frame spec
    flip: bool


def augment_dataset(
    src_root: str | Path,
    out_root: str | Path,
    copies: int = 16,
    seed: int = 0,
    augmenter: iaa.Augmenter | None = None,
    *,
    recipe_name: str = "article",
    flip_pairs: Iterable[tuple[str, str]] = (),
    flip_probability: float = RecipeParams().flip_probability,
    noise_sigma: float = 0.0,
    spec: FrameSpec = FrameSpec(),
    originals: bool = True,
    background: str = "other",
    progress: ProgressFn | None = None,
) -> AugmentSummary:
    """Write ``copies`` augmented copies of every clip of a dataset as a new dataset at ``out_root``.

    Clips are decoded at ``spec`` (default 100x56, 10 fps: the model's input) and written as .mp4 at that
    size and rate (the source rate when ``spec.fps`` is 0); ``originals`` adds each source clip re-encoded
    the same way. Class-folder clips go to ``OUT/<label>/<clip>__aug03.mp4`` (``__aug03_flip`` and the
    partner label's folder when mirrored); annotated videos keep their folder and get their rows, labels
    flip-mapped, in ``OUT/annotations.csv``. ``groups.csv`` gives every copy its source's group, so a
    person never lands in both training and test. Train on the output; evaluate on the source dataset.

    Resumable: per-copy seeds come from (seed, clip id, copy index), every file is written atomically and
    files already present are skipped. ``augment.json`` holds the settings; a rerun with other settings
    into the same folder is refused.
    """
    src_root, out_root = Path(src_root), Path(out_root)
    if copies < 1:
        raise ActionrecError(f"copies must be >= 1, got {copies}")
    if out_root.resolve().is_relative_to(src_root.resolve()):
        raise ActionrecError(f"{out_root}: output folder must be outside the source dataset {src_root}")
    ds = load_dataset(src_root, background=background)
    flip_map = FlipMap(ds.labels, flip_pairs)
    recipe = augmenter if augmenter is not None else article_recipe()
    window = WindowAugmenter(
        AugmentOptions(recipe=recipe, flip_probability=flip_probability, flip_map=flip_map, noise_sigma=noise_sigma)
    )
    config = {
        "source": str(src_root),
        "copies": copies,
        "seed": seed,
        "recipe": recipe_name,
        "recipe_params": asdict(RecipeParams()) if augmenter is None else None,
        "recipe_fingerprint": recipe_fingerprint(recipe),
        "flip_probability": flip_probability,
        "flip_pairs": [list(p) for p in flip_map.pairs],
        "noise_sigma": noise_sigma,
        "frame_spec": spec.to_dict(),
        "originals": originals,
        "background": background,
        "imgaug": imgaug.__version__,
    }
    config = json.loads(json.dumps(config))  # as it will read back (tuples become lists)
    plans = [(clip, _targets(clip, window, copies, seed, originals)) for clip in ds.clips]
    _check_unique(plans)
    _check_inside(out_root, plans)
    _start_or_resume(out_root, config)

    written = skipped = flipped = 0
    groups: list[tuple[str, str]] = []
    annotations: list[tuple[str, float, float, str]] = []
    for clip, targets in plans:
        # Re-checked, not just present: an earlier version committed videos a full disk had cut short.
        missing = [t for t in targets if not is_complete_video(out_root / t.rel)]
        frames = fps = None
        if missing:
            frames, _ = read_clip(clip.path, spec)
            fps = spec.fps if spec.fps > 0 else probe(clip.path).fps
        for t in targets:
            if t in missing:
                pixels = frames if t.seed is None else window.transform(frames, t.flip, t.seed)
                write_video(out_root / t.rel, pixels, fps)
                written += 1
            else:
                skipped += 1
            flipped += t.flip
            groups.append((t.rel, clip.group))
            for s in clip.segments:
                annotations.append((t.rel, s.start, s.end, flip_map.flip(s.label) if t.flip else s.label))
            if progress:
                progress(1)

    write_text(out_root / GROUPS, format_csv(["clip", "group"], groups))
    if annotations:
        write_text(out_root / ANNOTATIONS, format_csv(["video", "start", "end", "label"], annotations))
    first = ds.clips[0]
    frames, _ = read_clip(first.path, spec)
    save_preview(out_root / PREVIEW, frames[len(frames) // 2], window, seed)
    write_json(out_root / CONFIG, {**config, "complete": True})
    return AugmentSummary(out_root, len(ds.clips), written, skipped, flipped, flip_map.unflippable, flip_map.pairs)


def _targets(clip: Clip, window: WindowAugmenter, copies: int, seed: int, originals: bool) -> list[_Target]:
    rel = Path(clip.id)
    stem = rel.stem if clip.path.is_file() else rel.name
    digits = max(2, len(str(copies - 1)))

    def place(tag: str, flip: bool) -> str:
        if clip.is_annotated:
            folder = rel.parent.as_posix()
        else:
            folder = window.options.flip_map.flip(clip.label) if flip else clip.label
        name = f"{stem}__{tag}{'_flip' if flip else ''}.mp4"
        return name if folder in ("", ".") else f"{folder}/{name}"

    targets = [_Target(place("orig", False), None, False)] if originals else []
    for k in range(copies):
        s = derive_seed(seed, clip.id, k)
        flip = window.flips(clip.labels, s)
        targets.append(_Target(place(f"aug{k:0{digits}d}", flip), s, flip))
    return targets


def _check_unique(plans: list[tuple[Clip, list[_Target]]]) -> None:
    owner: dict[str, str] = {}
    for clip, targets in plans:
        for t in targets:
            if owner.setdefault(t.rel, clip.id) != clip.id:
                raise ActionrecError(
                    f"{clip.id} and {owner[t.rel]}: both would be written as {t.rel}; rename one of them"
                )


def _check_inside(out_root: Path, plans: list[tuple[Clip, list[_Target]]]) -> None:
    """Every file this run writes lands under ``out_root``, checked before the first write.

    Clip ids are inside the dataset (``load_dataset`` refuses paths leading out), but folder names also come
    from labels and ``--flip-pair`` names, and a symlinked folder inside ``out_root`` could lead elsewhere.
    """
    real_out = out_root.resolve()
    for clip, targets in plans:
        for t in targets:
            dest = out_root / t.rel
            if Path(t.rel).is_absolute() or ".." in Path(t.rel).parts or not dest.resolve().is_relative_to(real_out):
                raise ActionrecError(
                    f"{clip.id}: its copy {t.rel!r} would be written to {dest.resolve()}, outside the output "
                    f"folder {out_root}; expected every output under it (check labels, --flip-pair names and symlinks)"
                )


def _start_or_resume(out_root: Path, config: dict) -> None:
    """Record the settings before the first clip; refuse to mix runs with different settings."""
    path = out_root / CONFIG
    if path.exists():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ActionrecError(f"{path}: unreadable ({exc}); delete the output folder and rerun") from exc
        if not isinstance(old, dict):
            raise ActionrecError(f"{path}: not a JSON object; expected the settings augment writes (delete the output "
                                 "folder and rerun)")
        old.pop("complete", None)
        changed = sorted(k for k in config.keys() | old.keys() if old.get(k) != config.get(k))
        if changed:
            raise ActionrecError(
                f"{path}: this folder was made with other settings ({', '.join(changed)} differ); "
                "use another output folder or delete this one"
            )
        return
    if out_root.exists() and any(out_root.iterdir()):
        raise ActionrecError(
            f"{out_root}: folder exists and is not an augment output (no {CONFIG}); choose a new folder"
        )
    write_json(path, {**config, "complete": False})



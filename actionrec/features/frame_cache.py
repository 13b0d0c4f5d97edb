"""The per-clip decoded-frame cache: every frame of a clip at the model's size and rate, as uint8.

Fine-tuning MobileNet (``train --finetune K``) runs the backbone on pixels every epoch; decoding the videos
again each epoch would cost more than the small frames take on disk (100x56x3 = 17 KB a frame). The frames
come from the same path the embedding cache embeds (``read_clip``: ``iter_source_frames``, resample, ``prepare``), so a
frozen MobileNet on them gives the cached embeddings. Entries live beside the embeddings, under
``root/frames-<key>/<clip digest>.npz`` (the key: frame spec and preparation format); each clip is stored
whole as soon as it is decoded, so an interrupted run resumes at the next clip.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from actionrec.data.digest import clip_digest
from actionrec.data.video import FrameSpec, read_clip
from actionrec.features.cache import EmbeddingCache, read_entry, times_problem
from actionrec.features.mobilenet import EMBED_FORMAT
from actionrec.util.atomic import write_npz
from actionrec.util.progress import ProgressFn

FRAMES_FORMAT = 1  # bump when a stored frame would change for the same spec


@dataclass(frozen=True)
class FramesKey:
    """Everything that changes a clip's stored frames: the cache folder is named by its hash."""

    frame_spec: FrameSpec

    def key(self) -> str:
        d = {"format": FRAMES_FORMAT, "prepare": EMBED_FORMAT, **self.frame_spec.to_dict()}
        return "frames-" + hashlib.sha256(repr(sorted(d.items())).encode()).hexdigest()[:16]


@dataclass
class ClipFrames:
    frames: np.ndarray  # (N, H, W, 3) uint8 RGB at the model's size
    times: np.ndarray  # (N,) seconds


def frames_problem(frames: np.ndarray, times: np.ndarray, spec: FrameSpec) -> str | None:
    """What is wrong with a frame entry read back (None: nothing)."""
    shape = (spec.height, spec.width, 3)
    if frames.ndim != 4 or frames.shape[1:] != shape or frames.dtype != np.uint8:
        return f"frames are {frames.dtype} {frames.shape}, expected uint8 (N, {', '.join(map(str, shape))})"
    return times_problem(times, len(frames), "frames")


def load_frames(path: Path, spec: FrameSpec) -> ClipFrames | None:
    a = read_entry(path, ("frames", "times"), lambda a: frames_problem(a["frames"], a["times"], spec), "frame")
    return None if a is None else ClipFrames(a["frames"], a["times"])


def clip_frames(path: Path, spec: FrameSpec, cache_dir: str | os.PathLike,
                progress: ProgressFn | None = None) -> ClipFrames:
    """The clip's frames at ``spec``, from the cache when possible, else decoded once and stored."""
    entry = EmbeddingCache(cache_dir).path(FramesKey(spec), clip_digest(path))
    hit = load_frames(entry, spec)
    if hit is None:
        hit = ClipFrames(*read_clip(path, spec))
        write_npz(entry, frames=hit.frames, times=hit.times)
    if progress:
        progress(len(hit.times))
    return hit


def frames_dataset(clips: list, spec: FrameSpec, cache_dir: str | os.PathLike,
                   progress: ProgressFn | None = None) -> dict[str, ClipFrames]:
    """Frames of every clip (``datasets.Clip``), keyed by clip id; only uncached clips are decoded."""
    return {clip.id: clip_frames(clip.path, spec, cache_dir, progress) for clip in clips}

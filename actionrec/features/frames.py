"""The per-frame features of clips for a ``FeatureSpec``: MobileNet, pose, diff or several, each part cached per clip.

The MobileNet part is ``features/cache.py``'s embedding cache as before, and so is the diff part (MobileNet
on frame differences, under its ``DiffKey``). The pose part lives beside them in the same cache root under
``<PoseKey>/<clip digest>.npz`` (``embeddings`` = (N, POSE_DIM) pose vectors), read back with the same
validation. Several parts: each is read (or made) and they are concatenated per frame; every part is
sampled by one clock (``iter_decoded_frames`` at the model's rate), so their times agree.

A keypoint clip (``data/keypoints.py``) has its pose vectors from its own points, projected at the
camera yaw its file states, resampled by the video clock's rule and cached under a ``KeypointPoseKey``; it has no
pixels, so MobileNet's parts (mobilenet, diff) refuse it.

A clip's poses are one tracked stream: the estimator is cleared before each clip, and the entry is stored
whole, not in chunks (a resumed chunk would start a new track and give other vectors than one run).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from actionrec.data.digest import clip_digest
from actionrec.data.keypoints import is_keypoint_clip, load_keypoints, project, resample_indices
from actionrec.data.video import FrameSpec, iter_decoded_frames
from actionrec.errors import ActionrecError
from actionrec.features.cache import ClipEmbeddings, EmbeddingCache, LazyEmbedder, embed_dataset
from actionrec.features.mobilenet import Embedder
from actionrec.features.pose.image import PoseImage
from actionrec.features.pose.tracker import PoseEstimator
from actionrec.features.pose.vector import POSE_DIM, pose_vector, pose_vectors
from actionrec.features.spec import PARTS, FeatureSpec, pose_entry_problem
from actionrec.util.progress import ProgressFn


class LazyPose:
    """One ``PoseEstimator`` for a dataset, built on the first cache miss and then kept."""

    def __init__(self, features: FeatureSpec) -> None:
        self.features = features
        self._estimator: PoseEstimator | None = None

    def get(self) -> PoseEstimator:
        if self._estimator is None:
            self._estimator = PoseEstimator(self.features.pose_options)
        return self._estimator


def pose_stream(frames: Iterable[tuple[float, np.ndarray]], estimator: PoseEstimator, long_side: int,
                progress: ProgressFn | None = None) -> ClipEmbeddings:
    """Pose vectors of one stream of (time, BGR source frame), tracked from frame to frame."""
    estimator.clear()
    vectors, times = [], []
    for t, bgr in frames:
        vectors.append(pose_vector(estimator.process(PoseImage(bgr, long_side), t)))
        times.append(t)
        if progress:
            progress(1)
    if not vectors:
        return ClipEmbeddings(np.zeros((0, POSE_DIM), np.float32), np.zeros(0))
    return ClipEmbeddings(np.stack(vectors).astype(np.float32), np.asarray(times, np.float64))


def pose_clip(path: Path, frame_spec: FrameSpec, features: FeatureSpec, pose: LazyPose,
              cache: EmbeddingCache | None = None, progress: ProgressFn | None = None) -> ClipEmbeddings:
    """Pose vectors of every (resampled) frame of one clip, from the cache when possible."""
    key = features.pose_key(frame_spec)
    final = cache.path(key, clip_digest(path)) if cache is not None else None
    if final is not None:
        hit = cache.load(final, POSE_DIM, pose_entry_problem)
        if hit is not None:
            if progress:
                progress(len(hit.times))
            return hit
    # One FFmpeg thread, as for embedding: the models keep the cores busy.
    result = pose_stream(iter_decoded_frames(path, frame_spec, decode_threads=1), pose.get(),
                         features.pose_long_side, progress)
    if len(result.times) == 0:
        raise ActionrecError(f"{path}: clip has zero frames")
    if final is not None:
        cache.store(final, result)
    return result


KEYPOINT_FORMAT = 1  # bump when the projection or the pose vector changes


@dataclass(frozen=True)
class KeypointPoseKey:
    """What changes a keypoint clip's pose vectors besides its file (which holds the yaw): the model's rate."""

    fps: float

    def key(self) -> str:
        text = repr((KEYPOINT_FORMAT, float(self.fps), POSE_DIM))
        return "kp-" + hashlib.sha256(text.encode()).hexdigest()[:16]


def keypoint_pose_clip(path: Path, frame_spec: FrameSpec, cache: EmbeddingCache | None = None,
                       progress: ProgressFn | None = None) -> ClipEmbeddings:
    """Pose vectors of a keypoint clip at the model's rate, from its points (projected at its yaw)."""
    final = cache.path(KeypointPoseKey(frame_spec.fps), clip_digest(path)) if cache is not None else None
    hit = cache.load(final, POSE_DIM, pose_entry_problem) if final is not None else None
    if hit is None:
        clip = load_keypoints(path)
        keep = resample_indices(clip.frames, clip.fps, frame_spec.fps)
        landmarks = project(clip.to_blazepose()[keep], clip.yaw)
        hit = ClipEmbeddings(pose_vectors(list(landmarks)), keep / clip.fps)
        if final is not None:
            cache.store(final, hit)
    if progress:
        progress(len(hit.times))
    return hit


def join_parts(parts: dict[str, ClipEmbeddings | None], source: str = "clip") -> ClipEmbeddings:
    """One clip's features: its parts (by name, None: not used) concatenated per frame in ``PARTS`` order."""
    have = [(name, parts[name]) for name in PARTS if parts.get(name) is not None]
    if not have:
        raise ActionrecError(f"{source}: no features to join")
    (first, ref), rest = have[0], have[1:]
    for name, part in rest:
        if len(ref.times) != len(part.times) or not np.allclose(ref.times, part.times, atol=1e-6):
            raise ActionrecError(f"{source}: {len(ref.times)} {first} frames and {len(part.times)} {name} "
                                 "frames at different times; expected one clock (clear the cache and re-embed)")
    if not rest:
        return ref
    return ClipEmbeddings(np.concatenate([p.embeddings for _, p in have], axis=1), ref.times)


def features_dataset(
    clips: list,
    frame_spec: FrameSpec,
    features: FeatureSpec,
    cache_dir: str | os.PathLike,
    weights: str | os.PathLike | None = None,
    embedder: Embedder | LazyEmbedder | None = None,
    pose: LazyPose | None = None,
    progress: ProgressFn | None = None,
) -> dict[str, ClipEmbeddings]:
    """Features of every clip (``datasets.Clip``) by clip id, (N, features.dim) each; models load only on a miss."""
    keypoint_clip = next((c for c in clips if is_keypoint_clip(c.path)), None)
    if keypoint_clip is not None and features.runs_mobilenet:
        raise ActionrecError(f"{keypoint_clip.path}: a keypoint clip has no pixels for MobileNet ({features.kind} "
                             "features); expected --features pose")
    mob, diff = {}, {}
    if features.runs_mobilenet:  # one MobileNet for both of its parts, loaded on the first miss
        lazy = embedder if isinstance(embedder, LazyEmbedder) else LazyEmbedder(frame_spec, weights, embedder)
        if features.uses_mobilenet:
            mob = embed_dataset(clips, frame_spec, cache_dir, embedder=lazy, progress=progress)
        if features.uses_diff:
            diff = embed_dataset(clips, frame_spec, cache_dir, embedder=lazy, progress=progress, diff=True)
    poses: dict[str, ClipEmbeddings] = {}
    if features.uses_pose:
        cache = EmbeddingCache(cache_dir)
        pose = pose or LazyPose(features)
        for clip in clips:
            if is_keypoint_clip(clip.path):
                poses[clip.id] = keypoint_pose_clip(clip.path, frame_spec, cache, progress=progress)
            else:
                poses[clip.id] = pose_clip(clip.path, frame_spec, features, pose, cache, progress)
        poses = {k: ClipEmbeddings(features.view_pose(v.embeddings), v.times) for k, v in poses.items()}
    return {c.id: join_parts({"mobilenet": mob.get(c.id), "pose": poses.get(c.id), "diff": diff.get(c.id)}, str(c.path))
            for c in clips}

"""Embed a dataset's clips on a Ray cluster (``actionrec embed DATASET --ray [ADDRESS]``; the ``ray`` extra).

Each worker is a Ray actor holding one MobileNet (``Embedder``) and embeds whole clips; the driver stores
what they return in the same per-clip cache as the single-process path (``EmbeddingCache.store``, so the
same arrays in the same ``.npz`` layout), as each clip comes back: an interrupted run resumes with the
clips already stored, and cached clips are never sent. A worker process that dies is restarted by Ray and
its clips are run again (``max_restarts`` / ``max_task_retries``); nothing is written until a whole clip
is back, and every write is atomic, so a dead worker leaves nothing half-written.

Ray is imported only when this is called (``util.ray_cluster``): a user who never installs the extra sees nothing of it.
On a multi-machine cluster every node needs actionrec installed, the clips at the same paths (shared
storage) and the weights file at the path the driver resolved.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from actionrec.data.digest import clip_digest
from actionrec.data.video import FrameSpec
from actionrec.errors import ActionrecError
from actionrec.features.cache import ClipEmbeddings, EmbeddingCache
from actionrec.features.mobilenet import EmbedderConfig, resolve_weights
from actionrec.features.pose.assets import find_pose_models
from actionrec.features.spec import FeatureSpec
from actionrec.util.progress import ProgressFn
from actionrec.util.ray_cluster import RETRIES, RayOptions, get_or_explain, import_ray, joined

IN_FLIGHT = 2  # clips queued per worker: one embedding, one waiting, so a worker never idles between clips
WORKER_NAME = "actionrec-clip-worker"

ClipsFn = Callable[[int, int], None]  # (clips finished, clips in all)


class ClipWorker:
    """One MobileNet in one worker process; ``embed`` returns a whole clip's (embeddings, times)."""

    def __init__(self, frame_spec: FrameSpec, weights: str, expected_key: str, threads: int) -> None:
        _limit_threads(threads)
        from actionrec.features.mobilenet import Embedder

        self.embedder = Embedder(frame_spec, weights)
        _check_key(self.embedder.config, weights, expected_key)

    def embed(self, path: str) -> tuple[np.ndarray, np.ndarray]:
        from actionrec.features.cache import embed_clip

        result = embed_clip(Path(path), self.embedder)
        return result.embeddings, result.times

    def pid(self) -> int:
        return os.getpid()


def embed_dataset_ray(
    clips: list,
    frame_spec: FrameSpec,
    cache_dir: str | os.PathLike,
    weights: str | os.PathLike | None = None,
    options: RayOptions | None = None,
    progress: ProgressFn | None = None,
    on_clip: ClipsFn | None = None,
) -> dict[str, ClipEmbeddings]:
    """Embeddings of every clip (``datasets.Clip``) by clip id, the uncached ones embedded on a Ray cluster.

    ``progress`` gets the frames of each clip as it is finished anywhere on the cluster (or read from the
    cache), ``on_clip`` the clips finished so far and in all."""
    ray = import_ray()  # first: --ray without the extra is one line, before any work
    options = options or RayOptions()
    weights_path = resolve_weights(weights)
    config = EmbedderConfig.with_weights(frame_spec, weights_path)
    cache = EmbeddingCache(cache_dir)
    out: dict[str, ClipEmbeddings] = {}
    todo: dict[str, list] = {}  # digest -> clips with that content (embedded once)
    for clip in clips:
        digest = clip_digest(clip.path)
        hit = cache.load(cache.path(config, digest))
        if hit is None:
            todo.setdefault(digest, []).append(clip)
        else:
            out[clip.id] = hit
    finished = len(out)
    if progress and out:
        progress(sum(len(e.times) for e in out.values()))
    if on_clip:
        on_clip(finished, len(clips))
    if not todo:
        return out
    with joined(options):
        for digest, emb in _run(ray, todo, frame_spec, str(weights_path), config, options):
            cache.store(cache.path(config, digest), emb)
            for clip in todo[digest]:
                out[clip.id] = emb
            finished += len(todo[digest])
            if on_clip:  # before the frames, so a redrawn bar shows both counts of this clip
                on_clip(finished, len(clips))
            if progress:
                progress(len(emb.times) * len(todo[digest]))
    return {c.id: out[c.id] for c in clips}


def embed_features_ray(clips: list, frame_spec: FrameSpec, features: FeatureSpec, cache_dir: str | os.PathLike,
                       weights: str | os.PathLike | None = None, options: RayOptions | None = None,
                       progress: ProgressFn | None = None, on_clip: ClipsFn | None = None) -> dict[str, int]:
    """``actionrec embed --ray``: what Ray can put into the cache (``prefill_cache_ray``); frame counts by clip id.

    Without shared storage that is MobileNet's part only, and the caller computes the other parts (pose,
    diff) in its own process, as ``embed_dataset_dir`` does; features without that part are refused."""
    options = options or RayOptions()
    if not options.shared_storage and not features.uses_mobilenet:
        raise ActionrecError(f"--features {features.kind} --ray: without shared storage Ray workers compute the "
                             f"mobilenet part only, and {features.kind} has none; put the dataset on shared storage "
                             f"and add --ray-shared-storage")
    return prefill_cache_ray(clips, frame_spec, features, cache_dir, weights, options, progress, on_clip)


def prefill_cache_ray(clips: list, frame_spec: FrameSpec, features: FeatureSpec, cache_dir: str | os.PathLike,
                      weights: str | os.PathLike | None = None, options: RayOptions | None = None,
                      progress: ProgressFn | None = None, on_clip: ClipsFn | None = None) -> dict[str, int]:
    """What Ray can put into the cache: every feature with ``options.shared_storage`` (the workers write it),
    else MobileNet's part (sent back to this process, which stores it). Frame counts by clip id."""
    options = options or RayOptions()
    if options.shared_storage:
        return fill_cache_ray(clips, frame_spec, features, cache_dir, weights, options, progress, on_clip)
    out = embed_dataset_ray(clips, frame_spec, cache_dir, weights, options, progress, on_clip)
    return {cid: len(e.times) for cid, e in out.items()}


def start_workers(ray, frame_spec: FrameSpec, weights: str, config: EmbedderConfig, options: RayOptions,
                  most: int | None = None) -> list:
    """The clip workers (actors), each loading its MobileNet; at most ``most`` of them."""
    return _start(ray, ClipWorker, options, most, frame_spec, weights, config.key())


def _start(ray, worker: type, options: RayOptions, most: int | None, *args) -> list:
    """Actors of class ``worker`` (``*args`` and their thread count to its constructor); at most ``most``."""
    cpus = max(1, options.cpus_per_worker)
    n = options.workers or max(1, int(ray.cluster_resources().get("CPU", 1)) // cpus)
    n = min(n, most) if most else n
    remote = ray.remote(worker)
    # Named, so they show by name in `ray list actors` (and a test can find one to kill).
    run = uuid.uuid4().hex[:8]
    return [remote.options(name=f"{WORKER_NAME}-{run}-{i}", num_cpus=cpus, max_restarts=options.retries,
                           max_task_retries=options.retries).remote(*args, cpus)
            for i in range(n)]


def _run(ray, todo: dict[str, list], frame_spec: FrameSpec, weights: str, config: EmbedderConfig,
         options: RayOptions):
    """(digest, embeddings) of each clip as it comes back, on a pool of actors started for this run."""
    with _pool(ray, ClipWorker, options, len(todo), frame_spec, weights, config.key()) as actors:
        yield from run_on(ray, actors, todo, options.retries)


@contextlib.contextmanager
def _pool(ray, worker: type, options: RayOptions, most: int | None, *args) -> Iterator[list]:
    """Actors started for one run (as ``_start``), killed when it ends, however it ends."""
    actors = _start(ray, worker, options, most, *args)
    try:
        yield actors
    finally:
        for actor in actors:
            ray.kill(actor)


def run_on(ray, actors: list, todo: dict[str, list], retries: int = RETRIES):
    """(digest, embeddings) of each clip of ``todo`` (digest -> clips) as it comes back from ``actors``."""
    jobs = {digest: (lambda actor, d=digest: actor.embed.remote(str(todo[d][0].path))) for digest in todo}
    for digest, (embeddings, times) in _dispatch(ray, actors, jobs, lambda d: f"{todo[d][0].path}: embedding", retries):
        yield digest, ClipEmbeddings(embeddings, times)


def _dispatch(ray, actors: list, jobs: dict, what: Callable[[str], str], retries: int):
    """(key, result) of each job (key -> call(actor) returning an ObjectRef), as they come back; each actor
    holds ``IN_FLIGHT`` jobs at a time. ``what(key)`` names a job in an error."""
    n = len(actors)
    queue = list(jobs)
    pending: dict = {}  # ObjectRef -> (key, actor index)
    load = [0] * n

    def submit(i: int) -> None:
        while queue and load[i] < IN_FLIGHT:
            key = queue.pop(0)
            pending[jobs[key](actors[i])] = (key, i)
            load[i] += 1

    for i in range(n):
        submit(i)
    while pending:
        [ref], _ = ray.wait(list(pending), num_returns=1)
        key, i = pending.pop(ref)
        load[i] -= 1
        yield key, get_or_explain(ray, ref, what(key), retries)
        submit(i)


class CacheWorker:
    """For a dataset on shared storage: one worker's models (loaded on first need) compute a clip's features
    (MobileNet, pose, diff or several) and write them into the cache themselves, atomically and in chunks as the
    single-process path does; only the frame count goes back to the driver."""

    def __init__(self, frame_spec: FrameSpec, features: FeatureSpec, weights: str | None, expected_key: str | None,
                 threads: int) -> None:
        _limit_threads(threads)
        from actionrec.features.cache import LazyEmbedder
        from actionrec.features.frames import LazyPose

        self.frame_spec, self.features = frame_spec, features
        self.embedder = LazyEmbedder(frame_spec, weights)
        if expected_key is not None:
            _check_key(self.embedder.config, weights, expected_key)
        self.pose = LazyPose(features)

    def fill(self, clip, cache_dir: str) -> int:
        from actionrec.features.frames import features_dataset

        out = features_dataset([clip], self.frame_spec, self.features, cache_dir, embedder=self.embedder, pose=self.pose)
        return len(out[clip.id].times)

    def pid(self) -> int:
        return os.getpid()


def fill_cache_ray(
    clips: list,
    frame_spec: FrameSpec,
    features: FeatureSpec,
    cache_dir: str | os.PathLike,
    weights: str | os.PathLike | None = None,
    options: RayOptions | None = None,
    progress: ProgressFn | None = None,
    on_clip: ClipsFn | None = None,
) -> dict[str, int]:
    """Every clip's features into ``cache_dir``, each worker writing its own clips (``--ray-shared-storage``);
    returns each clip's frame count by clip id.

    For a dataset and cache on storage that every node sees at the same path; any features. Clips already
    cached cost a worker one read each. The driver then reads the cache as the single-process path does."""
    options = options or RayOptions()
    weights_path = str(resolve_weights(weights)) if features.runs_mobilenet else None
    key = EmbedderConfig.with_weights(frame_spec, weights_path).key() if weights_path else None
    if features.uses_pose:  # the driver's model files, found once here, so every node uses the same ones
        found = find_pose_models(features.pose_options.models)
        features = replace(features, pose_options=replace(features.pose_options, models=str(found.detector.parent)))
    by_id = {c.id: c for c in clips}
    counts: dict[str, int] = {}
    with joined(options) as ray:
        if on_clip:
            on_clip(0, len(clips))
        jobs = {c.id: (lambda actor, c=c: actor.fill.remote(c, str(cache_dir))) for c in clips}
        with _pool(ray, CacheWorker, options, len(clips), frame_spec, features, weights_path, key) as actors:
            for done, (cid, frames) in enumerate(_dispatch(ray, actors, jobs, lambda i: f"{by_id[i].path}: features",
                                                           options.retries), start=1):
                counts[cid] = frames
                if on_clip:
                    on_clip(done, len(clips))
                if progress:
                    progress(frames)
    return counts


def _limit_threads(threads: int) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    # TensorFlow sizes its pool by the machine's cores; each actor holds only ``threads`` of the
    # cluster's CPUs, so two actors on two cores would otherwise run four busy threads on them.
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)


def _check_key(config: EmbedderConfig, weights: str, expected_key: str) -> None:
    if config.key() != expected_key:  # another weights file at that path on this node
        raise ActionrecError(f"{weights}: on this node the weights give config {config.key()}, "
                             f"the driver's give {expected_key}")

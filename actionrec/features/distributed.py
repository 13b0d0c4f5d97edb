"""Embed a dataset's clips on a Ray cluster (``actionrec embed DATASET --ray [ADDRESS]``; the ``ray`` extra).

Each worker is a Ray actor holding one MobileNet (``Embedder``) and embeds whole clips; the driver stores
what they return in the same per-clip cache as the single-process path (``EmbeddingCache.store``, so the
same arrays in the same ``.npz`` layout), as each clip comes back: an interrupted run resumes with the
clips already stored, and cached clips are never sent. A worker process that dies is restarted by Ray and
its clips are run again (``max_restarts`` / ``max_task_retries``); nothing is written until a whole clip
is back, and every write is atomic, so a dead worker leaves nothing half-written.

Ray is imported only here, and only when called: a user who never installs the extra sees nothing of it.
On a multi-machine cluster every node needs actionrec installed, the clips at the same paths (shared
storage) and the weights file at the path the driver resolved.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from actionrec.data.digest import clip_digest
from actionrec.data.video import FrameSpec
from actionrec.errors import ActionrecError
from actionrec.features.cache import ClipEmbeddings, EmbeddingCache
from actionrec.features.mobilenet import EmbedderConfig, resolve_weights
from actionrec.util.progress import ProgressFn

RAY_MISSING = "--ray needs the optional Ray extra: pip install 'actionrec[ray]'"
NAMESPACE = "actionrec"
IN_FLIGHT = 2  # clips queued per worker: one embedding, one waiting, so a worker never idles between clips
WORKER_NAME = "actionrec-clip-worker"
RETRIES = 3  # restarts of a dead worker, and reruns of each clip it held

ClipsFn = Callable[[int, int], None]  # (clips finished, clips in all)


def import_ray():
    """The ``ray`` module, or one line saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ActionrecError(RAY_MISSING) from None
    return ray


@dataclass
class RayOptions:
    address: str | None = None  # None: start a local cluster (or use the one this process already joined)
    workers: int | None = None  # actors; None: one per CPU the cluster has, divided by cpus_per_worker
    cpus_per_worker: int = 1
    local_cpus: int | None = None  # a local cluster's CPUs; None: Ray's default (every core)
    retries: int = RETRIES


class ClipWorker:
    """One MobileNet in one worker process; ``embed`` returns a whole clip's (embeddings, times)."""

    def __init__(self, frame_spec: FrameSpec, weights: str, expected_key: str, threads: int) -> None:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import tensorflow as tf

        # TensorFlow sizes its pool by the machine's cores; each actor holds only ``threads`` of the
        # cluster's CPUs, so two actors on two cores would otherwise run four busy threads on them.
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
        from actionrec.features.mobilenet import Embedder

        self.embedder = Embedder(frame_spec, weights)
        if self.embedder.config.key() != expected_key:  # another weights file at that path on this node
            raise ActionrecError(f"{weights}: on this node the weights give config {self.embedder.config.key()}, "
                                 f"the driver's give {expected_key}")

    def embed(self, path: str) -> tuple[np.ndarray, np.ndarray]:
        from actionrec.features.cache import embed_clip

        result = embed_clip(Path(path), self.embedder)
        return result.embeddings, result.times

    def pid(self) -> int:
        return os.getpid()


def connect(ray, options: RayOptions) -> bool:
    """Join (or start) the cluster; True when this call started it (and so should shut it down)."""
    if ray.is_initialized():
        return False
    env = {"env_vars": {"TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}}
    try:
        if options.address:
            ray.init(address=options.address, namespace=NAMESPACE, runtime_env=env, log_to_driver=False)
        else:
            # No dashboard on a local cluster: it is a web server the user did not ask for, and costs start-up time.
            ray.init(num_cpus=options.local_cpus, namespace=NAMESPACE, runtime_env=env, include_dashboard=False,
                     log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = options.address or "a local cluster"
        raise ActionrecError(f"--ray {where}: cannot start or join the Ray cluster ({_first_line(exc)})") from None
    return True


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
    started = connect(ray, options)
    try:
        for digest, emb in _run(ray, todo, frame_spec, str(weights_path), config, options):
            cache.store(cache.path(config, digest), emb)
            for clip in todo[digest]:
                out[clip.id] = emb
            finished += len(todo[digest])
            if on_clip:  # before the frames, so a redrawn bar shows both counts of this clip
                on_clip(finished, len(clips))
            if progress:
                progress(len(emb.times) * len(todo[digest]))
    finally:
        if started:
            ray.shutdown()
    return {c.id: out[c.id] for c in clips}


def start_workers(ray, frame_spec: FrameSpec, weights: str, config: EmbedderConfig, options: RayOptions,
                  most: int | None = None) -> list:
    """The clip workers (actors), each loading its MobileNet; at most ``most`` of them."""
    cpus = max(1, options.cpus_per_worker)
    n = options.workers or max(1, int(ray.cluster_resources().get("CPU", 1)) // cpus)
    n = min(n, most) if most else n
    remote = ray.remote(ClipWorker)
    # Named, so they show by name in `ray list actors` (and a test can find one to kill).
    run = uuid.uuid4().hex[:8]
    return [remote.options(name=f"{WORKER_NAME}-{run}-{i}", num_cpus=cpus, max_restarts=options.retries,
                           max_task_retries=options.retries).remote(frame_spec, weights, config.key(), cpus)
            for i in range(n)]


def _run(ray, todo: dict[str, list], frame_spec: FrameSpec, weights: str, config: EmbedderConfig,
         options: RayOptions):
    """(digest, embeddings) of each clip as it comes back, on a pool of actors started for this run."""
    actors = start_workers(ray, frame_spec, weights, config, options, most=len(todo))
    try:
        yield from run_on(ray, actors, todo, options.retries)
    finally:
        for actor in actors:
            ray.kill(actor)


def run_on(ray, actors: list, todo: dict[str, list], retries: int = RETRIES):
    """(digest, embeddings) of each clip of ``todo`` (digest -> clips) as it comes back from ``actors``."""
    n = len(actors)
    queue = list(todo)
    pending: dict = {}  # ObjectRef -> (digest, actor index)
    load = [0] * n

    def submit(i: int) -> None:
        while queue and load[i] < IN_FLIGHT:
            digest = queue.pop(0)
            pending[actors[i].embed.remote(str(todo[digest][0].path))] = (digest, i)
            load[i] += 1

    for i in range(n):
        submit(i)
    while pending:
        [ref], _ = ray.wait(list(pending), num_returns=1)
        digest, i = pending.pop(ref)
        load[i] -= 1
        try:
            embeddings, times = ray.get(ref)
        except ray.exceptions.RayTaskError as exc:
            cause = exc.cause if isinstance(getattr(exc, "cause", None), Exception) else exc
            if isinstance(cause, ActionrecError):
                raise ActionrecError(str(cause)) from None
            raise ActionrecError(f"{todo[digest][0].path}: embedding failed on a Ray worker "
                                 f"({type(cause).__name__}: {_first_line(cause)})") from None
        except ray.exceptions.RayActorError as exc:  # died, and out of restarts
            raise ActionrecError(f"{todo[digest][0].path}: the Ray worker embedding it died; "
                                 f"{retries} restarts allowed ({_first_line(exc)})") from None
        yield digest, ClipEmbeddings(embeddings, times)
        submit(i)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

"""The per-clip embedding cache: embed every frame of a clip once, store it, and resume a killed run.

Entries live under ``root/<embedder config key>/<clip digest>.npz``; a long clip is stored in chunks as it goes.
The motion stream (``--features diff``: MobileNet on the difference of consecutive frames) is embedded the same
way from the same decoded frames, under ``root/<DiffKey>/``.
"""

from __future__ import annotations

import os
import queue
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from actionrec.data.digest import clip_digest
from actionrec.data.video import FrameSpec, iter_differences, iter_source_frames
from actionrec.errors import ActionrecError
from actionrec.features.mobilenet import EMBEDDING_DIM, Embedder, EmbedderConfig
from actionrec.util.atomic import write_npz
from actionrec.util.notice import warn
from actionrec.util.progress import ProgressFn


DIFF_FORMAT = 1  # bump when the difference images change for the same embedder config


@dataclass(frozen=True)
class DiffKey:
    """The cache folder of the motion stream: the embedder's config (size, rate, weights) and a diff marker."""

    config: EmbedderConfig

    def key(self) -> str:
        return f"diff{DIFF_FORMAT}-{self.config.key()}"


@dataclass
class ClipEmbeddings:
    embeddings: np.ndarray  # (N, 1024) float32
    times: np.ndarray  # (N,) seconds


class EmbeddingCache:
    """Per-clip ``.npz`` files under ``root/<config key>/``; partial chunks let a killed run resume."""

    CHUNK = 512  # frames per partial save while embedding one long video

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def path(self, config, digest: str, tag: str = "") -> Path:
        """``config``: an EmbedderConfig, or any settings with a ``key()`` (the pose part's ``PoseKey``)."""
        name = f"{digest}{'-' + tag if tag else ''}.npz"
        return self.root / config.key() / name

    def load(self, path: Path, dim: int = EMBEDDING_DIM, check=None) -> ClipEmbeddings | None:
        """The entry at ``path``; None when there is none, or when it cannot be trusted: then it is removed
        with a warning, and the caller recomputes it. A damaged entry is never used (train would crash on a
        wrong shape, or learn from NaNs). ``dim``: features per frame; ``check(array)``: a further problem or None."""
        def problem(a: dict) -> str | None:
            found = entry_problem(ClipEmbeddings(a["embeddings"], a["times"]), dim)
            return found if found is not None or check is None else check(a["embeddings"])

        a = read_entry(path, ("embeddings", "times"), problem, "embedding")
        return None if a is None else ClipEmbeddings(a["embeddings"], a["times"])

    def store(self, path: Path, emb: ClipEmbeddings) -> None:
        write_npz(path, embeddings=emb.embeddings.astype(np.float32), times=emb.times.astype(np.float64))


def read_entry(path: Path, keys: tuple[str, ...], problem, what: str) -> dict[str, np.ndarray] | None:
    """The arrays ``keys`` of the cache entry at ``path``; None when there is none, or when ``problem(arrays)``
    (or reading) finds something wrong: then it is removed with a warning, and the caller recomputes it."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in keys}
        found = problem(arrays)
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        found = f"unreadable: {type(exc).__name__}: {exc}"
    if found is None:
        return arrays
    warn(f"{path}: damaged {what} cache entry ({found}); recomputing it")
    path.unlink(missing_ok=True)
    return None


def entry_problem(emb: ClipEmbeddings, dim: int = EMBEDDING_DIM) -> str | None:
    """What is wrong with a cache entry read back (None: nothing): shapes, dtypes, counts, finite values."""
    e = emb.embeddings
    if e.ndim != 2 or e.shape[1] != dim or e.dtype.kind != "f":
        return f"embeddings are {e.dtype} {e.shape}, expected float (N, {dim})"
    if not np.isfinite(e).all():
        return "holds NaN or infinite values"
    return times_problem(emb.times, len(e), "embeddings")


def times_problem(t: np.ndarray, n: int, what: str) -> str | None:
    """What is wrong with the timestamps of ``n`` cached rows of ``what`` (None: nothing)."""
    if t.ndim != 1 or t.dtype.kind != "f":
        return f"times are {t.dtype} {t.shape}, expected float (N,)"
    if len(t) != n or n == 0:
        return f"{n} {what} for {len(t)} times, expected the same number, at least one"
    if not np.isfinite(t).all():
        return "holds NaN or infinite values"
    if np.any(np.diff(t) < 0):
        return "times are not in order"
    return None


def _batches(frames: Iterable[tuple[float, np.ndarray]], size: int) -> Iterator[tuple[list[float], np.ndarray]]:
    times, batch = [], []
    for t, f in frames:
        times.append(t)
        batch.append(f)
        if len(batch) == size:
            yield times, np.stack(batch)
            times, batch = [], []
    if batch:
        yield times, np.stack(batch)


def _prefetch(it: Iterator, depth: int = 4) -> Iterator:
    """Run ``it`` in a thread so decoding overlaps the model (OpenCV and TF both release the GIL)."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def work() -> None:
        try:
            for item in it:
                if stop.is_set():
                    return
                q.put(item)
        except BaseException as exc:  # handed to the consumer, raised there
            q.put(exc)
            return
        q.put(done)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            try:
                q.get_nowait()
            except queue.Empty:
                thread.join(0.05)


def embed_frames_stream(
    frames: Iterable[tuple[float, np.ndarray]],
    embedder: Embedder,
    progress: ProgressFn | None = None,
) -> ClipEmbeddings:
    """Embed a stream of (time, frame), decoding ahead in a thread."""
    embs, times = [], []
    for ts, batch in _prefetch(_batches(frames, embedder.batch_size)):
        embs.append(embedder.embed(batch))
        times.extend(ts)
        if progress:
            progress(len(ts))
    if not embs:
        return ClipEmbeddings(np.zeros((0, EMBEDDING_DIM), np.float32), np.zeros(0))
    return ClipEmbeddings(np.concatenate(embs), np.asarray(times, np.float64))


def embed_clip(
    path: Path,
    embedder: Embedder,
    cache: EmbeddingCache | None = None,
    progress: ProgressFn | None = None,
    diff: bool = False,
) -> ClipEmbeddings:
    """Embeddings of every (resampled) frame of one clip, from the cache when possible; ``diff``: of the
    difference of each frame from the previous one (the first one's is black), the motion stream.

    Long clips are saved in chunks as they go, so a killed run picks up at the last chunk. A resumed motion
    stream decodes (and differences) the frames it skips too, so its first new frame has its true predecessor.
    """
    config = embedder.config
    key = DiffKey(config) if diff else config
    if cache is None:
        result = embed_frames_stream(_decode(path, config.frame_spec, diff), embedder, progress)
        _require_frames(path, result)
        return result
    digest = clip_digest(path)
    final = cache.path(key, digest)
    hit = cache.load(final)
    if hit is not None:
        if progress:
            progress(len(hit.times))
        return hit
    parts = _load_parts(cache, key, digest)
    done = sum(len(p.times) for p in parts)
    if progress and done:
        progress(done)
    frames = _decode(path, config.frame_spec, diff)
    pending_e, pending_t = [], []
    for ts, batch in _prefetch(_batches(_skip(frames, done), embedder.batch_size)):
        pending_e.append(embedder.embed(batch))
        pending_t.extend(ts)
        if progress:
            progress(len(ts))
        if len(pending_t) >= cache.CHUNK:
            part = ClipEmbeddings(np.concatenate(pending_e), np.asarray(pending_t))
            cache.store(cache.path(key, digest, f"part{len(parts):05d}"), part)
            parts.append(part)
            pending_e, pending_t = [], []
    if pending_t:
        parts.append(ClipEmbeddings(np.concatenate(pending_e), np.asarray(pending_t)))
    result = ClipEmbeddings(
        np.concatenate([p.embeddings for p in parts]) if parts else np.zeros((0, EMBEDDING_DIM), np.float32),
        np.concatenate([p.times for p in parts]) if parts else np.zeros(0),
    )
    _require_frames(path, result)
    cache.store(final, result)
    for old in final.parent.glob(f"{digest}-part*.npz"):
        old.unlink(missing_ok=True)
    return result


def _decode(path: Path, spec: FrameSpec, diff: bool = False) -> Iterator[tuple[float, np.ndarray]]:
    # One FFmpeg thread: the model keeps every core busy, so more decode threads only contend with it
    # (one thread costs ~45% less CPU per frame; it still decodes several times faster than the model embeds).
    frames = iter_source_frames(path, spec, decode_threads=1)
    return iter_differences(frames) if diff else frames


def _require_frames(path: Path, result: ClipEmbeddings) -> None:
    if len(result.times) == 0:
        raise ActionrecError(f"{path}: clip has zero frames")


def _skip(frames: Iterator, n: int) -> Iterator:
    for i, item in enumerate(frames):
        if i >= n:
            yield item


def _load_parts(cache: EmbeddingCache, key: "EmbedderConfig | DiffKey", digest: str) -> list[ClipEmbeddings]:
    parts = []
    for i in range(10**5):
        part = cache.load(cache.path(key, digest, f"part{i:05d}"))
        if part is None:
            break
        parts.append(part)
    return parts


def default_cache_dir(dataset_root: Path) -> Path:
    """``DATASET/.cache/embeddings``: inside the dataset (hidden, so the class-folder scanner skips it), so
    moving the dataset keeps its cache.

    Refused when ``.cache`` or ``.cache/embeddings`` is a symlink out of the dataset: a downloaded dataset
    could ship one, and the cache would then write (and remove damaged entries) wherever it points. A cache
    elsewhere is a choice to make explicitly (``--cache``)."""
    root = Path(dataset_root)
    cache = root / ".cache" / "embeddings"
    real_root = root.resolve()
    for part in (cache.parent, cache):  # a path not there yet resolves to itself: inside
        target = part.resolve()
        if not target.is_relative_to(real_root):
            raise ActionrecError(
                f"{part} leads to {target}, outside the dataset folder {root}; expected the embedding "
                f"cache inside it (remove the link, or pass --cache {target} to use that folder)")
    return cache


class LazyEmbedder:
    """One ``Embedder`` for a dataset, built on the first cache miss and then kept.

    A dataset whose clips are all cached never loads MobileNet; augmenting or predicting after embedding
    reuses the model that embedding loaded instead of loading it again from the weights file.
    """

    def __init__(self, frame_spec: FrameSpec, weights: str | os.PathLike | None = None,
                 embedder: Embedder | None = None) -> None:
        self.frame_spec = frame_spec
        self.weights = weights
        self._embedder = embedder.for_spec(frame_spec) if embedder else None
        self._config: EmbedderConfig | None = None

    @property
    def config(self) -> EmbedderConfig:
        """The embedder config, without loading the model (the weights are hashed, not run)."""
        if self._embedder is not None:
            return self._embedder.config
        if self._config is None:
            self._config = EmbedderConfig.with_weights(self.frame_spec, self.weights)
        return self._config

    def get(self, frame_spec: FrameSpec | None = None) -> Embedder:
        if self._embedder is None:
            self._embedder = Embedder(self.frame_spec, self.weights)
        return self._embedder.for_spec(frame_spec or self.frame_spec)


def embed_dataset(
    clips: list,
    frame_spec: FrameSpec,
    cache_dir: str | os.PathLike,
    weights: str | os.PathLike | None = None,
    embedder: Embedder | LazyEmbedder | None = None,
    progress: ProgressFn | None = None,
    diff: bool = False,
) -> dict[str, ClipEmbeddings]:
    """Embeddings of every clip (``datasets.Clip``), keyed by clip id; MobileNet loads only on a cache miss.
    ``diff``: of the motion stream (``embed_clip``).

    Clips are done one at a time and each is stored as soon as it is finished, so an interrupted run
    resumes with the clips (and chunks) already on disk. Pass a ``LazyEmbedder`` to keep the model that
    a miss loads.
    """
    cache = EmbeddingCache(cache_dir)
    lazy = embedder if isinstance(embedder, LazyEmbedder) else LazyEmbedder(frame_spec, weights, embedder)
    key = DiffKey(lazy.config) if diff else lazy.config
    out: dict[str, ClipEmbeddings] = {}
    for clip in clips:
        hit = cache.load(cache.path(key, clip_digest(clip.path)))
        if hit is None:
            hit = embed_clip(clip.path, lazy.get(), cache, progress, diff)
        elif progress:
            progress(len(hit.times))
        out[clip.id] = hit
    return out

"""MobileNet frame embeddings: the 1024-d global-average-pooling output of ImageNet MobileNet v1.

Every frame is embedded once and cached on disk per clip, keyed by the clip's content and the full
embedder config (frame size, rate, grayscale, weights). The sequence model and the frame baseline both
train on these cached vectors, so MobileNet never runs twice on the same frame.
"""

from __future__ import annotations

import copy
import hashlib
import os
import queue
import threading
import zipfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from .atomic import write_npz
from .errors import ActionrecError
from .progress import ProgressFn
from .video import FrameSpec, image_files, iter_source_frames

WEIGHTS_ENV = "ACTIONREC_MOBILENET_WEIGHTS"
WEIGHTS_FILE = "mobilenet_1_0_224_tf_no_top.h5"
EMBEDDING_DIM = 1024
# Bump when the embedding of a frame would change for the same config (preprocessing, model).
EMBED_FORMAT = 3  # 3: halve to 4x, bilinear to 2x, halve (video.prepare); 2: halving, then area


def resolve_weights(explicit: str | os.PathLike | None = None) -> Path:
    """Find the ImageNet weights: explicit path, then $ACTIONREC_MOBILENET_WEIGHTS, then Keras' cache/download."""
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ActionrecError(f"{path}: MobileNet weights file not found (given as the explicit weights path)")
        return path
    env = os.environ.get(WEIGHTS_ENV)
    if env:
        path = Path(env).expanduser()
        if not path.is_file():
            raise ActionrecError(f"{path}: MobileNet weights file not found (set by ${WEIGHTS_ENV})")
        return path
    keras_home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
    cached = keras_home / "models" / WEIGHTS_FILE
    if cached.is_file():
        return cached
    try:
        import keras

        url = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet/" + WEIGHTS_FILE
        return Path(keras.utils.get_file(WEIGHTS_FILE, url, cache_subdir="models"))
    except Exception as exc:  # any download failure ends in the same advice
        raise ActionrecError(
            "MobileNet ImageNet weights not found: pass --weights PATH, or set "
            f"${WEIGHTS_ENV} to {WEIGHTS_FILE}, or let Keras download it into {cached} "
            f"(download failed: {_first_line(exc)})"
        ) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__


_HASH_MEMO: dict[tuple[str, int, int], str] = {}


def file_digest(path: Path) -> str:
    """sha256 of a file, memoized on (path, size, mtime) so repeated lookups are free."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _HASH_MEMO:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        _HASH_MEMO[key] = h.hexdigest()
    return _HASH_MEMO[key]


def clip_digest(path: Path) -> str:
    """Content hash of a clip: the video file's bytes, or every image's name and bytes in order."""
    if path.is_dir():
        h = hashlib.sha256()
        for f in image_files(path):
            h.update(f.name.encode() + b"\0" + file_digest(f).encode())
        return h.hexdigest()
    return file_digest(path)


@dataclass(frozen=True)
class EmbedderConfig:
    """Everything that changes an embedding. Models remember it and refuse embeddings made otherwise."""

    frame_spec: FrameSpec = field(default_factory=FrameSpec)
    weights_sha256: str = ""  # filled by ``with_weights``; the identity of the ImageNet weights used
    alpha: float = 1.0
    format: int = EMBED_FORMAT

    def key(self) -> str:
        """A short stable id for cache folders."""
        return hashlib.sha256(repr(sorted(self.to_dict().items())).encode()).hexdigest()[:16]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["frame_spec"] = self.frame_spec.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "EmbedderConfig":
        d = dict(d)
        d["frame_spec"] = FrameSpec(**d["frame_spec"])
        return cls(**d)

    @classmethod
    def with_weights(cls, frame_spec: FrameSpec, weights: str | os.PathLike | None = None) -> "EmbedderConfig":
        return cls(frame_spec=frame_spec, weights_sha256=file_digest(resolve_weights(weights)))

    def describe_difference(self, other: "EmbedderConfig") -> str:
        """``grayscale: False vs True; fps: 10.0 vs 5.0`` (this config's value first)."""
        a, b = self._flat(), other._flat()
        diffs = [f"{k}: {a[k]!r} vs {b.get(k)!r}" for k in a if a[k] != b.get(k)]
        return "; ".join(diffs) or "identical"

    def _flat(self) -> dict:
        d = self.to_dict()
        return {**d.pop("frame_spec"), **d}


class Embedder:
    """Frames (N, H, W, 3) uint8 RGB -> embeddings (N, 1024) float32, in fixed-size batches."""

    def __init__(self, frame_spec: FrameSpec | None = None, weights: str | os.PathLike | None = None, batch_size: int = 32):
        import keras
        import tensorflow as tf

        frame_spec = frame_spec or FrameSpec()
        path = resolve_weights(weights)
        self.config = EmbedderConfig(frame_spec=frame_spec, weights_sha256=file_digest(path))
        self.batch_size = batch_size
        try:
            self.model = keras.applications.MobileNet(
                input_shape=(frame_spec.height, frame_spec.width, 3),
                alpha=1.0,
                include_top=False,
                weights=str(path),
                pooling="avg",
            )
        except (ValueError, OSError) as exc:
            raise ActionrecError(
                f"{path}: not usable as MobileNet v1 1.0 no-top ImageNet weights ({exc}); expected {WEIGHTS_FILE}"
            ) from None

        model = self.model

        # uint8 in, preprocessing inside the graph (x / 127.5 - 1, as keras' mobilenet.preprocess_input).
        @tf.function(reduce_retracing=True)
        def forward(frames):
            x = tf.cast(frames, tf.float32) / 127.5 - 1.0
            return model(x, training=False)

        self._forward = forward

    def for_spec(self, frame_spec: FrameSpec) -> "Embedder":
        """This embedder for another rate or color mode, sharing the loaded model (the size must match)."""
        if frame_spec == self.config.frame_spec:
            return self
        spec = self.config.frame_spec
        if (frame_spec.width, frame_spec.height) != (spec.width, spec.height):
            raise ActionrecError(
                f"frame size {frame_spec.width}x{frame_spec.height}: this embedder's model takes "
                f"{spec.width}x{spec.height}; build an Embedder for the new size"
            )
        other = copy.copy(self)
        other.config = replace(self.config, frame_spec=frame_spec)
        return other

    def embed(self, frames: np.ndarray) -> np.ndarray:
        frames = np.asarray(frames)
        spec = self.config.frame_spec
        if frames.ndim != 4 or frames.shape[1:] != (spec.height, spec.width, 3) or frames.dtype != np.uint8:
            raise ActionrecError(
                f"frames of shape {frames.shape} {frames.dtype}: expected (N, {spec.height}, {spec.width}, 3) uint8"
            )
        out = np.empty((len(frames), EMBEDDING_DIM), np.float32)
        bs = self.batch_size
        for i in range(0, len(frames), bs):
            out[i : i + bs] = self._forward_padded(frames[i : i + bs])
        return out

    def _forward_padded(self, batch: np.ndarray) -> np.ndarray:
        # Pad a short last batch to full size so the traced graph is reused instead of retraced.
        n = len(batch)
        if 1 < n < self.batch_size:
            batch = np.concatenate([batch, np.zeros((self.batch_size - n, *batch.shape[1:]), np.uint8)])
        return self._forward(batch).numpy()[:n]

    def embed_one(self, frame: np.ndarray) -> np.ndarray:
        return self.embed(frame[None])[0]


@dataclass
class ClipEmbeddings:
    embeddings: np.ndarray  # (N, 1024) float32
    times: np.ndarray  # (N,) seconds


class EmbeddingCache:
    """Per-clip ``.npz`` files under ``root/<config key>/``; partial chunks let a killed run resume."""

    CHUNK = 512  # frames per partial save while embedding one long video

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def path(self, config: EmbedderConfig, digest: str, tag: str = "") -> Path:
        name = f"{digest}{'-' + tag if tag else ''}.npz"
        return self.root / config.key() / name

    def load(self, path: Path) -> ClipEmbeddings | None:
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                return ClipEmbeddings(z["embeddings"], z["times"])
        except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):
            # A damaged cache entry is recomputed, never trusted.
            path.unlink(missing_ok=True)
            return None

    def store(self, path: Path, emb: ClipEmbeddings) -> None:
        write_npz(path, embeddings=emb.embeddings.astype(np.float32), times=emb.times.astype(np.float64))


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
) -> ClipEmbeddings:
    """Embeddings of every (resampled) frame of one clip, from the cache when possible.

    Long clips are saved in chunks as they go, so a killed run picks up at the last chunk.
    """
    config = embedder.config
    if cache is None:
        result = embed_frames_stream(_decode(path, config.frame_spec), embedder, progress)
        _require_frames(path, result)
        return result
    digest = clip_digest(path)
    final = cache.path(config, digest)
    hit = cache.load(final)
    if hit is not None:
        if progress:
            progress(len(hit.times))
        return hit
    parts = _load_parts(cache, config, digest)
    done = sum(len(p.times) for p in parts)
    if progress and done:
        progress(done)
    frames = _decode(path, config.frame_spec)
    pending_e, pending_t = [], []
    for ts, batch in _prefetch(_batches(_skip(frames, done), embedder.batch_size)):
        pending_e.append(embedder.embed(batch))
        pending_t.extend(ts)
        if progress:
            progress(len(ts))
        if len(pending_t) >= cache.CHUNK:
            part = ClipEmbeddings(np.concatenate(pending_e), np.asarray(pending_t))
            cache.store(cache.path(config, digest, f"part{len(parts):05d}"), part)
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


def _decode(path: Path, spec: FrameSpec) -> Iterator[tuple[float, np.ndarray]]:
    # One FFmpeg thread: the model keeps every core busy, so more decode threads only contend with it
    # (one thread costs ~45% less CPU per frame; it still decodes several times faster than the model embeds).
    return iter_source_frames(path, spec, decode_threads=1)


def _require_frames(path: Path, result: ClipEmbeddings) -> None:
    if len(result.times) == 0:
        raise ActionrecError(f"{path}: clip has zero frames")


def _skip(frames: Iterator, n: int) -> Iterator:
    for i, item in enumerate(frames):
        if i >= n:
            yield item


def _load_parts(cache: EmbeddingCache, config: EmbedderConfig, digest: str) -> list[ClipEmbeddings]:
    parts = []
    for i in range(10**5):
        part = cache.load(cache.path(config, digest, f"part{i:05d}"))
        if part is None:
            break
        parts.append(part)
    return parts


def default_cache_dir(dataset_root: Path) -> Path:
    # Inside the dataset (hidden, so the class-folder scanner skips it): moving the dataset keeps its cache.
    return Path(dataset_root) / ".cache" / "embeddings"


def embed_dataset(
    clips: list,
    frame_spec: FrameSpec,
    cache_dir: str | os.PathLike,
    weights: str | os.PathLike | None = None,
    embedder: Embedder | None = None,
    progress: ProgressFn | None = None,
) -> dict[str, ClipEmbeddings]:
    """Embeddings of every clip (``datasets.Clip``), keyed by clip id; MobileNet loads only on a cache miss.

    Clips are done one at a time and each is stored as soon as it is finished, so an interrupted run
    resumes with the clips (and chunks) already on disk.
    """
    cache = EmbeddingCache(cache_dir)
    embedder = embedder.for_spec(frame_spec) if embedder else None
    config = embedder.config if embedder else EmbedderConfig.with_weights(frame_spec, weights)
    out: dict[str, ClipEmbeddings] = {}
    for clip in clips:
        hit = cache.load(cache.path(config, clip_digest(clip.path)))
        if hit is None:
            if embedder is None:
                embedder = Embedder(frame_spec, weights)
            hit = embed_clip(clip.path, embedder, cache, progress)
        elif progress:
            progress(len(hit.times))
        out[clip.id] = hit
    return out

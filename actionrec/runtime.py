"""Batch-1 inference for the live loop: one frame -> embedding, one window -> class probabilities.

``InferenceSession`` hides which engine runs: the exported TFLite files through LiteRT with XNNPACK
(fast; ``actionrec export`` writes them, see export.py for why this engine) or the Keras reference
(``Embedder`` + ``TrainedModel``). ``backend="auto"`` takes LiteRT when the export is present and matches
the sha256s recorded in config.json, else Keras, and ``reason`` says why. The LiteRT path never imports
TensorFlow: a session is ready in ~0.3 s at ~90 MB peak RSS, against ~5 s and ~670 MB for Keras.

``measure_stream_step`` times the streaming step (embed the new frame once, classify the window) against
the naive one (re-embed the whole window every frame, as most webcam demos do); ``measure_engines`` times
each engine considered for the fast path.
"""

from __future__ import annotations

import json
import tempfile
import time
import warnings
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .embed import EMBEDDING_DIM, Embedder, EmbedderConfig
from .errors import ActionrecError
from .export import CLASSIFIER_FILE, EMBEDDER_FILE, export_problem, export_record
from .models import CONFIG_FILE, load_model
from .video import FrameSpec

BACKENDS = ("auto", "litert", "keras")


@dataclass(frozen=True)
class SessionOptions:
    model_dir: str | Path
    backend: str = "auto"  # auto | litert | keras
    # One thread: at batch 1 on 2 shared cores a second XNNPACK thread measured slower (it waits on the
    # capture thread and on other processes), and the live loop's capture thread needs the other core.
    # LiteRT only: the Keras backend uses TensorFlow's own thread pools.
    num_threads: int = 1
    weights: str | Path | None = None  # MobileNet weights, for the Keras backend only


class LiteRTModels:
    """The two exported graphs in LiteRT interpreters (XNNPACK is LiteRT's default CPU delegate).

    Not thread-safe: call it from one inference thread.
    """

    def __init__(self, embedder: bytes | Path, classifier: bytes | Path, num_threads: int = 1):
        self.num_threads = num_threads
        self._embedder_source = embedder
        self._embed, self._classify = self._interpreter(embedder), self._interpreter(classifier)
        self._batch: tuple[int, object] | None = None  # (size, interpreter) for ``embed`` of several frames
        emb_in, cls_in = self._embed.get_input_details()[0], self._classify.get_input_details()[0]
        self.frame_shape = tuple(int(d) for d in emb_in["shape"][1:])
        self.window_shape = tuple(int(d) for d in cls_in["shape"][1:])
        self._emb_io = emb_in["index"], self._embed.get_output_details()[0]["index"]
        self._cls_io = cls_in["index"], self._classify.get_output_details()[0]["index"]

    def _interpreter(self, source: bytes | Path, batch: int | None = None):
        from ai_edge_litert.interpreter import Interpreter

        where = {"model_content": source} if isinstance(source, bytes) else {"model_path": str(source)}
        it = Interpreter(**where, num_threads=self.num_threads)
        if batch is not None:
            it.resize_tensor_input(it.get_input_details()[0]["index"], (batch, *self.frame_shape), strict=False)
        it.allocate_tensors()
        return it

    def embed_one(self, frame: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 -> (1024,) float32."""
        inp, out = self._emb_io
        self._embed.set_tensor(inp, frame[None])
        self._embed.invoke()
        return self._embed.get_tensor(out)[0]

    def embed(self, frames: np.ndarray) -> np.ndarray:
        """(N, H, W, 3) uint8 -> (N, 1024) in one call, through a copy of the embedder resized to batch N."""
        n = len(frames)
        if self._batch is None or self._batch[0] != n:
            self._batch = (n, self._interpreter(self._embedder_source, batch=n))
        it = self._batch[1]
        it.set_tensor(it.get_input_details()[0]["index"], frames)
        it.invoke()
        return it.get_tensor(it.get_output_details()[0]["index"])

    def predict_window(self, window: np.ndarray) -> np.ndarray:
        """(n, 1024) float32 -> (k,) probabilities."""
        inp, out = self._cls_io
        self._classify.set_tensor(inp, np.asarray(window, np.float32)[None])
        self._classify.invoke()
        return self._classify.get_tensor(out)[0]


class InferenceSession:
    """A model directory ready for the live loop: ``embed_one`` and ``predict_window`` at batch 1."""

    def __init__(self, options: SessionOptions):
        if options.backend not in BACKENDS:
            raise ActionrecError(f"backend {options.backend!r}: expected one of {', '.join(BACKENDS)}")
        if options.num_threads < 1:
            raise ActionrecError(f"num_threads {options.num_threads}: expected >= 1")
        self.options = options
        self.model_dir = Path(options.model_dir)
        config = _read_config(self.model_dir)
        self.kind: str = config["kind"]
        self.classes: list[str] = list(config["classes"])
        self.window = int(config.get("window", 1))
        self.embedder_config = EmbedderConfig.from_dict(config["embedder"])
        self.backend, self.reason = self._choose_backend()
        if self.backend == "litert":
            lite = LiteRTModels(self.model_dir / EMBEDDER_FILE, self.model_dir / CLASSIFIER_FILE, options.num_threads)
            spec = self.frame_spec
            if lite.frame_shape != (spec.height, spec.width, 3) or lite.window_shape != (self.window, EMBEDDING_DIM):
                raise ActionrecError(
                    f"{self.model_dir}: exported shapes {lite.frame_shape}, {lite.window_shape} do not fit the "
                    f"model's {spec.width}x{spec.height} frames and window {self.window}; re-run `actionrec export`"
                )
            self._embed_one, self._embed, self._predict = lite.embed_one, lite.embed, lite.predict_window
        else:
            model = load_model(self.model_dir)
            embedder = Embedder(model.frame_spec, options.weights, batch_size=max(1, self.window))
            model.check_embedder(embedder.config, source="the MobileNet weights found")
            self._embed_one, self._embed, self._predict = embedder.embed_one, embedder.embed, model.predict_window

    @property
    def frame_spec(self) -> FrameSpec:
        return self.embedder_config.frame_spec

    def _choose_backend(self) -> tuple[str, str]:
        wanted = self.options.backend
        if wanted == "keras":
            return "keras", "asked for the Keras reference"
        problem = export_problem(self.model_dir)
        if problem is None:
            try:
                import ai_edge_litert.interpreter  # noqa: F401  (only checks that LiteRT is installed)
            except ImportError as exc:
                problem = f"LiteRT is not installed ({exc}); pip install ai-edge-litert"
        if problem is None:
            return "litert", f"TFLite export in {self.model_dir} matches its record"
        if wanted == "litert":
            raise ActionrecError(problem)
        if EMBEDDER_FILE in (export_record(self.model_dir) or {}).get("files", {}):
            # A broken or stale export is worth a warning; a model never exported is the normal case.
            warnings.warn(f"{problem}; using the Keras model", RuntimeWarning, stacklevel=3)
        return "keras", problem

    def embed_one(self, frame: np.ndarray) -> np.ndarray:
        """One RGB frame (H, W, 3) uint8 at the model's size -> (1024,) float32 embedding."""
        spec = self.frame_spec
        if frame.shape != (spec.height, spec.width, 3) or frame.dtype != np.uint8:
            raise ActionrecError(
                f"frame of shape {frame.shape} {frame.dtype}: expected ({spec.height}, {spec.width}, 3) uint8"
            )
        return self._embed_one(frame)

    def embed(self, frames: np.ndarray) -> np.ndarray:
        """(N, H, W, 3) uint8 -> (N, 1024) in one batch: the naive path that re-embeds a whole window."""
        spec = self.frame_spec
        if frames.ndim != 4 or frames.shape[1:] != (spec.height, spec.width, 3) or frames.dtype != np.uint8:
            raise ActionrecError(
                f"frames of shape {frames.shape} {frames.dtype}: expected (N, {spec.height}, {spec.width}, 3) uint8"
            )
        return self._embed(frames)

    def predict_window(self, window: np.ndarray) -> np.ndarray:
        """(n, 1024) embeddings, oldest first -> (k,) probabilities in ``classes`` order."""
        if np.shape(window) != (self.window, EMBEDDING_DIM):
            raise ActionrecError(f"window of shape {np.shape(window)}: expected ({self.window}, {EMBEDDING_DIM})")
        return self._predict(window)


def _read_config(model_dir: Path) -> dict:
    path = model_dir / CONFIG_FILE
    if not path.is_file():
        raise ActionrecError(f"{model_dir}: no {CONFIG_FILE}; expected a model directory written by `actionrec train`")
    try:
        config = json.loads(path.read_text())
    except ValueError as exc:
        raise ActionrecError(f"{path}: not valid JSON ({exc})") from None
    missing = [key for key in ("kind", "classes", "embedder") if key not in config]
    if missing:
        raise ActionrecError(f"{path}: not a valid model config, missing {', '.join(missing)}")
    return config


def measure_stream_step(model_dir: str | Path, n_frames: int = 200, backend: str = "auto", num_threads: int = 1,
                        naive_steps: int = 50, warmup: int = 20, frames: np.ndarray | None = None) -> dict:
    """Per-frame milliseconds of the streaming step and of the naive one, medians after ``warmup`` steps.

    Stream step: embed the new frame once (batch 1), push it into the live ``RingBuffer``, classify the
    window. Naive step: re-embed the last n frames (one batch of n) and classify. ``frames`` default to the
    synthetic camera-like video of ``bench`` at the model's size; they are reused cyclically.
    """
    from .stream import RingBuffer, ring_capacity

    session = InferenceSession(SessionOptions(model_dir, backend, num_threads))
    spec, n = session.frame_spec, session.window
    if frames is None:
        frames = _bench_frames(spec)
    fps = spec.fps or 10.0
    buffer = RingBuffer(n, spec.fps, ring_capacity(n, spec.fps, fps))
    recent: deque[np.ndarray] = deque(maxlen=n)

    def stream_step(i: int) -> tuple[float, float]:
        frame = frames[i % len(frames)]
        began = time.perf_counter()
        buffer.push(i / fps, session.embed_one(frame))
        embedded = time.perf_counter()
        session.predict_window(buffer.window_array())
        return embedded - began, time.perf_counter() - began

    def naive_step(i: int) -> float:
        began = time.perf_counter()
        recent.append(frames[i % len(frames)])
        batch = np.stack([recent[0]] * (n - len(recent)) + list(recent))  # pad like the ring buffer at start
        session.predict_window(session.embed(batch))
        return time.perf_counter() - began

    for i in range(warmup):
        stream_step(i)
        naive_step(i)
    # Alternate blocks of both, so load from other processes hits them alike.
    stream, embed_only, naive = [], [], []
    blocks = 5
    for stream_block, naive_block in zip(_split(n_frames, blocks), _split(naive_steps, blocks)):
        for _ in range(stream_block):
            e, s = stream_step(warmup + len(stream))
            embed_only.append(e)
            stream.append(s)
        for _ in range(naive_block):
            naive.append(naive_step(warmup + len(naive)))
    stream_p50, naive_p50 = _ms(stream), _ms(naive)
    return {
        "backend": session.backend,
        "num_threads": num_threads if session.backend == "litert" else None,
        "window": n,
        "frame_size": f"{spec.width}x{spec.height}",
        "stream_step_ms_p50": stream_p50,
        "stream_step_ms_p95": _ms(stream, 95),
        "embed_one_ms_p50": _ms(embed_only),
        "naive_step_ms_p50": naive_p50,
        "naive_over_stream": round(naive_p50 / stream_p50, 1),
        "stream_steps": len(stream),
        "naive_steps": len(naive),
    }


def _split(total: int, parts: int) -> list[int]:
    """``total`` as ``parts`` near-equal counts."""
    return [total // parts + (i < total % parts) for i in range(parts)]


def _ms(seconds: list[float], percentile: float = 50) -> float:
    return round(float(np.percentile(np.asarray(seconds) * 1000, percentile)), 3)


def _bench_frames(spec: FrameSpec) -> np.ndarray:
    from .bench import synthetic_video
    from .video import read_clip

    with tempfile.TemporaryDirectory(prefix="actionrec-step-") as tmp:
        frames, _ = read_clip(synthetic_video(Path(tmp) / "camera.mp4"), spec)
    return frames


def measure_engines(model_dir: str | Path, steps: int = 100, warmup: int = 10,
                    frames: np.ndarray | None = None) -> dict:
    """Milliseconds (p50) of ``embed_one`` and ``predict_window`` at batch 1 for each engine we considered.

    Engines: LiteRT + XNNPACK on 1 and 2 threads (needs ``actionrec export``), the Keras model in a traced
    ``tf.function`` (the reference backend), and the same function XLA-compiled (``jit_compile=True``).
    Rounds of every engine alternate so load from other processes hits them alike. The figures behind
    the choice of the default backend (see export.py).
    """
    import tensorflow as tf

    model = load_model(model_dir)
    embedder = Embedder(model.frame_spec, batch_size=1)
    frames = _bench_frames(model.frame_spec) if frames is None else frames
    window = embedder.embed(frames[: model.window])
    frame_model = model.kind == "frame"
    keras_model, mobilenet = model.keras_model, embedder.model

    def xla(fn):
        return tf.function(fn, jit_compile=True)

    xla_embed = xla(lambda x: mobilenet(tf.cast(x, tf.float32) / 127.5 - 1.0, training=False))
    xla_model = xla(lambda x: keras_model(x[:, -1] if frame_model else x, training=False))
    engines = {
        "tf.function": (embedder.embed_one, model.predict_window),
        "xla": (lambda f: xla_embed(f[None]).numpy()[0], lambda w: xla_model(w[None]).numpy()[0]),
    }
    problem = export_problem(model_dir)
    if problem is None:
        for threads in (1, 2):
            lite = LiteRTModels(Path(model_dir) / EMBEDDER_FILE, Path(model_dir) / CLASSIFIER_FILE, threads)
            engines[f"litert_{threads}t"] = (lite.embed_one, lite.predict_window)
    times = {name: ([], []) for name in engines}
    for r, block in enumerate([warmup, *_split(steps, 5)]):
        for name, (embed_one, predict_window) in engines.items():
            for i in range(block):
                frame = frames[i % len(frames)]
                began = time.perf_counter()
                embed_one(frame)
                embedded = time.perf_counter()
                predict_window(window)
                if r:  # block 0 is the warm-up (tracing, XLA compilation, thread pools)
                    times[name][0].append(embedded - began)
                    times[name][1].append(time.perf_counter() - embedded)
    result: dict = {name: {"embed_one_ms_p50": _ms(e), "predict_window_ms_p50": _ms(p)} for name, (e, p) in times.items()}
    if problem is not None:
        result["litert"] = problem
    return result

"""Batch-1 inference for the live loop: one frame -> embedding, one window -> class probabilities.

``InferenceSession`` hides which engine runs: the exported TFLite files through LiteRT with XNNPACK
(fast; ``actionrec export`` writes them, see export.py for why this engine) or the Keras reference
(``Embedder`` + ``TrainedModel``). ``backend="auto"`` takes LiteRT when the export is present and matches
the sha256s recorded in config.json, else Keras, and ``reason`` says why. The LiteRT path never imports
TensorFlow: a session is ready in ~0.3 s at ~90 MB peak RSS, against ~5 s and ~670 MB for Keras.

Its timings (the streaming step against naive re-embedding, each engine considered) are measured by
``tools/bench/stream.py``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from actionrec.data.video import FrameSpec
from actionrec.errors import ActionrecError
from actionrec.features.mobilenet import EmbedderConfig
from actionrec.learn.model_config import check_model_shapes, read_model_config
from actionrec.learn.models import load_model
from actionrec.live.exported import CLASSIFIER_FILE, EMBEDDER_FILE, LiteRTModels, export_problem, export_record

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


class InferenceSession:
    """A model directory ready for the live loop: ``embed_one`` and ``predict_window`` at batch 1."""

    def __init__(self, options: SessionOptions):
        if options.backend not in BACKENDS:
            raise ActionrecError(f"backend {options.backend!r}: expected one of {', '.join(BACKENDS)}")
        if options.num_threads < 1:
            raise ActionrecError(f"num_threads {options.num_threads}: expected >= 1")
        self.options = options
        self.model_dir = Path(options.model_dir)
        config = read_model_config(self.model_dir)  # the same reader and checks as load_model
        self.kind: str = config.kind
        self.classes: list[str] = config.classes
        self.window = config.window
        self.embedder_config: EmbedderConfig = config.embedder
        # The per-frame features the model was trained on; pose runs on BlazePose's own TFLite files (LiteRT).
        self.features = config.features
        self.feature_dim = self.features.dim
        self.backend, self.reason = self._choose_backend()
        self._embed_one = self._embed = self._not_mobilenet
        mobilenet = self.features.runs_mobilenet  # the diff part is the same MobileNet on another image
        if self.backend == "litert":
            lite = LiteRTModels(self.model_dir / EMBEDDER_FILE if mobilenet else None,
                                self.model_dir / CLASSIFIER_FILE, options.num_threads)
            spec = self.frame_spec
            frame_ok = not mobilenet or lite.frame_shape == (spec.height, spec.width, 3)
            if not frame_ok or lite.window_shape != (self.window, self.feature_dim):
                raise ActionrecError(
                    f"{self.model_dir}: exported shapes {lite.frame_shape}, {lite.window_shape} do not fit the "
                    f"model's {spec.width}x{spec.height} frames and window {self.window}; re-run `actionrec export`"
                )
            # The export always gives one column per class: a config listing another number was edited.
            check_model_shapes(config, self.model_dir / CLASSIFIER_FILE, None, lite.outputs)  # window: just above
            self._predict = lite.predict_window
            if mobilenet:
                self._embed_one, self._embed = lite.embed_one, lite.embed
        else:
            model = load_model(self.model_dir)
            self._predict = model.predict_window
            if mobilenet:
                embedder = model.embedder(options.weights, batch_size=max(1, self.window))  # its own, when fine-tuned
                self._embed_one, self._embed = embedder.embed_one, embedder.embed

    def _not_mobilenet(self, frames):
        raise ActionrecError(f"{self.model_dir}: the model sees pose features only; it has no MobileNet to embed with")

    def pose_estimator(self):
        """A BlazePose tracker with the model's pose settings, on this session's threads (LiteRT, no TF)."""
        from dataclasses import replace

        from actionrec.features.pose.tracker import PoseEstimator

        return PoseEstimator(replace(self.features.pose_options, num_threads=self.options.num_threads))

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
        """(n, dim) features, oldest first -> (k,) probabilities in ``classes`` order."""
        if np.shape(window) != (self.window, self.feature_dim):
            raise ActionrecError(f"window of shape {np.shape(window)}: expected ({self.window}, {self.feature_dim})")
        return self._predict(window)

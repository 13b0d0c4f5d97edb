"""MobileNet frame embeddings: the 1024-d global-average-pooling output of ImageNet MobileNet v1.

Every frame is embedded once and cached on disk per clip, keyed by the clip's content and the full
embedder config (frame size, rate, grayscale, weights). The sequence model and the frame baseline both
train on these cached vectors, so MobileNet never runs twice on the same frame.
"""

from __future__ import annotations

import copy
import hashlib
import os
import re
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from actionrec.data.digest import file_digest
from actionrec.data.video import FrameSpec
from actionrec.errors import ActionrecError

WEIGHTS_ENV = "ACTIONREC_MOBILENET_WEIGHTS"
WEIGHTS_FILE = "mobilenet_1_0_224_tf_no_top.h5"
EMBEDDING_DIM = 1024
PAD = 8  # a short batch is padded to a multiple of this (Embedder._forward_padded)
# Bump when the embedding of a frame would change for the same config (preprocessing, model).
EMBED_FORMAT = 3  # 3: halve to 4x, bilinear to 2x, halve (video.prepare); 2: halving, then area


def resolve_weights(explicit: str | os.PathLike | None = None) -> Path:
    """Find the ImageNet weights: explicit path, then $ACTIONREC_MOBILENET_WEIGHTS, then Keras' cache/download."""
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            what = "is a folder; expected the MobileNet weights file" if path.is_dir() else "MobileNet weights file not found"
            raise ActionrecError(f"{path}: {what} (given as the explicit weights path)")
        return path
    env = os.environ.get(WEIGHTS_ENV)
    if env:
        path = Path(env).expanduser()
        if not path.is_file():
            what = "is a folder; expected the MobileNet weights file" if path.is_dir() else "MobileNet weights file not found"
            raise ActionrecError(f"{path}: {what} (set by ${WEIGHTS_ENV})")
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
            "MobileNet ImageNet weights not found: give their path explicitly (--weights PATH), or set "
            f"${WEIGHTS_ENV} to {WEIGHTS_FILE}, or let Keras download it into {cached} "
            f"(download failed: {_first_line(exc)})"
        ) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__


@dataclass(frozen=True)
class EmbedderConfig:
    """Everything that changes an embedding. Models remember it and refuse embeddings made otherwise."""

    frame_spec: FrameSpec = field(default_factory=FrameSpec)
    # Filled by ``with_weights``: the identity of the ImageNet weights used; a fine-tuned model's own
    # backbone is "finetuned-<sha256 of its weights>" (``tuned_weights_id``).
    weights_sha256: str = ""
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


def preprocess(frames):
    """uint8 RGB -> MobileNet's input range [-1, 1] (x / 127.5 - 1, as keras' mobilenet.preprocess_input).

    Written with keras.ops so that the traced forward, the exported TFLite graph and the benchmarks all
    run the same arithmetic.
    """
    from keras import ops

    return ops.cast(frames, "float32") / 127.5 - 1.0


MOBILENET_BLOCKS = 13  # depthwise-separable blocks of MobileNet v1: conv_dw_i + conv_pw_i, i = 1..13
_BLOCK_LAYER = re.compile(r"conv_(?:dw|pw|pad)_(\d+)(?:_bn|_relu)?$")


def load_mobilenet(frame_spec: FrameSpec, path: Path):
    """ImageNet MobileNet v1 1.0, no top, average-pooled, at the frame size: preprocessed frames -> (N, 1024)."""
    import keras

    try:
        with warnings.catch_warnings():  # a wrong file warns once per layer ("Skipping nested container") before failing
            warnings.simplefilter("ignore")
            base = keras.applications.MobileNet(
                input_shape=(frame_spec.height, frame_spec.width, 3),
                alpha=1.0,
                include_top=False,
                weights=str(path),
            )
    except (ValueError, OSError) as exc:
        raise ActionrecError(
            # Keras' reason can run to kilobytes over many lines (every layer it could not load): its first line.
            f"{path}: not usable as MobileNet v1 1.0 no-top ImageNet weights ({(str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]}); "
            f"expected {WEIGHTS_FILE}"
        ) from None
    # The pooling layer of pooling="avg" is named by Keras' process-wide counter ("global_average_pooling2d_3"),
    # and that name reaches the exported TFLite bytes: named here, they do not depend on what the process
    # built before. The same arithmetic.
    pooled = keras.layers.GlobalAveragePooling2D(name="avg_pool")(base.output)
    return keras.Model(base.inputs, pooled, name=base.name)


def layer_block(name: str) -> int:
    """The depthwise-separable block (1..13) a MobileNet layer belongs to; 0 for the stem (conv1) and pooling."""
    m = _BLOCK_LAYER.match(name)
    return int(m.group(1)) if m else 0


def check_finetune(blocks: int) -> int:
    """``blocks``, or one line saying what ``--finetune`` takes."""
    if isinstance(blocks, bool) or not isinstance(blocks, int) or not 0 <= blocks <= MOBILENET_BLOCKS:
        raise ActionrecError(f"--finetune {blocks!r}: expected a whole number of MobileNet blocks from 0 to "
                             f"{MOBILENET_BLOCKS} (0: frozen, the cached embeddings)")
    return blocks


def tunable_mobilenet(frame_spec: FrameSpec, weights: str | os.PathLike | None, blocks: int):
    """The embedder's MobileNet (same weights, found the same way) with its top ``blocks`` blocks trainable.

    BatchNormalization stays frozen, which in Keras 3 also keeps it in inference mode in ``fit``: batch
    statistics of a few clips' frames would replace ImageNet's and shift every embedding (the usual
    practice for fine-tuning on small data). So only the top blocks' convolution kernels learn.
    """
    import keras

    model = load_mobilenet(frame_spec, resolve_weights(weights))
    first = MOBILENET_BLOCKS - check_finetune(blocks) + 1
    for layer in model.layers:
        layer.trainable = layer_block(layer.name) >= first and not isinstance(layer, keras.layers.BatchNormalization)
    return model


def tuned_weights_id(model) -> str:
    """The identity of a fine-tuned backbone, in place of the ImageNet file's sha256 in its EmbedderConfig:
    embeddings from it never pass for ImageNet's (cache keys, ``check_embedder``)."""
    h = hashlib.sha256()
    for w in model.get_weights():
        h.update(np.ascontiguousarray(w, np.float32).tobytes())
    return "finetuned-" + h.hexdigest()


class Embedder:
    """Frames (N, H, W, 3) uint8 RGB -> embeddings (N, 1024) float32, in fixed-size batches."""

    def __init__(self, frame_spec: FrameSpec | None = None, weights: str | os.PathLike | None = None, batch_size: int = 32):
        frame_spec = frame_spec or FrameSpec()
        path = resolve_weights(weights)
        self._wrap(load_mobilenet(frame_spec, path), EmbedderConfig(frame_spec=frame_spec, weights_sha256=file_digest(path)),
                   batch_size)

    @classmethod
    def from_model(cls, model, config: EmbedderConfig, batch_size: int = 32) -> "Embedder":
        """An embedder around a MobileNet already built (a fine-tuned model's own backbone)."""
        self = cls.__new__(cls)
        self._wrap(model, config, batch_size)
        return self

    def _wrap(self, model, config: EmbedderConfig, batch_size: int) -> None:
        import tensorflow as tf

        self.model, self.config, self.batch_size = model, config, batch_size

        # uint8 in, preprocessing inside the graph.
        @tf.function(reduce_retracing=True)
        def forward(frames):
            return model(preprocess(frames), training=False)

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
        # A short last batch is padded to a multiple of PAD, not to the full batch: the demo's 23-frame clips
        # padded to 32 had MobileNet spend 28 % of its time on padding. After a second size the function is
        # traced for any (reduce_retracing). Multiples of 8 give each frame the same bytes as a full batch
        # (checked for 8-32 at 100x56, 224x126, 224x224); some other sizes, e.g. 5, pick oneDNN kernels that
        # differ by 1e-5. One frame (live) is never padded.
        n = len(batch)
        size = min(self.batch_size, -(-n // PAD) * PAD)
        if 1 < n < size:
            batch = np.concatenate([batch, np.zeros((size - n, *batch.shape[1:]), np.uint8)])
        return self._forward(batch).numpy()[:n]

    def embed_one(self, frame: np.ndarray) -> np.ndarray:
        return self.embed(frame[None])[0]



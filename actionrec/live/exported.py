"""The exported model's format and its LiteRT runner, without TensorFlow.

File names, the export record in config.json, the check that files match it (``export_problem``), and
``LiteRTModels``, which runs the two TFLite graphs. ``export.py`` writes them (and needs TensorFlow).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from actionrec.data.digest import file_digest
from actionrec.errors import ActionrecError
from actionrec.features.spec import FeatureSpec
from actionrec.learn.models import BACKBONE_FILE, CONFIG_FILE, MODEL_FILE
from actionrec.util.litert import interpreter


class LiteRTModels:
    """The two exported graphs in LiteRT interpreters (XNNPACK is LiteRT's default CPU delegate).

    Not thread-safe: call it from one inference thread.
    """

    def __init__(self, embedder: bytes | Path | None, classifier: bytes | Path, num_threads: int = 1):
        """``embedder`` None: a model without MobileNet (pose features only) has just the classifier."""
        self.num_threads = num_threads
        self._embedder_source = embedder
        self._classify = self._interpreter(classifier)
        self._batch: tuple[int, object] | None = None  # (size, interpreter) for ``embed`` of several frames
        cls_in = self._classify.get_input_details()[0]
        self.window_shape = tuple(int(d) for d in cls_in["shape"][1:])
        self.outputs = int(self._classify.get_output_details()[0]["shape"][-1])  # class probabilities
        self._cls_io = cls_in["index"], self._classify.get_output_details()[0]["index"]
        self._embed, self.frame_shape = None, None
        if embedder is not None:
            self._embed = self._interpreter(embedder)
            emb_in = self._embed.get_input_details()[0]
            self.frame_shape = tuple(int(d) for d in emb_in["shape"][1:])
            self._emb_io = emb_in["index"], self._embed.get_output_details()[0]["index"]

    def _interpreter(self, source: bytes | Path, batch: int | None = None):
        return interpreter(source, self.num_threads, None if batch is None else (batch, *self.frame_shape))

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
        """(n, dim) float32 -> (k,) probabilities."""
        inp, out = self._cls_io
        self._classify.set_tensor(inp, np.asarray(window, np.float32)[None])
        self._classify.invoke()
        return self._classify.get_tensor(out)[0]



EMBEDDER_FILE = "embedder.tflite"
CLASSIFIER_FILE = "classifier.tflite"
SAVEDMODEL_DIR = "savedmodel"
FORMATS = ("tflite", "savedmodel")
EXPORT_KEY = "export"  # the record's key in config.json
TOLERANCE = 1e-3  # largest |probability| difference from the Keras model an export may show
CHECK_FRAMES = 8  # seeded noise frames the export is checked on before it is written


def export_record(model_dir: str | Path) -> dict | None:
    """The export record in the model's config.json, or None when the model was never exported."""
    path = Path(model_dir) / CONFIG_FILE
    try:
        return json.loads(path.read_text()).get(EXPORT_KEY)
    except (OSError, ValueError, AttributeError) as exc:
        raise ActionrecError(f"{path}: unreadable model config ({exc})") from None


def tflite_files(model_dir: str | Path) -> tuple[str, ...]:
    """The TFLite files a model's export holds: no embedder for a model on pose features alone (the pose
    models are BlazePose's own TFLite files, found by ``find_pose_models`` and recorded by sha256); one
    embedder for the mobilenet and diff parts (the same MobileNet, fed the frame or its difference)."""
    path = Path(model_dir) / CONFIG_FILE
    try:
        features = FeatureSpec.from_dict(json.loads(path.read_text()).get("features"))
    except (OSError, ValueError, AttributeError) as exc:
        raise ActionrecError(f"{path}: unreadable model config ({exc})") from None
    return (EMBEDDER_FILE, CLASSIFIER_FILE) if features.runs_mobilenet else (CLASSIFIER_FILE,)


def export_problem(model_dir: str | Path) -> str | None:
    """Why the TFLite export in ``model_dir`` must not be used, or None when it is present and matching."""
    model_dir = Path(model_dir)
    record = export_record(model_dir) or {}
    files = record.get("files", {})
    needed = tflite_files(model_dir)
    if any(name not in files for name in needed):
        return f"{model_dir}: no TFLite export recorded in {CONFIG_FILE} (run `actionrec export {model_dir}`)"
    if record.get("model_sha256") != file_digest(model_dir / MODEL_FILE):
        return (f"{model_dir / MODEL_FILE}: changed since the TFLite export was made; "
                f"re-run `actionrec export {model_dir}`")
    backbone = model_dir / BACKBONE_FILE
    if "backbone_sha256" in record and (not backbone.is_file() or record["backbone_sha256"] != file_digest(backbone)):
        return (f"{backbone}: missing or changed since the TFLite export was made; "
                f"re-run `actionrec export {model_dir}`")
    for name in needed:
        path = model_dir / name
        if not path.is_file():
            return f"{path}: missing, though {CONFIG_FILE} records it; re-run `actionrec export {model_dir}`"
        if file_digest(path) != files[name].get("sha256"):
            return (f"{path}: sha256 does not match the export record in {CONFIG_FILE} (the file changed "
                    f"after `actionrec export`); re-run `actionrec export {model_dir}`")
    return None


def tree_digest(folder: Path) -> str:
    """sha256 over every file's relative path and sha256, in sorted order."""
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(path.relative_to(folder).as_posix().encode() + b"\0" + file_digest(path).encode())
    return h.hexdigest()



"""Export a trained model for the live loop: two TFLite files run by LiteRT (XNNPACK), and a SavedModel.

The live loop calls two things per camera frame at batch 1: MobileNet on the new frame, and the window
model on the last n embeddings. At that batch size TensorFlow's per-call overhead dominates, so the export
turns both into small TFLite graphs with fixed batch-1 shapes and builtin ops only (LiteRT runs them
without TensorFlow and without the Flex delegate):

- ``embedder.tflite``: uint8 RGB frame (1, H, W, 3) -> (1, 1024); the x / 127.5 - 1 preprocessing is inside.
  A diff model feeds it the frame difference too (the same MobileNet), so it needs no second file.
- ``classifier.tflite``: float32 window (1, n, 1024) -> (1, k) probabilities, k = number of classes (a
  two-class sigmoid model already gives both columns; the frame model reads the window's last frame).
- ``savedmodel/`` (optional): endpoints ``embed`` and ``classify`` with a free batch size, for TF serving.

Chosen by measurement (``runtime.measure_engines``; 2 shared cores, 100x56, LSTM n = 16, p50 ms):

    engine                      embed one frame   LSTM window
    LiteRT + XNNPACK, 1 thread       1.6-1.9         0.4
    LiteRT + XNNPACK, 2 threads      2.0-2.3         0.9
    Keras in a tf.function           5.9-6.4         3.1-3.4
    the same, XLA (jit_compile)     23               1.4-1.6

XLA's CPU depthwise convolutions are slow at batch 1. Unrolling the LSTM gave nothing over TFLite's WHILE
loop, so the model is converted as trained. A uint8 input measured the same as float (1.49 vs 1.51 ms)
and keeps the frame 4x smaller.

The export record in ``config.json`` (file sha256s, the model.keras it came from, versions, the measured
agreement) is written last and is the commit point: each file is replaced atomically, and a file that
does not match the record is never used (``export_problem``).
"""

from __future__ import annotations

import json
import shutil
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from actionrec.data.digest import file_digest
from actionrec.data.video import iter_differences
from actionrec.errors import ActionrecError
from actionrec.features.mobilenet import Embedder, preprocess
from actionrec.features.pose.assets import SPECS as POSE_MODEL_SPECS
from actionrec.features.pose.vector import POSE_DIM
from actionrec.learn.model_config import read_model_config
from actionrec.learn.models import BACKBONE_FILE, CONFIG_FILE, MODEL_FILE, TrainedModel, both_columns, load_model
from actionrec.live.exported import (
    CHECK_FRAMES,
    CLASSIFIER_FILE,
    EMBEDDER_FILE,
    EXPORT_KEY,
    FORMATS,
    SAVEDMODEL_DIR,
    TOLERANCE,
    export_record,
    tree_digest,
)
from actionrec.util.atomic import atomic_dir, write_bytes, write_json
from actionrec.util.outputs import MODEL_FILES, claim_output


def export_model(model_dir: str | Path, formats: tuple[str, ...] = ("tflite",),
                 weights: str | Path | None = None) -> dict:
    """Write the requested formats into the model directory and record them in its config.json.

    The exported graphs are checked against the Keras model before anything is written; an export that
    disagrees by more than ``TOLERANCE`` is refused. Exporting again replaces the previous export
    (formats not asked for this time are removed). Returns the record written to config.json.
    """
    import keras

    model_dir = Path(model_dir)
    formats = tuple(dict.fromkeys(formats))
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ActionrecError(f"export format {', '.join(unknown) or '(none)'}: expected one or more of {', '.join(FORMATS)}")
    if (model_dir / CONFIG_FILE).is_file():
        read_model_config(model_dir)  # a damaged config.json is named as such, not as "not a model directory"
    claim_output(model_dir, MODEL_FILES, option="MODEL")  # a model folder we can write in, before converting
    trained = load_model(model_dir)
    recorded = (export_record(model_dir) or {}).get("files", {})
    earlier = set(recorded)
    _check_ours(model_dir, recorded, formats, set(trained.config.get(PENDING_KEY) or []))
    features = trained.features
    embedder = None
    if features.runs_mobilenet:  # one embedder for the mobilenet and diff parts: the same MobileNet
        embedder = trained.embedder(weights, batch_size=1)  # a fine-tuned model's own MobileNet, else ImageNet's
    elif "savedmodel" in formats:
        raise ActionrecError("export savedmodel holds MobileNet; a model on pose features alone exports tflite only")

    files: dict[str, dict] = {}
    check: dict = {}
    if "tflite" in formats:
        emb_bytes = _to_tflite(_embedder_graph(embedder, batch=1)) if embedder is not None else None
        cls_bytes = _to_tflite(_classifier_graph(trained, batch=1))
        check = _check_agreement(emb_bytes, cls_bytes, embedder, trained)
        _mark_pending(model_dir, ("tflite",))  # checked, about to write
        if emb_bytes is not None:
            write_bytes(model_dir / EMBEDDER_FILE, emb_bytes)
            files[EMBEDDER_FILE] = _file_entry(model_dir / EMBEDDER_FILE)
        write_bytes(model_dir / CLASSIFIER_FILE, cls_bytes)
        files[CLASSIFIER_FILE] = _file_entry(model_dir / CLASSIFIER_FILE)
    if "savedmodel" in formats:
        _mark_pending(model_dir, ("savedmodel",))
        with atomic_dir(model_dir / SAVEDMODEL_DIR) as out:
            _write_savedmodel(out, embedder, trained)
        files[SAVEDMODEL_DIR] = {"sha256": tree_digest(model_dir / SAVEDMODEL_DIR)}

    spec = trained.frame_spec
    record = {
        "formats": list(formats),
        "files": files,
        "model_sha256": file_digest(model_dir / MODEL_FILE),
        # A fine-tuned model's embedder.tflite is its backbone: the export is stale once that changes too.
        **({"backbone_sha256": file_digest(model_dir / BACKBONE_FILE)} if trained.backbone is not None else {}),
        "embedder_input": f"uint8 RGB (1, {spec.height}, {spec.width}, 3); x / 127.5 - 1 inside",
        "classifier_input": f"float32 (1, {trained.window}, {trained.feature_dim}) {features.kind} features",
        "output": f"float32 (1, {len(trained.classes)}) probabilities of {trained.classes}",
        "check": check,
        # BlazePose runs from its own TFLite files (no export needed); these are the ones it must be.
        "pose_models": {n: m.sha256 for n, m in sorted(POSE_MODEL_SPECS.items())} if features.uses_pose else {},
        "versions": {"tensorflow": _version("tensorflow-cpu", "tensorflow"), "keras": keras.__version__,
                     "ai-edge-litert": _version("ai-edge-litert")},
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    config = json.loads((model_dir / CONFIG_FILE).read_text())
    config[EXPORT_KEY] = record
    config.pop(PENDING_KEY, None)
    write_json(model_dir / CONFIG_FILE, config)
    _remove_unrecorded(model_dir, earlier, files)
    return record


def _embedder_graph(embedder: Embedder, batch: int | None):
    """uint8 frames in, embeddings out, preprocessing inside (as ``Embedder``'s traced forward)."""
    import keras

    spec = embedder.config.frame_spec
    frames = keras.Input((spec.height, spec.width, 3), batch_size=batch, dtype="uint8", name="frames")
    return keras.Model(frames, embedder.model(preprocess(frames), training=False), name="embedder")


def _classifier_graph(trained: TrainedModel, batch: int | None):
    """A (batch, n, 1024) window in, all k class probabilities out, for either model kind."""
    import keras
    from keras import ops

    window = keras.Input((trained.window, trained.feature_dim), batch_size=batch, name="window")
    p = trained.keras_model(window[:, -1] if trained.kind == "frame" else window, training=False)
    return keras.Model(window, both_columns(p, ops.concatenate), name="classifier")


def _to_tflite(graph) -> bytes:
    """Convert a fixed-shape Keras graph from its traced function, variables frozen into constants.

    Straight from the concrete function: 4x faster than writing and reloading a SavedModel (what
    ``from_keras_model`` does for Keras 3). The converter freezes only variables it can reach through
    the trackable object, so the Keras variables' TF variables are attached to one.
    """
    import tensorflow as tf

    # A static batch-1 signature: with a free batch size the LSTM's loop has no static shape for the
    # converter to lower to builtin ops.
    signature = [tf.TensorSpec(x.shape, x.dtype) for x in graph.inputs]
    # autograph off: a plain Keras call has no Python control flow to convert (on, it warned per export).
    forward = tf.function(lambda x: graph(x, training=False), input_signature=signature, autograph=False)
    holder = tf.Module()
    holder.tf_variables = [v.value for v in graph.variables]
    converter = tf.lite.TFLiteConverter.from_concrete_functions([forward.get_concrete_function()], holder)
    # Builtin ops only: LiteRT then runs the file alone, with XNNPACK, and no Flex (TensorFlow) kernels.
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    try:
        return converter.convert()
    except Exception as exc:  # the converter raises many types; the message is what the user needs
        raise ActionrecError(f"{graph.name}: TFLite conversion failed ({type(exc).__name__}: {str(exc)[:300]})") from None


def _write_savedmodel(out: Path, embedder: Embedder, trained: TrainedModel) -> None:
    import keras
    import tensorflow as tf

    spec = embedder.config.frame_spec
    archive = keras.export.ExportArchive()
    embed, classify = _embedder_graph(embedder, None), _classifier_graph(trained, None)
    archive.track(embed)
    archive.track(classify)
    archive.add_endpoint("embed", embed.call, input_signature=[tf.TensorSpec((None, spec.height, spec.width, 3), tf.uint8)])
    archive.add_endpoint("classify", classify.call,
                         input_signature=[tf.TensorSpec((None, trained.window, trained.feature_dim), tf.float32)])
    archive.write_out(str(out), verbose=False)


def _check_agreement(emb_bytes: bytes | None, cls_bytes: bytes, embedder: Embedder | None,
                     trained: TrainedModel) -> dict:
    """Run the TFLite graphs and the Keras models on the same seeded inputs; refuse a disagreeing export.

    The windows are the seeded frames' embeddings (for a diff part, those of their differences), joined with
    seeded noise for a pose part."""
    from actionrec.live.exported import LiteRTModels

    spec = trained.frame_spec
    features = trained.features
    rng = np.random.default_rng(0)
    lite = LiteRTModels(emb_bytes, cls_bytes, num_threads=1)
    check: dict = {"inputs": f"{CHECK_FRAMES} seeded noise frames and windows of their features"}
    parts = {}
    if embedder is not None:
        frames = rng.integers(0, 256, (CHECK_FRAMES, spec.height, spec.width, 3), dtype=np.uint8)
        ref_emb = embedder.embed(frames)
        lite_emb = np.stack([lite.embed_one(f) for f in frames])
        check["embedding_max_abs_diff"] = float(np.abs(lite_emb - ref_emb).max())
        parts["mobilenet"] = ref_emb
        if features.uses_diff:
            parts["diff"] = embedder.embed(np.stack([d for _, d in iter_differences(enumerate(frames))]))
    if features.uses_pose:
        parts["pose"] = rng.normal(0, 1, (CHECK_FRAMES, POSE_DIM)).astype(np.float32)
    table = np.concatenate([parts[p] for p in features.parts], axis=1)
    windows = table[rng.integers(0, CHECK_FRAMES, (CHECK_FRAMES, trained.window))]
    ref_p = trained.predict_windows(windows)
    lite_p = np.stack([lite.predict_window(w) for w in windows])
    check["proba_max_abs_diff"] = float(np.abs(lite_p - ref_p).max())
    if check["proba_max_abs_diff"] > TOLERANCE:
        raise ActionrecError(
            f"TFLite export of {trained.kind} model: probabilities differ from the Keras model by "
            f"{check['proba_max_abs_diff']:.2g} (> {TOLERANCE:g}); nothing was written"
        )
    return check


def _file_entry(path: Path) -> dict:
    return {"sha256": file_digest(path), "bytes": path.stat().st_size}


PENDING_KEY = "export_pending"  # in config.json while an export writes: its files are ours if it is stopped
ARTIFACTS = {"tflite": (EMBEDDER_FILE, CLASSIFIER_FILE), "savedmodel": (SAVEDMODEL_DIR,)}


def _mark_pending(model_dir: Path, formats: tuple[str, ...]) -> None:
    config = json.loads((model_dir / CONFIG_FILE).read_text())
    pending = set(config.get(PENDING_KEY) or []) | {n for f in formats for n in ARTIFACTS[f]}
    write_json(model_dir / CONFIG_FILE, {**config, PENDING_KEY: sorted(pending)})


def _check_ours(model_dir: Path, recorded: dict, formats: tuple[str, ...], pending: set[str]) -> None:
    """Refuse, before writing anything, a name this export writes that is taken by a file or folder no export
    of this model wrote (or that changed since it did): replacing it would lose a user's file. ``pending``:
    what a stopped export had begun writing (its own)."""
    for name in (n for f in formats for n in ARTIFACTS[f]):
        path = model_dir / name
        if name in pending or not (path.exists() or path.is_symlink()):
            continue  # an export stopped while writing it: ours, to write again
        digest = tree_digest(path) if path.is_dir() and not path.is_symlink() else \
            file_digest(path) if path.is_file() and not path.is_symlink() else None
        if digest is None or digest != recorded.get(name, {}).get("sha256"):
            raise ActionrecError(f"{path}: exists and no export of this model wrote it"
                                 f"{' (it changed since)' if name in recorded else ''}; move it out first "
                                 "(nothing was written)")


def _remove_unrecorded(model_dir: Path, earlier: set[str], files: dict) -> None:
    """Delete artifacts of an earlier export that this one did not write (the record no longer covers them).

    Only names the earlier record lists: a file of the same name that no export wrote is not ours to delete.
    """
    for name in (EMBEDDER_FILE, CLASSIFIER_FILE, SAVEDMODEL_DIR):
        path = model_dir / name
        if name in files or name not in earlier:
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _version(*dists: str) -> str:
    for dist in dists:
        try:
            return version(dist)
        except PackageNotFoundError:
            continue
    return "unknown"

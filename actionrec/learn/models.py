"""The two classifiers over MobileNet embeddings, and the model directory they live in.

- ``frame``: the article's baseline. Dense(1024, relu) then softmax over k classes (sigmoid for two),
  trained on single-frame embeddings.
- ``lstm``: the article's "next step". An LSTM over the last n frame embeddings; causal (never
  bidirectional) because the live loop only has the past.

Both train on a ``WindowSet`` (the frame model on windows of n = 1, i.e. every frame) and are saved as a
model directory: ``model.keras``, ``config.json`` (classes, embedder config, window, options, seed,
versions) and ``history.json``.
"""

from __future__ import annotations

import json
import platform
import time
import zipfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from actionrec import __version__
from actionrec.data.datasets import coarse
from actionrec.data.video import FrameSpec
from actionrec.errors import ActionrecError
from actionrec.features.mobilenet import EMBEDDING_DIM, Embedder, EmbedderConfig, preprocess, tuned_weights_id
from actionrec.learn.keras_file import save_keras
from actionrec.learn.model_config import (BACKBONE_FILE, CONFIG_FILE, HISTORY_FILE, KINDS, MODEL_FILE, check_model_shapes,
                                          read_model_config)
from actionrec.learn.regularization import DataSize, resolve
from actionrec.learn.temporal import TemporalAugment
from actionrec.learn.windows import WindowSet
from actionrec.util.atomic import atomic_dir, write_json
from actionrec.util.outputs import MODEL, claim_output


@dataclass(frozen=True)
class FrameOptions:
    """The article's head. Defaults train well in minutes; ``article()`` gives the 2018 settings."""

    units: int = 1024
    dropout: float = 0.3
    normalize: bool = False  # standardize each embedding dimension with training-set statistics (hurt on small data)


@dataclass(frozen=True)
class LSTMOptions:
    window: int = 16  # frames at the model rate (16 at 10 fps = 1.6 s)
    stride: int = 1  # between training windows
    label_policy: str = "last"  # for annotated videos: the label "now"
    # None below: chosen from the training data (learn/regularization.py); a number fixes it.
    projection: int | None = None  # per-frame Dense before the LSTM (0 = none): faster, and less overfitting
    normalize: bool = False  # standardize each embedding dimension with training-set statistics (hurt on small data)
    motion: bool = True  # also feed frame-to-frame differences: motion, with the person's look cancelled out
    units: int = 128
    layers: int = 1
    input_dropout: float | None = None  # on every input feature of every frame
    dropout: float | None = None  # on the LSTM's output
    window_mean: bool | None = None  # the mean of the window's frames beside the LSTM's last state


# Beside --also data, the dataset's own windows are made at least this share of training windows. Measured
# on PRECOG's 12 real people as users (README, "Train on yourself"), coarse macro-F1 own camera / 45 degrees:
# as they came (0.4 %) 0.674 / 0.677, 0.1 0.732 / 0.721, 0.25 0.745 / 0.730, 0.4 0.752 / 0.727 with more
# false triggers (4.9 against 3.5 a minute on the own camera).
OWN_SHARE = 0.25


@dataclass(frozen=True)
class TrainOptions:
    epochs: int = 60
    batch_size: int = 64
    learning_rate: float = 1e-3
    # None below: chosen from the training data and the model kind (learn/regularization.py).
    patience: int | None = None  # early stopping on the validation groups (0 = train every epoch)
    val_fraction: float | None = None  # of groups (people) held out of training for early stopping
    class_weight: bool = True  # the article deleted frames to balance classes; we weight them instead
    seed: int = 0
    weight_decay: float | None = None  # AdamW's decoupled decay (0 = plain Adam)
    schedule: str | None = None  # learning rate: cosine, plateau (halve when val loss stalls) or constant
    label_smoothing: float | None = None
    temporal: TemporalAugment | None = None  # variations of training windows (sequence models only)
    side_swap: float | None = None  # share of training windows with left/right swapped in a run of frames (pose only)
    members: int | None = None  # heads trained side by side in one model, their probabilities averaged
    # Beside data added with --also: the least share of training windows that are the dataset's own people,
    # their windows repeated to reach it (``own_share_rows``; 0: as they come).
    own_share: float = OWN_SHARE


def article_settings() -> tuple[FrameOptions, TrainOptions]:
    """The article's baseline as published: no dropout, Adam(1e-6), 500 epochs, no class balancing."""
    return FrameOptions(units=1024, dropout=0.0, normalize=False), TrainOptions(epochs=500, learning_rate=1e-6, patience=0, class_weight=False)


def both_columns(p, concatenate=np.concatenate):
    """Two classes are one sigmoid column; give both, so every model returns (..., k) probabilities.

    ``concatenate`` lets the exported graph (keras.ops) share the rule with the numpy paths.
    """
    return concatenate([1 - p, p], -1) if p.shape[-1] == 1 else p


def _build(kind: str, n_classes: int, window: int, frame: FrameOptions, lstm: LSTMOptions, lr: float,
           stats: tuple[np.ndarray, np.ndarray], dim: int | None = None, options: TrainOptions | None = None,
           total_steps: int = 1, backbone=None, members: int = 1):
    """The Keras model, compiled. ``dim``: features per frame (the windows'); options left at None are
    resolved as for plentiful data (``train`` resolves them for its own data first). With ``backbone`` (a
    MobileNet to fine-tune) the compiled model takes uint8 frames and runs it on each under the head, which
    is the layer named ``actionrec_<kind>``.

    ``members`` > 1: that many heads side by side on the same input, each with its own weights (its layers
    named ``..._m<k>``), trained in one fit on the sum of their own losses, so each learns as if alone;
    the compiled model outputs their probabilities stacked (batch, members, k) and ``members_mean`` gives
    the model to keep. One graph, traced once, instead of one fit per member."""
    import keras
    from keras import layers

    from actionrec.learn import fitting
    from actionrec.learn.layers import FrameDeltas

    dim = len(stats[0]) if dim is None else int(dim)  # features per frame: the training set's (1024 MobileNet, 166 pose, 1190 both)
    lstm, options = resolve(kind, lstm, options or TrainOptions(), None)
    binary = n_classes == 2
    inputs = keras.Input((dim,), name="embedding") if kind == "frame" else keras.Input((window, dim), name="window")

    def head(suffix: str):
        # The output layer first: a layer draws its initializer's seed when it is made, and this order keeps
        # the weights (and so the figures) of models trained before members existed.
        probs = layers.Dense(1 if binary else n_classes, activation="sigmoid" if binary else "softmax",
                             name="probs" + suffix)
        # Every layer is named: Keras' automatic names count what the process built before ("dropout_3"),
        # and the names are in the saved model and the TFLite export, whose bytes would then depend on it.
        def normalized(x):
            return layers.Normalization(mean=stats[0], variance=stats[1], name="normalization" + suffix)(x)

        if kind == "frame":
            x = normalized(inputs) if frame.normalize else inputs
            x = layers.Dense(frame.units, activation="relu", name="hidden" + suffix)(x)
            if frame.dropout:
                x = layers.Dropout(frame.dropout, name="dropout" + suffix)(x)
        else:
            x = normalized(inputs) if lstm.normalize else inputs
            x = FrameDeltas(name="frame_deltas" + suffix)(x) if lstm.motion else x
            x = layers.Dropout(lstm.input_dropout, name="input_dropout" + suffix)(x) if lstm.input_dropout else x
            if lstm.projection:
                x = layers.Dense(lstm.projection, activation="relu", name="projection" + suffix)(x)
            frames = x
            for i in range(lstm.layers):
                x = layers.LSTM(lstm.units, return_sequences=i < lstm.layers - 1, name=f"lstm_{i}{suffix}")(x)
            if lstm.window_mean:
                mean = layers.GlobalAveragePooling1D(name="window_mean" + suffix)(frames)
                x = layers.Concatenate(name="lstm_and_mean" + suffix)([x, mean])
            if lstm.dropout:
                x = layers.Dropout(lstm.dropout, name="dropout" + suffix)(x)
        return probs(x)

    loss, _ = fitting.loss(n_classes, options.label_smoothing)
    if members == 1:
        model, metrics = keras.Model(inputs, head(""), name=f"actionrec_{kind}"), ["accuracy"]
    else:
        outs = [layers.Reshape((1, 1 if binary else n_classes), name=f"member_{k}")(head(f"_m{k}"))
                for k in range(members)]
        model = keras.Model(inputs, layers.Concatenate(axis=1, name="members")(outs), name=f"actionrec_{kind}_members")
        loss, metrics = fitting.members_loss(loss), []  # accuracy of stacked members means nothing
    if backbone is not None:
        model = _on_frames(model, backbone, kind, window)
    model.compile(optimizer=fitting.optimizer(lr, options.weight_decay, options.schedule, total_steps), loss=loss,
                  metrics=metrics)
    return model


def members_mean(model, kind: str, members: int):
    """The model to keep from a compiled ``_build(..., members=m)``: the mean of the members' probabilities,
    on the same layers (so the same weights); ``model`` itself for one member."""
    if members == 1:
        return model
    import keras

    probs = [model.get_layer(f"probs_m{k}").output for k in range(members)]
    return keras.Model(model.inputs[0], keras.layers.Average(name="probs_mean")(probs), name=f"actionrec_{kind}")


def _on_frames(head, backbone, kind: str, window: int):
    """uint8 frames (B, H, W, 3), or windows of them (B, n, H, W, 3), -> the backbone on every frame -> ``head``."""
    import keras
    from keras import ops

    h, w = backbone.input_shape[1:3]
    frames = keras.Input((h, w, 3) if kind == "frame" else (window, h, w, 3), dtype="uint8", name="frames")
    x = preprocess(frames)
    if kind == "frame":
        emb = backbone(x)
    else:  # the window's frames as one batch, then back into windows
        emb = ops.reshape(backbone(ops.reshape(x, (-1, h, w, 3))), (-1, window, EMBEDDING_DIM))
    return keras.Model(frames, head(emb), name=f"finetune_{kind}")


def split_validation(groups: np.ndarray, fraction: float, seed: int,
                     keep: frozenset[str] = frozenset()) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (train, val) holding whole groups out for early stopping (none with < 3 groups).
    ``keep``: groups that always train (a user's own people beside data added with ``--also``)."""
    uniq = np.unique(groups)
    uniq = uniq[~np.isin(uniq, sorted(keep))] if keep else uniq
    k = int(round(fraction * len(uniq)))
    if k < 1 or len(uniq) < 3:  # with 2 people, holding one out would halve the training data
        return np.ones(len(groups), bool), np.zeros(len(groups), bool)
    val_groups = np.random.default_rng(seed).choice(uniq, size=min(k, len(uniq) - 1), replace=False)
    val = np.isin(groups, val_groups)
    return ~val, val


def own_share_rows(rows: np.ndarray, groups: np.ndarray, keep: frozenset[str], share: float) -> tuple[np.ndarray, int]:
    """(training rows, repeat): the kept groups' rows repeated ``repeat`` times so that they make at least
    ``share`` of the rows; as they are (repeat 1) when they already do, or when nothing is kept.

    A user's ~120 windows beside the starter's 30 000 synthetic ones were 0.4 % of an epoch and barely moved
    the model (README, "Train on yourself")."""
    if not keep or share <= 0:
        return rows, 1
    own = np.isin(groups[rows], sorted(keep))
    n_own, n_other = int(own.sum()), int((~own).sum())
    if not n_own or not n_other:
        return rows, 1
    repeat = max(1, int(round(share / (1 - share) * n_other / n_own)))
    return np.concatenate([rows, np.repeat(rows[own], repeat - 1)]), repeat


PREDICT_BATCH = 256  # windows per call when predicting many


class TrainedModel:
    """A trained classifier plus everything needed to use it on new video."""

    def __init__(self, keras_model, kind: str, classes: list[str], embedder: EmbedderConfig, config: dict, history: dict,
                 backbone=None):
        self.keras_model = keras_model  # the head: windows of features -> probabilities
        self.backbone = backbone  # a fine-tuned model's own MobileNet (preprocessed frames -> 1024), else None
        self.kind = kind
        self.classes = list(classes)
        self.embedder_config = embedder
        self.config = config
        self.history = history
        self._step = None

    @property
    def window(self) -> int:
        return int(self.config.get("window", 1))

    @property
    def finetune(self) -> int:
        """MobileNet blocks tuned with this model (0: it takes the ImageNet embeddings)."""
        return int(self.config.get("finetune", 0) or 0)

    def embedder(self, weights=None, batch_size: int = 32) -> Embedder:
        """The MobileNet whose embeddings this model takes: its own fine-tuned backbone when it has one
        (``weights`` unused), else ImageNet's, found from ``weights`` as everywhere and checked against the model."""
        if self.backbone is not None:
            return Embedder.from_model(self.backbone, self.embedder_config, batch_size)
        embedder = Embedder(self.frame_spec, weights, batch_size)
        self.check_embedder(embedder.config, source="the MobileNet weights found")
        return embedder

    @property
    def frame_spec(self) -> FrameSpec:
        return self.embedder_config.frame_spec

    @property
    def coarse_classes(self) -> list[str]:
        return sorted({coarse(c) for c in self.classes})

    def _proba(self, x: np.ndarray) -> np.ndarray:
        """The model on a batch of any size, through one tf.function per model traced exactly once.

        Keras' ``predict`` traces a new function for every model and again for a new batch shape, and
        TensorFlow counts the traces of all of them together (one key per code object): the two models of
        every fold of ``evaluate`` made it warn "N out of the last M calls ... triggered tf.function
        retracing". Here the batch dimension is left open in the input signature, and the function wraps
        the model itself (a partial, not a shared lambda), so each model has one trace of its own.
        """
        if self._step is None:
            import functools

            import tensorflow as tf

            shape = (None, *self.keras_model.input_shape[1:])
            self._step = tf.function(functools.partial(self.keras_model, training=False),
                                     input_signature=[tf.TensorSpec(shape, tf.float32)])
        if len(x) == 0:
            return np.zeros((0, len(self.classes)), np.float32)
        # Batches of PREDICT_BATCH bound the memory of long videos, as predict's batch_size did.
        p = np.concatenate([self._step(x[i:i + PREDICT_BATCH]).numpy() for i in range(0, len(x), PREDICT_BATCH)])
        return both_columns(p)

    @property
    def features(self):
        """The ``FeatureSpec`` the model was trained on (config "features"; none recorded: MobileNet)."""
        from actionrec.features.spec import FeatureSpec

        return FeatureSpec.from_dict(self.config.get("features"))

    @property
    def feature_dim(self) -> int:
        return self.features.dim

    def check_features(self, other, source: str = "embeddings") -> None:
        """Refuse features (a ``FeatureSpec``) other than the model's, with one line."""
        self.features.require(other, source)

    def predict_frames(self, x: np.ndarray) -> np.ndarray:
        """(N, dim) -> (N, k) probabilities, frame model only."""
        if self.kind != "frame":
            raise ActionrecError(f"predict_frames needs a frame model; this one is {self.kind!r}")
        return self._proba(np.asarray(x, np.float32))

    def predict_windows(self, x: np.ndarray) -> np.ndarray:
        """(B, n, dim) -> (B, k). The frame model looks at each window's last frame only."""
        x = np.asarray(x, np.float32)
        dim = self.feature_dim
        if x.ndim != 3 or x.shape[2] != dim:
            raise ActionrecError(f"windows of shape {x.shape}: expected (B, n, {dim}), the model's "
                                 f"{self.features.kind} features")
        return self._proba(x[:, -1] if self.kind == "frame" else x)

    def predict_window(self, window: np.ndarray) -> np.ndarray:
        """One (n, 1024) window -> (k,): the batch-1 call of the live loop, through the traced function."""
        x = np.asarray(window, np.float32)[None]
        return self._proba(x[:, -1] if self.kind == "frame" else x)[0]

    def to_coarse(self, proba: np.ndarray) -> np.ndarray:
        """Fine probabilities -> coarse (sum over ``punch/*`` etc.), columns in ``coarse_classes`` order."""
        cols = [[i for i, c in enumerate(self.classes) if coarse(c) == cc] for cc in self.coarse_classes]
        return np.stack([proba[..., c].sum(axis=-1) for c in cols], axis=-1)

    def check_embedder(self, other: EmbedderConfig, source: str = "embeddings") -> None:
        if other != self.embedder_config and self.finetune:
            raise ActionrecError(f"{source} come from another MobileNet than this model's own, fine-tuned one "
                                 f"(finetune {self.finetune}); embed with the model's backbone (TrainedModel.embedder)")
        if other != self.embedder_config:
            raise ActionrecError(
                f"{source} were made with another embedder config than this model "
                f"({self.embedder_config.describe_difference(other)}); re-embed with the model's settings"
            )

    def save(self, directory: str | Path, overwrite: bool = False) -> Path:
        """Write the model directory atomically (a crash leaves the old one or none, never half).

        An existing model directory is replaced only with ``overwrite``; any other folder or file is refused.
        """
        directory = claim_output(directory, MODEL, overwrite=overwrite)
        with atomic_dir(directory) as tmp:
            save_keras(self.keras_model, tmp / MODEL_FILE)
            if self.backbone is not None:
                save_keras(self.backbone, tmp / BACKBONE_FILE)
            write_json(tmp / CONFIG_FILE, self.config)
            write_json(tmp / HISTORY_FILE, self.history)
        return directory


def load_model(directory: str | Path) -> TrainedModel:
    directory = Path(directory)
    model_path = directory / MODEL_FILE
    cfg = read_model_config(directory)
    keras_model = _load_keras(directory, MODEL_FILE)
    check_model_shapes(cfg, model_path, keras_model.input_shape, keras_model.output_shape[-1])
    backbone = _load_backbone(directory, cfg.embedder) if cfg.raw.get("finetune") else None
    history_path = directory / HISTORY_FILE
    try:
        history = json.loads(history_path.read_text()) if history_path.is_file() else {}
    except ValueError as exc:
        raise ActionrecError(f"{history_path}: not valid JSON ({exc}); expected the training history") from None
    return TrainedModel(keras_model, cfg.kind, cfg.classes, cfg.embedder, cfg.raw, history, backbone)


def _load_keras(directory: Path, name: str):
    import keras

    import actionrec.learn.layers  # noqa: F401  registers FrameDeltas before deserializing

    path = directory / name
    if not path.is_file():
        raise ActionrecError(f"{directory}: model directory has no {name}")
    try:
        path.open("rb").close()  # is_zipfile says False on a file it may not read, as on a damaged one
    except OSError as exc:
        raise ActionrecError(f"{path}: cannot read the model ({exc.strerror})") from None
    if not zipfile.is_zipfile(path):  # Keras would say "File not found" about a file that is there
        raise ActionrecError(f"{path}: damaged, not a complete .keras archive (truncated or overwritten "
                             f"by something else); retrain, or restore it from a copy")
    try:
        return keras.saving.load_model(path, safe_mode=True, compile=False)
    except zipfile.BadZipFile as exc:
        raise ActionrecError(f"{path}: damaged .keras archive ({exc}); retrain, or restore it from a copy") from None
    except Exception as exc:
        raise ActionrecError(f"{path}: cannot load Keras model ({type(exc).__name__}: {exc})") from None


def _load_backbone(directory: Path, embedder: EmbedderConfig):
    """A fine-tuned model's own MobileNet, refused unless it is the one trained with this head."""
    backbone = _load_keras(directory, BACKBONE_FILE)
    spec = embedder.frame_spec
    if tuple(backbone.input_shape[1:]) != (spec.height, spec.width, 3) or backbone.output_shape[-1] != EMBEDDING_DIM:
        raise ActionrecError(f"{directory / BACKBONE_FILE}: takes {backbone.input_shape[1:]} and gives "
                             f"{backbone.output_shape[-1]}; expected ({spec.height}, {spec.width}, 3) frames -> "
                             f"{EMBEDDING_DIM}, as {CONFIG_FILE} says; retrain, or restore it from a copy")
    if tuned_weights_id(backbone) != embedder.weights_sha256:
        raise ActionrecError(f"{directory / BACKBONE_FILE}: not the backbone trained with this model (its weights' "
                             f"sha256 differs from {CONFIG_FILE}); retrain, or restore it from a copy")
    return backbone


def train(
    windows: WindowSet,
    kind: str,
    embedder: EmbedderConfig,
    classes: list[str] | None = None,
    frame: FrameOptions = FrameOptions(),
    lstm: LSTMOptions = LSTMOptions(),
    options: TrainOptions = TrainOptions(),
    rows: np.ndarray | None = None,
    verbose: int = 0,
    monitor: WindowSet | None = None,
    pose_columns: slice | None = None,
    finetune: int = 0,
    weights=None,
    keep_groups: frozenset[str] = frozenset(),
) -> TrainedModel:
    """Fit a ``frame`` or ``lstm`` model on the windows (for ``frame``, windows of n = 1 are frames).

    ``rows`` restricts training to some windows (a fold). Whole groups are held out for early stopping,
    never those of ``keep_groups``.
    ``monitor`` (an evaluation's test windows): when no groups are held out, their loss is recorded per
    epoch as ``val_loss``, for the learning curves and the memorising warning only; it never stops
    training, picks an epoch or changes the learning rate. ``pose_columns``: where the pose part of a
    frame's features sits, for the left/right swap augmentation (``learn/side_swap.py``). ``finetune``:
    MobileNet blocks to train with the head (``weights``: its ImageNet weights); the windows then hold
    uint8 frames at the embedder's size, and the model keeps its tuned MobileNet as its own embedder.
    """
    import keras

    if kind not in KINDS:
        raise ActionrecError(f"model kind {kind!r}: expected one of {', '.join(KINDS)}")
    if kind == "frame" and windows.n != 1:
        raise ActionrecError(f"the frame model trains on single frames; got windows of {windows.n}")
    rows = np.arange(len(windows)) if rows is None else np.asarray(rows)
    classes = sorted(set(windows.labels[rows])) if classes is None else list(classes)
    if len(classes) < 2:
        raise ActionrecError(f"training needs at least 2 classes, found {classes}")
    lookup = {c: i for i, c in enumerate(classes)}
    unknown = sorted(set(windows.labels[rows]) - set(lookup))
    if unknown:
        raise ActionrecError(f"labels {unknown} are not among the model's classes {classes}")
    y = np.array([lookup.get(lab, -1) for lab in windows.labels], np.int64)

    from actionrec.learn import fitting

    keras.utils.set_random_seed(options.seed)
    size = DataSize.of(windows, rows)
    lstm, options = resolve(kind, lstm, options, size)
    tr_mask, val_mask = split_validation(windows.groups[rows], options.val_fraction, options.seed, keep_groups)
    tr_rows, val_rows = rows[tr_mask], rows[val_mask]
    tr_rows, own_repeat = own_share_rows(tr_rows, windows.groups, keep_groups, options.own_share)
    backbone = _tunable_backbone(windows, embedder, finetune, weights, frame if kind == "frame" else lstm)
    if backbone is None:
        seen = windows.frames[np.unique(windows.index[tr_rows])]
        stats = (seen.mean(axis=0), seen.var(axis=0) + 1e-6)
    else:  # unused (normalization is refused above): the tuned features have no fixed statistics
        stats = (np.zeros(EMBEDDING_DIM, np.float32), np.ones(EMBEDDING_DIM, np.float32))
    if backbone is not None:  # a fine-tuned MobileNet is one backbone trained with one head
        options = replace(options, members=1)
    steps = max(1, int(np.ceil(len(tr_rows) / options.batch_size)))
    model = _build(kind, len(classes), windows.n, frame, lstm, options.learning_rate, stats,
                   dim=len(stats[0]), options=options, total_steps=steps * options.epochs, backbone=backbone,
                   members=options.members)
    flat = kind == "frame"
    one_hot = fitting.loss(len(classes), options.label_smoothing)[1]
    frame_y = np.array([lookup.get(lab, -1) for lab in windows.frame_labels], np.int64)
    train_data = fitting.batches(windows, tr_rows, y, options.batch_size, flat, options.seed, len(classes), one_hot,
                                 temporal=None if flat else options.temporal, frame_y=frame_y, policy=lstm.label_policy,
                                 pose=pose_columns, side_swap=options.side_swap)
    # Frames through MobileNet take memory per frame: validate fine-tuning in training-sized batches.
    val_batch = 512 if backbone is None else options.batch_size
    val_data = fitting.batches(windows, val_rows, y, val_batch, flat, None, len(classes), one_hot) if len(val_rows) else None
    watching = val_data is None and monitor is not None and not options.patience and options.schedule != "plateau"
    if watching:
        monitor_y = np.array([lookup.get(lab, -1) for lab in monitor.labels], np.int64)
        known = np.flatnonzero(monitor_y >= 0)
        val_data = fitting.batches(monitor, known, monitor_y, val_batch, flat, None, len(classes), one_hot) if len(known) else None
    callbacks = []
    best = None
    if val_data is not None and options.patience:
        best = fitting.best_epoch_callback(options.patience)
        callbacks.append(best)
    if val_data is not None and options.schedule == "plateau":
        callbacks.append(fitting.plateau_callback())
    class_weight = None
    if options.class_weight:
        counts = np.bincount(y[tr_rows], minlength=len(classes))
        class_weight = {i: len(tr_rows) / (len(classes) * c) for i, c in enumerate(counts) if c}
    started = time.time()
    with fitting.stop_on_interrupt(callbacks):
        fit = model.fit(
            train_data, validation_data=val_data, epochs=options.epochs, class_weight=class_weight,
            callbacks=callbacks, verbose=verbose,
        )
    history = {k: [float(v) for v in vals] for k, vals in fit.history.items()}
    history["seconds"] = time.time() - started
    if best is not None and best.best_epoch is not None:
        history["best_epoch"] = int(best.best_epoch)  # the weights the model ends with
    if "val_loss" in history:
        history["val_source"] = "monitor" if watching else "validation groups"
    if options.members > 1:  # the fit's loss is the members' sum: logged per member, as one model's would be
        history.update({k: [v / options.members for v in history[k]] for k in ("loss", "val_loss") if k in history})
        history["members"] = options.members
    model = members_mean(model, kind, options.members)
    head, tuned = model, {}
    if backbone is not None:
        head = model.get_layer(f"actionrec_{kind}")
        tuned = {"finetune_from": embedder.weights_sha256}  # the ImageNet weights the tuning started from
        embedder = replace(embedder, weights_sha256=tuned_weights_id(backbone))
    config = {
        "kind": kind,
        "classes": classes,
        "coarse_classes": sorted({coarse(c) for c in classes}),
        "window": 1 if kind == "frame" else windows.n,
        "embedder": embedder.to_dict(),
        "finetune": finetune,  # > 0: the embedder is the model's own (backbone.keras), tuned from ImageNet's
        **tuned,
        "frame": asdict(frame) if kind == "frame" else None,
        "lstm": asdict(lstm) if kind == "lstm" else None,
        "train": asdict(options),
        "train_windows": int(len(tr_rows)),
        "own_repeat": own_repeat,  # each of the dataset's own windows this many times (beside --also data)
        "data_size": size.to_dict(),  # what the options left at None were chosen from
        "val_windows": int(len(val_rows)),
        "val_groups": sorted(set(windows.groups[val_rows].tolist())),
        "epochs_run": len(history.get("loss", [])),
        "versions": versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    return TrainedModel(head, kind, classes, embedder, config, history, backbone)


def _tunable_backbone(windows: WindowSet, embedder: EmbedderConfig, finetune: int, weights, head_options):
    """The MobileNet to fine-tune with the head (None for ``finetune`` 0), after checking what it needs."""
    from actionrec.features.mobilenet import check_finetune, tunable_mobilenet

    if not check_finetune(finetune):
        return None
    spec = embedder.frame_spec
    if windows.frames.dtype != np.uint8 or windows.frames.shape[1:] != (spec.height, spec.width, 3):
        raise ActionrecError(f"fine-tuning trains on frames: got a table of {windows.frames.dtype} "
                             f"{windows.frames.shape[1:]}, expected uint8 ({spec.height}, {spec.width}, 3)")
    if head_options.normalize:
        raise ActionrecError("normalize with fine-tuning: the tuned features change as they train; "
                             "expected normalize off")
    return tunable_mobilenet(spec, weights, finetune)


def versions() -> dict:
    import cv2
    import keras
    import sklearn
    import tensorflow as tf

    return {
        "actionrec": __version__,
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        "scikit-learn": sklearn.__version__,
    }


def with_window(lstm: LSTMOptions, window: int | None = None, stride: int | None = None) -> LSTMOptions:
    changes = {k: v for k, v in (("window", window), ("stride", stride)) if v is not None}
    return replace(lstm, **changes)



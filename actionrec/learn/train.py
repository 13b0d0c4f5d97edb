"""The stages glued together for one dataset: clips -> embeddings -> windows -> a trained model.

The CLI's ``train``, ``predict`` and ``evaluate`` and the demo all go through here, so each stage is
called the same way everywhere.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from actionrec.data.datasets import Clip
from actionrec.data.video import FrameSpec, iter_decoded_frames, iter_differences, prepare
from actionrec.errors import ActionrecError
from actionrec.features.frames import LazyPose, join_parts, pose_stream
from actionrec.features.mobilenet import Embedder, check_finetune
from actionrec.features.spec import FeatureSpec
from actionrec.features.cache import ClipEmbeddings
from actionrec.learn.embedded import EmbeddedDataset, embed_dataset_dir, frames_dataset_dir
from actionrec.learn.models import (
    KINDS,
    FrameOptions,
    LSTMOptions,
    TrainedModel,
    TrainOptions,
    article_settings,
    load_model,
    train,
)
from actionrec.learn.regularization import LSTM_KEYS, with_fixed
from actionrec.learn.windows import LABEL_POLICIES, trailing_windows
from actionrec.util.outputs import MODEL, claim_output


# Fine-tuning: one Adam for head and backbone (Keras has no per-variable learning rate short of a custom
# train step), so one rate 10x below the head's default, small enough not to wash out ImageNet's features.
FINETUNE_LEARNING_RATE = 1e-4
# Windows per step: 8 x 16 frames = 128 frames through MobileNet and back through the tuned blocks.
FINETUNE_BATCH = 8


def finetune_training(finetune: int) -> dict:
    """The TrainOptions fine-tuning changes (rate and batch), none when ``finetune`` is 0."""
    return dict(learning_rate=FINETUNE_LEARNING_RATE, batch_size=FINETUNE_BATCH) if finetune else {}


@dataclass(frozen=True)
class TrainSpec:
    """What to train: the model kind and every option, as one object written next to the outputs."""

    kind: str = "lstm"
    frame: FrameOptions = field(default_factory=FrameOptions)
    lstm: LSTMOptions = field(default_factory=LSTMOptions)
    train: TrainOptions = field(default_factory=TrainOptions)
    augment: int = 0  # augmented copies per training clip
    finetune: int = 0  # top MobileNet blocks trained with the head, on decoded frames (0: cached embeddings)

    def __post_init__(self):
        # Checked here, so a bad value stops before the (long) embedding, not after it.
        if self.kind not in KINDS:
            raise ActionrecError(f"model kind {self.kind!r}: expected one of {', '.join(KINDS)}")
        if self.lstm.label_policy not in LABEL_POLICIES:
            raise ActionrecError(f"label policy {self.lstm.label_policy!r}: expected one of {', '.join(LABEL_POLICIES)}")
        if self.lstm.window < 1 or self.lstm.stride < 1:
            raise ActionrecError(f"window {self.lstm.window}, stride {self.lstm.stride}: expected whole numbers >= 1")
        t = self.train
        if t.epochs < 1:
            raise ActionrecError(f"--epochs {t.epochs}: expected a whole number >= 1")
        if not (math.isfinite(t.learning_rate) and t.learning_rate > 0):
            raise ActionrecError(f"--learning-rate {t.learning_rate}: expected a number > 0")
        if not 0 <= t.seed <= 2**32 - 1:  # what Keras' and numpy's seeding take
            raise ActionrecError(f"--seed {t.seed}: expected a whole number from 0 to {2**32 - 1}")
        if not (math.isfinite(t.own_share) and 0 <= t.own_share < 1):
            raise ActionrecError(f"--own-share {t.own_share}: expected a number from 0 up to, not including, 1")
        if self.augment < 0:
            raise ActionrecError(f"--augment {self.augment}: expected 0 or more copies")
        if check_finetune(self.finetune) and self.augment:
            # Augmented copies are cached as embeddings; fine-tuning needs their frames.
            raise ActionrecError(f"--augment {self.augment} with --finetune: not supported together; expected one of them")

    @classmethod
    def from_cli(cls, model: str, window: int, stride: int, label_policy: str, epochs: int,
                 learning_rate: float | None, article: bool, augment: int, seed: int, finetune: int = 0,
                 fixed: dict | None = None, own_share: float | None = None) -> "TrainSpec":
        """``learning_rate`` None: the default, or ``FINETUNE_LEARNING_RATE`` when fine-tuning. ``fixed``:
        regularizers the user set (``regularization.fixed_by_user``); the others follow the data.
        ``own_share`` None: ``OWN_SHARE`` (it acts only beside data added with ``--also``)."""
        fixed = fixed or {}
        lstm = LSTMOptions(window=window, stride=stride, label_policy=label_policy)
        only_lstm = sorted(k for k in fixed if k in LSTM_KEYS or k == "temporal")
        if model == "frame" and only_lstm:
            flags = ", ".join("--" + k.replace("_", "-") for k in only_lstm)
            raise ActionrecError(f"{flags} with --model frame: these shape the LSTM only; expected --model lstm")
        if article and fixed:
            raise ActionrecError("--article with regularization options: the article's settings are fixed; expected one of them")
        if article and model != "frame":
            # The 2018 settings (Adam 1e-6, 500 epochs) are the frame baseline's; on an LSTM they only waste hours.
            raise ActionrecError(f"the article's settings are for the frame model, not {model!r}")
        if article and finetune:
            raise ActionrecError("--article with --finetune: the article's frame model used frozen ImageNet features")
        if finetune and fixed.get("members", 1) > 1:
            raise ActionrecError(f"--members {fixed['members']} with --finetune: a tuned MobileNet trains with one head; "
                                 "expected --members 1 or no --finetune")
        if article:
            frame, opts = article_settings()
            opts = TrainOptions(**{**asdict(opts), "seed": seed})
        else:
            tuning = finetune_training(finetune)
            if learning_rate is not None:
                tuning["learning_rate"] = learning_rate
            frame, opts = FrameOptions(), TrainOptions(**{"epochs": epochs, "seed": seed, **tuning})
            lstm, opts = with_fixed(lstm, opts, fixed)
        if own_share is not None:
            opts = replace(opts, own_share=own_share)
        return cls(kind=model, frame=frame, lstm=lstm, train=opts, augment=augment, finetune=finetune)

    def to_dict(self) -> dict:
        return asdict(self)


def fit(data: EmbeddedDataset, spec: TrainSpec, clips: list[Clip] | None = None, classes: list[str] | None = None, verbose: int = 0,
        monitor_clips: list[Clip] | None = None) -> TrainedModel:
    """Train ``spec.kind`` on (some of) the dataset's clips: frames for the baseline, windows for the LSTM.

    ``monitor_clips`` (an evaluation's test clips): their loss per epoch goes into the history when no
    validation groups are held out; it never steers training (see ``models.train``)."""
    if spec.kind == "frame":
        cut = (1, 1, "last")
    elif spec.kind == "lstm":
        cut = (spec.lstm.window, spec.lstm.stride, spec.lstm.label_policy)
    else:
        raise ActionrecError(f"model kind {spec.kind!r}: expected frame or lstm")
    windows = data.windows(*cut, clips)
    monitor = None
    if monitor_clips:
        try:
            monitor = data.windows(*cut, monitor_clips)
        except ActionrecError:  # every monitored clip shorter than a window: nothing to watch
            monitor = None
    classes = classes or data.labels
    # Beside data added with --also, the dataset's own people always train: early stopping holds out added ones.
    own = frozenset(c.group for c in (data.clips if clips is None else clips) if c.id not in data.training_only)
    trained = train(windows, spec.kind, data.config, classes=classes, frame=spec.frame, lstm=spec.lstm,
                    options=spec.train, verbose=verbose, monitor=monitor,
                    pose_columns=data.features.pose_slice if data.features.uses_pose else None,
                    finetune=spec.finetune, weights=data.weights,
                    keep_groups=own if data.training_only else frozenset())
    trained.config["features"] = data.features.to_dict()  # the model refuses other features (check_features)
    if data.also:
        trained.config["also"] = list(data.also)
    return trained


def train_on_dataset(
    dataset: str | Path,
    spec: TrainSpec,
    frame_spec: FrameSpec,
    cache_dir: str | os.PathLike | None = None,
    weights: str | os.PathLike | None = None,
    out: str | Path | None = None,
    verbose: int = 0,
    overwrite: bool = False,
    features: FeatureSpec | None = None,
    also: Sequence[str | Path] = (),
) -> TrainedModel:
    """Embed (cached), train and, with ``out``, write the model directory there. ``also``: more datasets to
    train on too (``with_training_data``): e.g. your recordings plus the demo's synthetic people.

    ``out`` is checked first (``claim_output``): a file, a folder of anything but a model, the dataset
    itself, or a model without ``overwrite`` is refused before any embedding or training.
    """
    if spec.finetune and also:
        raise ActionrecError("train --finetune --also: fine-tuning trains MobileNet on one dataset's frames; "
                             "expected one of them")
    if out is not None:
        claim_output(out, MODEL, overwrite=overwrite, inputs=[dataset, *also])
    if spec.finetune:
        data = frames_dataset_dir(dataset, frame_spec, cache_dir, weights, features=features)
    else:
        data = embed_dataset_dir(dataset, frame_spec, cache_dir, weights, features=features, also=also)
    if spec.augment:
        from actionrec.learn.augmented_copies import add_augmented_clips

        data, _ = add_augmented_clips(data, data.clips, spec.augment, seed=spec.train.seed)
    trained = fit(data, spec, verbose=verbose)
    trained.config["dataset"] = str(Path(dataset).resolve())
    trained.config["spec"] = spec.to_dict()
    if out is not None:
        trained.save(out, overwrite=overwrite)
    return trained


@dataclass
class ClipPrediction:
    classes: list[str]
    times: np.ndarray
    proba: np.ndarray  # (N, k): one row per frame
    warmup: int  # leading frames whose window had to be padded


def predict_clip(model: str | Path | TrainedModel, clip: str | Path, weights: str | os.PathLike | None = None,
                 embedder: Embedder | None = None, features: FeatureSpec | None = None) -> ClipPrediction:
    """Per-frame probabilities for a clip; the LSTM sees, at each frame, the window ending there.

    The features are the model's; ``features`` (--features), when given, must be the same."""
    trained = model if isinstance(model, TrainedModel) else load_model(model)
    if features is not None:
        trained.check_features(features, source=f"--features {features.kind} for {clip}")
    features = trained.features
    if features.runs_mobilenet:
        embedder = embedder or trained.embedder(weights)  # a fine-tuned model's own backbone
        trained.check_embedder(embedder.config, source=f"embeddings for {clip}")
    times, frames = [], []  # MobileNet's inputs are kept; the pose runs on each source frame as it comes

    def decoded():
        for t, bgr in iter_decoded_frames(clip, trained.frame_spec):
            times.append(t)
            if features.runs_mobilenet:
                frames.append(prepare(bgr, trained.frame_spec))
            yield t, bgr

    pose = pose_stream(decoded(), LazyPose(features).get(), features.pose_long_side) if features.uses_pose else None
    if pose is None:
        for _ in decoded():
            pass
    if not times:
        raise ActionrecError(f"{clip}: clip has zero frames")
    times = np.asarray(times, np.float64)
    parts = {}
    if features.uses_mobilenet:
        parts["mobilenet"] = ClipEmbeddings(embedder.embed(np.stack(frames)), times)
    if pose is not None:
        parts["pose"] = ClipEmbeddings(features.view_pose(pose.embeddings), pose.times)
    if features.uses_diff:
        diffs = [d for _, d in iter_differences(zip(times, frames))]
        parts["diff"] = ClipEmbeddings(embedder.embed(np.stack(diffs)), times)
    emb = join_parts(parts, str(clip)).embeddings
    proba = trained.predict_windows(trailing_windows(emb, trained.window))
    return ClipPrediction(trained.classes, np.asarray(times), proba, warmup=min(trained.window - 1, len(emb)))

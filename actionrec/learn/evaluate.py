"""Side-by-side evaluation on people the model never saw: the frame baseline against the LSTM.

Grouped, stratified K-fold over clips (``groups.csv`` names the person): no group is ever in training and
test at once. In each fold the frame baseline and the LSTM train on the same clips and are tested on the
same held-out windows. The frame baseline is scored two ways on each window: its prediction on the last
frame (what the article did live) and its mean over the window's frames (a stronger baseline).

A fold's result is saved as soon as it is done, so an interrupted evaluation resumes at the next fold.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import numpy as np

from actionrec.data.clock import timeline_duration
from actionrec.data.datasets import Clip, coarse
from actionrec.errors import ActionrecError
from actionrec.learn.diagnose import memorising_warnings
from actionrec.features.cache import ClipEmbeddings
from actionrec.learn.embedded import EmbeddedDataset
from actionrec.learn.report import MODEL_NAMES, FoldResult, write_reports
from actionrec.learn.models import LSTMOptions, TrainOptions
from actionrec.learn.regularization import rule_fingerprint, with_fixed
from actionrec.learn.train import TrainSpec, finetune_training, fit
from actionrec.learn.windows import trailing_windows
from actionrec.util.outputs import REPORT, claim_output

if TYPE_CHECKING:
    from actionrec.util.ray_cluster import RayOptions

# Every other window in training: neighbours overlap by all but one frame, and a fold trains two models.
TRAIN_STRIDE = 2


@dataclass(frozen=True)
class EvaluateOptions:
    folds: int = 3
    seed: int = 0
    sequence_model: TrainSpec = field(default_factory=lambda: TrainSpec(kind="lstm"))
    frame_model: TrainSpec = field(default_factory=lambda: TrainSpec(kind="frame"))
    augment: int = 0  # augmented copies of each training clip (never of a test clip)
    test_stride: int = 1  # between test windows

    @property
    def window(self) -> int:
        """Frames per test window: the sequence model's (the frame baseline is scored on the same windows)."""
        return self.sequence_model.lstm.window

    def to_dict(self) -> dict:
        return asdict(self)


def evaluate_options(folds: int = EvaluateOptions.folds, window: int = LSTMOptions.window,
                     stride: int = TRAIN_STRIDE, label_policy: str = LSTMOptions.label_policy,
                     epochs: int = TrainOptions.epochs, augment: int = 0, seed: int = 0, finetune: int = 0,
                     fixed: dict | None = None, own_share: float | None = None) -> EvaluateOptions:
    """The common knobs in one call; both models share epochs and seed. ``finetune``: the LSTM trains the
    top K MobileNet blocks too, with ``train --finetune``'s rate and batch (the frame baselines stay frozen).
    ``fixed``: the LSTM's regularizers set by the user (``regularization.fixed_by_user``); the frame
    baselines keep theirs, so the report still compares with the article's model as it is. ``own_share``:
    as ``train``'s, for all three models (None: the default)."""
    if finetune and augment:
        raise ActionrecError(f"--augment {augment} with --finetune: not supported together; expected one of them")
    if folds < 2:  # here, before the embedding; grouped_folds checks the rest against the data
        raise ActionrecError(f"folds {folds}: need at least 2 folds")
    train = TrainOptions(epochs=epochs, seed=seed)
    if own_share is not None:
        train = replace(train, own_share=own_share)
    tuning = finetune_training(finetune)
    seq, seq_train = with_fixed(LSTMOptions(window=window, stride=stride, label_policy=label_policy),
                                replace(train, **tuning), fixed or {})
    lstm = TrainSpec(kind="lstm", lstm=seq, train=seq_train, finetune=finetune)
    return EvaluateOptions(folds=folds, seed=seed, sequence_model=lstm, frame_model=TrainSpec(kind="frame", train=train),
                           augment=augment)


def clip_strata(clips: list[Clip]) -> list[str]:
    """The label a clip is stratified by: its label, or an annotated video's most common segment label."""
    out = []
    for c in clips:
        if c.label is not None:
            out.append(c.label)
        else:
            seconds = Counter()
            for s in c.segments:
                seconds[s.label] += s.end - s.start
            out.append(seconds.most_common(1)[0][0] if seconds else c.background)
    return out


def grouped_folds(clips: list[Clip], folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) clip indices per fold; whole groups stay on one side. Checks the data allows it."""
    from sklearn.model_selection import StratifiedGroupKFold

    if not clips:
        raise ActionrecError("the dataset is empty: nothing to evaluate")
    if folds < 2:
        raise ActionrecError(f"folds {folds}: need at least 2 folds")
    groups = np.array([c.group for c in clips])
    strata = np.array(clip_strata(clips))
    n_groups = len(set(groups))
    if n_groups < folds:
        raise ActionrecError(
            f"{n_groups} group(s) but {folds} folds: each fold needs people of its own; "
            f"use {max(2, n_groups)} folds or add people (groups.csv)" if n_groups >= 2 else
            f"only {n_groups} group: grouped evaluation needs at least 2 people (groups.csv names them)"
        )
    # Every label a clip holds, not only its stratum: an annotated video's moves each count where they are,
    # so four people's continuous takes with a different most common move each are not refused.
    seen: dict[str, set[str]] = {}
    for clip in clips:
        for label in clip.labels:
            seen.setdefault(label, set()).add(clip.group)
    lonely = sorted(label for label, where in seen.items() if len(where) < 2)
    if lonely:
        raise ActionrecError(
            f"class(es) {', '.join(lonely)} appear in a single group only: they cannot be tested on unseen "
            "people; record them with at least 2 people or leave them out"
        )
    if all(n < folds for n in Counter(strata.tolist()).values()):
        # Every stratum smaller than the folds (a few continuous takes, each its own most common move):
        # scikit-learn refuses to stratify, so the groups are split as one stratum.
        strata = np.zeros(len(clips), dtype=int)
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    import warnings

    with warnings.catch_warnings():
        # "The least populated class has only N members": expected with few clips per class.
        warnings.simplefilter("ignore", UserWarning)
        return [(tr, te) for tr, te in splitter.split(np.zeros(len(clips)), strata, groups)]


def run_fold(data: EmbeddedDataset, classes: list[str], train_clips: list[Clip], test_clips: list[Clip], options: EvaluateOptions,
             frames: EmbeddedDataset | None = None) -> FoldResult:
    """Both models trained on ``train_clips`` and scored on the windows of ``test_clips``. ``frames``: the
    decoded frames the sequence model trains on with ``finetune`` (``frames_dataset_dir``)."""
    if options.augment:
        from actionrec.learn.augmented_copies import add_augmented_clips

        data, copies = add_augmented_clips(data, train_clips, options.augment, seed=options.seed)
        train_clips = train_clips + copies
    n = options.window
    policy = options.sequence_model.lstm.label_policy
    test = data.windows(n, options.test_stride, policy, clips=test_clips)
    lstm, seen = _fit_sequence_model(data, frames, options, classes, train_clips, test_clips)
    frame = fit(data, options.frame_model, clips=train_clips, classes=classes, monitor_clips=test_clips)
    frame_proba = frame.predict_frames(test.frames)  # every frame once; windows gather from it
    proba = {
        "frame_last": frame_proba[test.index[:, -1]],
        "frame_mean": frame_proba[test.index].mean(axis=1),
        "lstm": lstm.predict_windows(seen.windows(n, options.test_stride, policy, clips=test_clips).sequences()),
    }
    annotated = [c for c in test_clips if c.is_annotated]
    stream = {"lstm": [], "frame_last": []}
    for clip in annotated:
        stream["lstm"].append(lstm.predict_windows(trailing_windows(seen.embeddings[clip.id].embeddings, n)))
        stream["frame_last"].append(frame.predict_frames(data.embeddings[clip.id].embeddings))
    return FoldResult(
        y_true=test.labels,
        proba=proba,
        histories={"lstm": lstm.history, "frame": frame.history},
        train_groups=sorted({c.group for c in train_clips}),
        test_groups=sorted({c.group for c in test_clips}),
        skipped=test.skipped,
        stream_clips=[c.id for c in annotated],
        stream=stream if annotated else {},
    )


def _fit_sequence_model(data: EmbeddedDataset, frames: EmbeddedDataset | None, options: EvaluateOptions,
                        classes: list[str], train_clips: list[Clip], test_clips: list[Clip]):
    """The sequence model, and the features it reads the test clips through: ``data``'s, or with ``finetune``
    its own tuned MobileNet's on the test clips' decoded frames (the same frames and times as ``data``'s)."""
    spec = options.sequence_model
    if not spec.finetune:
        # The test clips' loss per epoch is recorded (never used to stop or choose) when no groups are held out.
        return fit(data, spec, clips=train_clips, classes=classes, monitor_clips=test_clips), data
    if frames is None:
        raise ActionrecError("evaluate with finetune: the decoded frames are needed (frames_dataset_dir)")
    # No monitor: it would run the tuned MobileNet over every test window at every epoch.
    lstm = fit(frames, spec, clips=train_clips, classes=classes)
    tuned = lstm.embedder(data.weights)
    own = {c.id: ClipEmbeddings(tuned.embed(frames.embeddings[c.id].embeddings), frames.embeddings[c.id].times)
           for c in test_clips}
    return lstm, replace(data, embeddings={**data.embeddings, **own})


def event_scores(data: EmbeddedDataset, classes: list[str], results: list[FoldResult]) -> dict:
    """Replay figures on the annotated test videos: hits, misses, false triggers/min, onset delay.

    Per-frame probabilities come from the fold's models on windows ending at each frame (the ring
    buffer's view at the model rate); the default ``TriggerPolicy`` turns them into events.
    """
    from actionrec.events.scoring import ProbRun, score_runs

    by_id = {c.id: c for c in data.clips}
    out = {}
    for model in ("frame_last", "lstm"):
        runs = []
        for r in results:
            for clip_id, probs in zip(r.stream_clips, r.stream.get(model, [])):
                times = data.embeddings[clip_id].times
                runs.append(ProbRun(times, probs, by_id[clip_id].segments, timeline_duration(times, 0.1)))
        if runs:
            out[model] = score_runs(classes, runs).to_dict()
    return out


def scores(y_true: list[str] | np.ndarray, y_pred: list[str] | np.ndarray, classes: list[str]) -> dict:
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=classes, zero_division=0)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=classes, average="macro", zero_division=0)),
        "per_class": {c: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])} for i, c in enumerate(classes)},
        "confusion": confusion_matrix(y_true, y_pred, labels=classes).tolist(),
    }


def summarize(folds: list[FoldResult], classes: list[str], level: str = "fine") -> dict:
    """Per model: accuracy and macro-F1 as the mean over folds; per-class and confusion over all folds."""
    names = classes if level == "fine" else sorted({coarse(c) for c in classes})
    out = {}
    for model in MODEL_NAMES:
        per_fold, all_true, all_pred = [], [], []
        for fr in folds:
            proba = fr.proba[model]
            pred = np.asarray(classes)[proba.argmax(axis=1)]
            true = fr.y_true
            if level == "coarse":
                pred = np.array([coarse(x) for x in pred])
                true = np.array([coarse(x) for x in true])
            per_fold.append(scores(true, pred, names))
            all_true.extend(true.tolist())
            all_pred.extend(pred.tolist())
        pooled = scores(all_true, all_pred, names)
        out[model] = {
            "accuracy": float(np.mean([s["accuracy"] for s in per_fold])),
            "macro_f1": float(np.mean([s["macro_f1"] for s in per_fold])),
            "accuracy_per_fold": [s["accuracy"] for s in per_fold],
            "macro_f1_per_fold": [s["macro_f1"] for s in per_fold],
            "per_class": pooled["per_class"],
            "confusion": pooled["confusion"],
        }
    return out


def _config_key(data: EmbeddedDataset, options: EvaluateOptions) -> str:
    """The name a finished fold is kept under: the options as given, the rule that resolves the ones left
    to the data (``regularization.rule_fingerprint``), the embedder and the clips with their labels."""
    blob = json.dumps({"options": options.to_dict(), "rule": rule_fingerprint(), "embedder": data.config.to_dict(),
                       "clips": [(c.id, c.group, c.label, [asdict(s) for s in c.segments]) for c in data.clips]},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _groups(clips: list[Clip]) -> str:
    return ", ".join(sorted({c.group for c in clips}))


def _log_scores(result: FoldResult, classes: list[str], log, prefix: str = "  ") -> None:
    fine = summarize([result], classes)
    log(prefix + "  ".join(f"{m} acc {fine[m]['accuracy']:.3f} F1 {fine[m]['macro_f1']:.3f}" for m in MODEL_NAMES))


def _run_folds(data: EmbeddedDataset, classes: list[str], todo: list, options: EvaluateOptions, ray, log,
               n: int, frames: EmbeddedDataset | None = None) -> Iterator[tuple[int, FoldResult]]:
    """(index, result) of each fold of ``todo``: here one after the other, or all at once on Ray."""
    for k, tr, te in todo:
        where = " on Ray" if ray is not None else ""
        log(f"fold {k + 1}/{n}: training{where} on {len(tr)} clips, testing on {len(te)} clips of {_groups(te)}")
        if ray is None:
            yield k, run_fold(data, classes, tr, te, options, frames)
    if ray is not None and todo:
        from actionrec.learn.distributed import run_folds_ray

        yield from run_folds_ray(data, classes, todo, options, ray)


def evaluate(data: EmbeddedDataset, out: str | Path, options: EvaluateOptions = EvaluateOptions(), log=print,
             fold_dir: str | Path | None = None, ray: "RayOptions | None" = None,
             frames: EmbeddedDataset | None = None) -> dict:
    """Run the K folds (resuming finished ones), write report.json / report.md / plots into ``out``.

    ``out`` is checked before the first fold trains: a file, a read-only place or a folder that holds
    anything but an earlier report is refused. ``fold_dir`` (default ``out/folds``) keeps the finished
    folds; their names carry the embedder config, so evaluations at several sizes can share one.
    ``ray`` runs the unfinished folds as tasks on a Ray cluster (``learn.distributed``): the same report.
    ``frames``: the dataset's decoded frames, which a sequence model with ``finetune`` trains on.
    """
    if options.sequence_model.finetune and ray is not None:
        raise ActionrecError("evaluate --finetune --ray: not supported together; fine-tuned folds run here, expected one of them")
    out = claim_output(out, REPORT, inputs=[data.dataset.root, *data.also])
    clips = [c for c in data.clips if c.id not in data.training_only]  # the people folds hold out
    added = [c for c in data.clips if c.id in data.training_only]  # --also: in every fold's training
    classes = data.labels
    splits = grouped_folds(clips, options.folds, options.seed)
    key = _config_key(data, options)
    fold_dir = out / "folds" if fold_dir is None else Path(fold_dir)
    results: list[FoldResult | None] = [None] * len(splits)
    todo = []
    for k, (tr, te) in enumerate(splits):
        results[k] = FoldResult.load(fold_dir / f"fold{k}-{key}.npz", classes)
        if results[k] is None:
            todo.append((k, [clips[i] for i in tr] + added, [clips[i] for i in te]))
        else:
            log(f"fold {k + 1}/{len(splits)}: done earlier (test people: {_groups([clips[i] for i in te])})")
            _log_scores(results[k], classes, log)
    for k, result in _run_folds(data, classes, todo, options, ray, log, len(splits), frames):
        result.save(fold_dir / f"fold{k}-{key}.npz")
        _log_scores(result, classes, log, f"fold {k + 1}/{len(splits)} done: " if ray is not None else "  ")
        results[k] = result
    leak = [(i, sorted(set(r.train_groups) & set(r.test_groups))) for i, r in enumerate(results) if set(r.train_groups) & set(r.test_groups)]
    if leak:  # cannot happen with StratifiedGroupKFold; checked because the whole report depends on it
        raise ActionrecError(f"group leakage between training and test in folds {leak}")
    report = {
        "classes": classes,
        "folds": len(splits),
        "windows": int(sum(len(r.y_true) for r in results)),
        "models": summarize(results, classes),
        "config": {"evaluate": options.to_dict(), "embedder": data.config.to_dict(), "dataset": str(data.dataset.root),
                   **({"also": list(data.also)} if data.also else {})},
        "groups_per_fold": [{"train": r.train_groups, "test": r.test_groups} for r in results],
        "skipped_short_clips": sorted({s for r in results for s in r.skipped}),
        "warnings": memorising_warnings([r.histories for r in results]),
    }
    for warning in report["warnings"]:
        log(f"warning: {warning['message']}")
    events = event_scores(data, classes, results)
    if events:
        report["events"] = events
    if any("/" in c for c in classes):
        report["coarse"] = {"classes": sorted({coarse(c) for c in classes}), "models": summarize(results, classes, "coarse")}
    write_reports(out, report, results)
    return report



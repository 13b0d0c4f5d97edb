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
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .atomic import atomic_path, write_json, write_npz, write_text
from .datasets import Clip, coarse
from .errors import ActionrecError
from .pipeline import EmbeddedDataset, TrainSpec, fit
from .windows import trailing_windows

MODEL_NAMES = ("frame_last", "frame_mean", "lstm")


@dataclass(frozen=True)
class EvaluateOptions:
    folds: int = 3
    seed: int = 0
    lstm: TrainSpec = field(default_factory=lambda: TrainSpec(kind="lstm"))
    frame: TrainSpec = field(default_factory=lambda: TrainSpec(kind="frame"))
    augment: int = 0  # augmented copies of each training clip (never of a test clip)
    test_stride: int = 1  # between test windows

    def to_dict(self) -> dict:
        return asdict(self)


def evaluate_options(folds: int = 3, window: int = 16, stride: int = 2, label_policy: str = "last", epochs: int = 60,
                     augment: int = 0, seed: int = 0) -> EvaluateOptions:
    """The common knobs in one call; both models share epochs and seed."""
    from .models import LSTMOptions, TrainOptions

    train = TrainOptions(epochs=epochs, seed=seed)
    lstm = TrainSpec(kind="lstm", lstm=LSTMOptions(window=window, stride=stride, label_policy=label_policy), train=train)
    return EvaluateOptions(folds=folds, seed=seed, lstm=lstm, frame=TrainSpec(kind="frame", train=train), augment=augment)


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
        raise ActionrecError(f"--folds {folds}: need at least 2 folds")
    groups = np.array([c.group for c in clips])
    strata = np.array(clip_strata(clips))
    n_groups = len(set(groups))
    if n_groups < folds:
        raise ActionrecError(
            f"{n_groups} group(s) but {folds} folds: each fold needs people of its own; "
            f"use --folds {max(2, n_groups)} or add people (groups.csv)" if n_groups >= 2 else
            f"only {n_groups} group: grouped evaluation needs at least 2 people (groups.csv names them)"
        )
    lonely = sorted(lab for lab in set(strata) if len(set(groups[strata == lab])) < 2)
    if lonely:
        raise ActionrecError(
            f"class(es) {', '.join(lonely)} appear in a single group only: they cannot be tested on unseen "
            "people; record them with at least 2 people or leave them out"
        )
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    import warnings

    with warnings.catch_warnings():
        # "The least populated class has only N members": expected with few clips per class.
        warnings.simplefilter("ignore", UserWarning)
        return [(tr, te) for tr, te in splitter.split(np.zeros(len(clips)), strata, groups)]


@dataclass
class FoldResult:
    y_true: np.ndarray  # (W,) fine labels of the test windows
    proba: dict[str, np.ndarray]  # model name -> (W, k) probabilities in ``classes`` order
    histories: dict[str, dict]
    train_groups: list[str]
    test_groups: list[str]
    skipped: list[str]
    # Annotated test videos: per-frame probabilities as the live loop would produce them, per model.
    stream_clips: list[str] = field(default_factory=list)
    stream: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def save(self, path: Path) -> None:
        arrays = {f"proba_{k}": v for k, v in self.proba.items()}
        arrays.update({f"stream_{m}_{i}": p for m, runs in self.stream.items() for i, p in enumerate(runs)})
        meta = {"histories": self.histories, "train_groups": self.train_groups, "test_groups": self.test_groups,
                "skipped": self.skipped, "stream_clips": self.stream_clips, "stream_models": sorted(self.stream)}
        write_npz(path, y_true=self.y_true.astype(str), meta=np.array(json.dumps(meta)), **arrays)

    @classmethod
    def load(cls, path: Path) -> "FoldResult | None":
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                proba = {k[len("proba_"):]: z[k] for k in z.files if k.startswith("proba_")}
                clips = meta["stream_clips"]
                stream = {m: [z[f"stream_{m}_{i}"] for i in range(len(clips))] for m in meta["stream_models"]}
                return cls(z["y_true"], proba, meta["histories"], meta["train_groups"], meta["test_groups"],
                           meta["skipped"], clips, stream)
        except (OSError, KeyError, ValueError):
            return None


def run_fold(data: EmbeddedDataset, classes: list[str], train_clips: list[Clip], test_clips: list[Clip], options: EvaluateOptions) -> FoldResult:
    if options.augment:
        from .augmented import add_augmented_clips

        data, copies = add_augmented_clips(data, train_clips, options.augment, seed=options.seed)
        train_clips = train_clips + copies
    n = options.lstm.lstm.window
    test = data.windows(n, options.test_stride, options.lstm.lstm.label_policy, clips=test_clips)
    lstm = fit(data, options.lstm, clips=train_clips, classes=classes)
    frame = fit(data, options.frame, clips=train_clips, classes=classes)
    frame_proba = frame.predict_frames(test.frames)  # every frame once; windows gather from it
    proba = {
        "frame_last": frame_proba[test.index[:, -1]],
        "frame_mean": frame_proba[test.index].mean(axis=1),
        "lstm": lstm.predict_windows(test.sequences()),
    }
    annotated = [c for c in test_clips if c.is_annotated]
    stream = {"lstm": [], "frame_last": []}
    for clip in annotated:
        emb = data.embeddings[clip.id].embeddings
        stream["lstm"].append(lstm.predict_windows(trailing_windows(emb, n)))
        stream["frame_last"].append(frame.predict_frames(emb))
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


def event_scores(data: EmbeddedDataset, classes: list[str], results: list[FoldResult]) -> dict:
    """Replay figures on the annotated test videos: hits, misses, false triggers/min, onset delay.

    Per-frame probabilities come from the fold's models on windows ending at each frame (the ring
    buffer's view at the model rate); the default ``TriggerPolicy`` turns them into events.
    """
    from .events import ProbRun, score_runs

    by_id = {c.id: c for c in data.clips}
    out = {}
    for model in ("frame_last", "lstm"):
        runs = []
        for r in results:
            for clip_id, probs in zip(r.stream_clips, r.stream.get(model, [])):
                times = data.embeddings[clip_id].times
                duration = float(times[-1] + (times[1] - times[0] if len(times) > 1 else 0.1))
                runs.append(ProbRun(times, probs, by_id[clip_id].segments, duration))
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
    blob = json.dumps({"options": options.to_dict(), "embedder": data.config.to_dict(), "clips": [(c.id, c.group, c.label, [asdict(s) for s in c.segments]) for c in data.clips]}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def evaluate(data: EmbeddedDataset, out: str | Path, options: EvaluateOptions = EvaluateOptions(), log=print) -> dict:
    """Run the K folds (resuming finished ones), write report.json / report.md / plots into ``out``."""
    out = Path(out)
    clips = data.clips
    classes = data.labels
    splits = grouped_folds(clips, options.folds, options.seed)
    key = _config_key(data, options)
    fold_dir = out / "folds"
    results = []
    for k, (tr, te) in enumerate(splits):
        path = fold_dir / f"fold{k}-{key}.npz"
        result = FoldResult.load(path)
        test_groups = sorted({clips[i].group for i in te})
        if result is not None:
            log(f"fold {k + 1}/{len(splits)}: done earlier (test people: {', '.join(test_groups)})")
        else:
            log(f"fold {k + 1}/{len(splits)}: training on {len(tr)} clips, testing on {len(te)} clips of {', '.join(test_groups)}")
            result = run_fold(data, classes, [clips[i] for i in tr], [clips[i] for i in te], options)
            result.save(path)
        fine = summarize([result], classes)
        log("  " + "  ".join(f"{m} acc {fine[m]['accuracy']:.3f} F1 {fine[m]['macro_f1']:.3f}" for m in MODEL_NAMES))
        results.append(result)
    leak = [(i, sorted(set(r.train_groups) & set(r.test_groups))) for i, r in enumerate(results) if set(r.train_groups) & set(r.test_groups)]
    if leak:  # cannot happen with StratifiedGroupKFold; checked because the whole report depends on it
        raise ActionrecError(f"group leakage between training and test in folds {leak}")
    report = {
        "classes": classes,
        "folds": len(splits),
        "windows": int(sum(len(r.y_true) for r in results)),
        "models": summarize(results, classes),
        "config": {"evaluate": options.to_dict(), "embedder": data.config.to_dict(), "dataset": str(data.dataset.root)},
        "groups_per_fold": [{"train": r.train_groups, "test": r.test_groups} for r in results],
        "skipped_short_clips": sorted({s for r in results for s in r.skipped}),
    }
    events = event_scores(data, classes, results)
    if events:
        report["events"] = events
    if any("/" in c for c in classes):
        report["coarse"] = {"classes": sorted({coarse(c) for c in classes}), "models": summarize(results, classes, "coarse")}
    write_reports(out, report, results)
    return report


def markdown_table(report: dict) -> str:
    lines = [
        f"Unseen-people evaluation: {report['folds']} grouped folds, {report['windows']} test windows "
        f"of {report['config']['evaluate']['lstm']['lstm']['window']} frames.",
        "",
        "| model | level | accuracy | macro-F1 |",
        "| --- | --- | ---: | ---: |",
    ]
    levels = [("fine" if "coarse" in report else "label", report["models"])]
    if "coarse" in report:
        levels.append(("coarse", report["coarse"]["models"]))
    for level, models in levels:
        for name in MODEL_NAMES:
            m = models[name]
            lines.append(f"| {name} | {level} | {m['accuracy']:.3f} | {m['macro_f1']:.3f} |")
    lines += ["", "Per-class F1 (fine):", "", "| class | " + " | ".join(MODEL_NAMES) + " |", "| --- |" + " ---: |" * len(MODEL_NAMES)]
    for c in report["classes"]:
        lines.append(f"| {c} | " + " | ".join(f"{report['models'][m]['per_class'][c]['f1']:.3f}" for m in MODEL_NAMES) + " |")
    if report.get("events"):
        lines += ["", "Events on the annotated test videos (default trigger policy):", "",
                  "| model | hits | misses | false/min | false/min on other | median onset delay | Levenshtein acc |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for name, e in report["events"].items():
            delay = f"{e['median_delay'] * 1000:.0f} ms" if e["median_delay"] is not None else "-"
            lines.append(f"| {name} | {e['hits']}/{e['actions']} | {e['misses']} | {e['false_per_minute']:.2f} | "
                         f"{e['false_per_minute_other']:.2f} | {delay} | {e['levenshtein_accuracy']:.3f} |")
    return "\n".join(lines) + "\n"


def write_reports(out: Path, report: dict, results: list[FoldResult]) -> None:
    write_json(out / "report.json", report)
    write_text(out / "report.md", markdown_table(report))
    plot_confusions(out, report)
    plot_learning_curves(out / "learning_curves.png", results)


def _plot(path: Path, draw) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = draw(plt)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    plt.close(fig)


def plot_confusions(out: Path, report: dict) -> None:
    levels = [("fine", report["classes"], report["models"])]
    if "coarse" in report:
        levels.append(("coarse", report["coarse"]["classes"], report["coarse"]["models"]))
    for level, classes, models in levels:
        for name in MODEL_NAMES:
            cm = np.asarray(models[name]["confusion"], float)

            def draw(plt, cm=cm, classes=classes, name=name, level=level):
                norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
                size = 1.5 + 0.55 * len(classes)
                fig, ax = plt.subplots(figsize=(size + 1, size))
                im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
                ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
                ax.set_yticks(range(len(classes)), classes)
                for i in range(len(classes)):
                    for j in range(len(classes)):
                        ax.text(j, i, int(cm[i, j]), ha="center", va="center", fontsize=8, color="white" if norm[i, j] > 0.5 else "black")
                ax.set_xlabel("predicted")
                ax.set_ylabel("true")
                ax.set_title(f"{name} ({level}), rows normalized")
                fig.colorbar(im, ax=ax, fraction=0.046)
                return fig

            _plot(out / f"confusion_{name}_{level}.png", draw)


def plot_learning_curves(path: Path, results: list[FoldResult]) -> None:
    def draw(plt):
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
        for ax, model in zip(axes, ("frame", "lstm")):
            for k, r in enumerate(results):
                h = r.histories.get(model, {})
                if "loss" in h:
                    ax.plot(h["loss"], color=f"C{k}", label=f"fold {k + 1} train")
                if "val_loss" in h:
                    ax.plot(h["val_loss"], color=f"C{k}", linestyle="--", label=f"fold {k + 1} val")
            ax.set_title(f"{model} loss")
            ax.set_xlabel("epoch")
            ax.legend(fontsize=7)
        return fig

    _plot(path, draw)


def print_table(report: dict) -> str:
    """The plain-text table a user reads first."""
    rows = [f"{'model':<12}{'level':<8}{'accuracy':>10}{'macro-F1':>10}"]
    levels = [("fine" if "coarse" in report else "label", report["models"])]
    if "coarse" in report:
        levels.append(("coarse", report["coarse"]["models"]))
    for level, models in levels:
        for name in MODEL_NAMES:
            rows.append(f"{name:<12}{level:<8}{models[name]['accuracy']:>10.3f}{models[name]['macro_f1']:>10.3f}")
    rows.append("")
    rows.append(f"{'F1 per class':<20}" + "".join(f"{m:>12}" for m in MODEL_NAMES))
    for c in report["classes"]:
        rows.append(f"{c:<20}" + "".join(f"{report['models'][m]['per_class'][c]['f1']:>12.3f}" for m in MODEL_NAMES))
    if report.get("events"):
        rows.append("")
    for name, e in report.get("events", {}).items():
        delay = f"{e['median_delay'] * 1000:.0f} ms" if e["median_delay"] is not None else "-"
        rows.append(f"events {name:<11} hits {e['hits']}/{e['actions']}  false {e['false_per_minute']:.2f}/min "
                    f"(on other {e['false_per_minute_other']:.2f}/min)  onset delay {delay}  Levenshtein {e['levenshtein_accuracy']:.3f}")
    return "\n".join(rows)


__all__ = ["EvaluateOptions", "evaluate", "grouped_folds", "summarize", "print_table", "markdown_table"]

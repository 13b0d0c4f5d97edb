"""Evaluation reports: the fold results on disk, report.json, report.md, confusion matrices and learning curves."""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from actionrec.util.atomic import atomic_path, write_json, write_npz, write_text
from actionrec.util.notice import warn

MODEL_NAMES = ("frame_last", "frame_mean", "lstm")


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
    def load(cls, path: Path, classes: list[str] | None = None) -> "FoldResult | None":
        """A finished fold, or None when there is none or it cannot be trusted (then with a warning: the
        fold is recomputed). ``classes``, when given, must be the columns of its probabilities."""
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                proba = {k[len("proba_"):]: z[k] for k in z.files if k.startswith("proba_")}
                clips = meta["stream_clips"]
                stream = {m: [z[f"stream_{m}_{i}"] for i in range(len(clips))] for m in meta["stream_models"]}
                result = cls(z["y_true"], proba, meta["histories"], meta["train_groups"], meta["test_groups"],
                             meta["skipped"], clips, stream)
            problem = result._problem(classes)
        except (OSError, KeyError, ValueError, TypeError, EOFError, zipfile.BadZipFile) as exc:
            problem = f"unreadable: {type(exc).__name__}: {exc}"
        if problem is None:
            return result
        warn(f"{path}: damaged fold file ({problem}); computing this fold again")
        return None

    def _problem(self, classes: list[str] | None) -> str | None:
        """What is wrong with a fold read back (None: nothing); evaluate would otherwise crash on it later."""
        y = self.y_true
        if y.ndim != 1 or y.dtype.kind != "U":
            return f"y_true is {y.dtype} {y.shape}, expected text (W,)"
        if sorted(self.proba) != sorted(MODEL_NAMES):
            return f"probabilities for {sorted(self.proba)}, expected {sorted(MODEL_NAMES)}"
        width = len(classes) if classes is not None else self.proba[MODEL_NAMES[0]].shape[-1]
        runs = [("proba_" + m, p) for m, p in self.proba.items()]
        runs += [(f"stream_{m}_{i}", p) for m, ps in self.stream.items() for i, p in enumerate(ps)]
        for name, p in runs:
            if p.ndim != 2 or p.shape[1] != width or p.dtype.kind != "f" or not np.isfinite(p).all():
                return f"{name} is {p.dtype} {p.shape}, expected finite float (N, {width})"
        if any(len(p) != len(y) for p in self.proba.values()):
            return f"probabilities for {[len(p) for p in self.proba.values()]} windows, expected {len(y)}"
        if classes is not None and not set(y.tolist()) <= set(classes):
            return f"labels {sorted(set(y.tolist()) - set(classes))} are not among the classes"
        lists = (self.train_groups, self.test_groups, self.skipped, self.stream_clips)
        if not isinstance(self.histories, dict) or not all(isinstance(v, list) for v in lists):
            return "its metadata has the wrong types"
        return None


def markdown_table(report: dict) -> str:
    window = report['config']['evaluate']['sequence_model']['lstm']['window']
    lines = [
        f"Unseen-people evaluation: {report['folds']} grouped folds, {report['windows']} test windows of {window} frames.",
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
    lines += short_clip_lines(report.get("skipped_short_clips"), window)
    lines += warning_lines(report)
    return "\n".join(lines) + "\n"


def short_clip_lines(clips: list[str] | None, window: int, fps: float | None = None) -> list[str]:
    """Clips left out for being shorter than a window, as a markdown line (none: no lines): otherwise their
    labels just look rarer than they are."""
    if not clips:
        return []
    rate = f" at {fps:g} fps" if fps else ""
    return ["", f"Not scored, shorter than the model's window of {window} frames{rate}: {len(clips)} clip(s): "
            + ", ".join(clips[:10]) + (", ..." if len(clips) > 10 else "")]


def warning_lines(report: dict) -> list[str]:
    """The report's warnings as a markdown section (none: no lines)."""
    warnings = report.get("warnings") or []
    return ["", "**Warnings**", "", *[f"- {w['message']}" for w in warnings]] if warnings else []


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


def confusion_figure(plt, cm: np.ndarray, names: list[str], title: str):
    """A confusion matrix with rows normalized, counts written in the cells."""
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    size = 1.5 + 0.55 * len(names)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    for i in range(len(names)):
        for j in range(len(names)):
            ax.text(j, i, int(cm[i, j]), ha="center", va="center", fontsize=8, color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{title}, rows normalized")
    fig.colorbar(im, ax=ax, fraction=0.046)
    return fig


def plot_confusions(out: Path, report: dict) -> None:
    levels = [("fine", report["classes"], report["models"])]
    if "coarse" in report:
        levels.append(("coarse", report["coarse"]["classes"], report["coarse"]["models"]))
    for level, classes, models in levels:
        for name in MODEL_NAMES:
            cm = np.asarray(models[name]["confusion"], float)

            _plot(out / f"confusion_{name}_{level}.png",
                  lambda plt, cm=cm, classes=classes, title=f"{name} ({level})": confusion_figure(plt, cm, classes, title))


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


def format_table(report: dict) -> str:
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
    for w in report.get("warnings") or []:
        rows.append(f"\nwarning: {w['message']}")
    return "\n".join(rows)



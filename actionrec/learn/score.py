"""Judge an existing model on a labelled dataset it has never seen, without training: ``actionrec score``.

The dataset's clips get the model's features (its frame rate and ``FeatureSpec``), are cut into every
window of the model's length (stride 1, the model's label policy) and classified once. Scores:
  - fine: windows whose label is one of the model's classes (others cannot be right, so they are counted
    in ``not_in_model`` and left out rather than scored as errors);
  - coarse: every window whose coarse class (``punch`` of ``punch/back_fist``) is among the model's
    coarse classes, predictions summed into coarse classes: a model that knows only ``punch`` is judged
    on ``punch/elbow`` windows at this level;
  - events: on annotated clips, the stream the live loop would see (a window ending at every frame)
    through the default trigger policy, when every labelled move is among the model's classes.
Writes ``report.json`` (``folds`` 0: nothing was trained), ``report.md`` and ``confusion_fine.png`` /
``confusion_coarse.png`` into OUT.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import numpy as np

from actionrec.data.datasets import coarse, load_dataset
from actionrec.errors import ActionrecError
from actionrec.learn.evaluate import scores
from actionrec.learn.models import TrainedModel, load_model
from actionrec.learn.report import _plot, confusion_figure
from actionrec.learn.windows import trailing_windows
from actionrec.util.atomic import write_json, write_text
from actionrec.util.outputs import REPORT, claim_output


def _level(true: np.ndarray, pred: np.ndarray, names: list[str]) -> dict:
    if len(true) == 0:
        return {"windows": 0}
    return {"windows": int(len(true)), **scores(true.tolist(), pred.tolist(), names)}


def score_model(model: str | Path | TrainedModel, dataset: str | Path, out: str | Path,
                cache_dir: str | os.PathLike | None = None, weights: str | os.PathLike | None = None,
                show_progress: bool = True) -> dict:
    """Score ``model`` on ``dataset`` (module docstring) and write the report into ``out``."""
    from actionrec.events.scoring import ProbRun, score_runs
    from actionrec.learn.embedded import embed_dataset_dir

    out = claim_output(out, REPORT, inputs=[dataset])
    trained = model if isinstance(model, TrainedModel) else load_model(model)
    ds = load_dataset(dataset)
    own = trained.embedder(weights) if trained.backbone is not None else None  # a fine-tuned model's MobileNet
    data = embed_dataset_dir(ds, trained.frame_spec, cache_dir, weights, embedder=own, features=trained.features,
                             show_progress=show_progress)
    n = trained.window
    policy = str((trained.config.get("lstm") or {}).get("label_policy", "last"))
    windows = data.windows(n, 1, policy)
    if len(windows) == 0:
        raise ActionrecError(f"{dataset}: no clip is {n} frames long at {trained.frame_spec.fps:g} fps; "
                             "expected at least one window of the model's length")
    proba = trained.predict_windows(windows.sequences())
    classes = np.asarray(trained.classes)
    pred = classes[proba.argmax(axis=1)]
    true = np.asarray(windows.labels)
    known = np.isin(true, classes)
    coarse_names = trained.coarse_classes
    true_coarse = np.array([coarse(t) for t in true])
    pred_coarse = np.asarray(coarse_names)[trained.to_coarse(proba).argmax(axis=1)]
    known_coarse = np.isin(true_coarse, coarse_names)
    report = {
        "model": str(model if not isinstance(model, TrainedModel) else "(in memory)"),
        "dataset": str(ds.root), "classes": trained.classes, "folds": 0, "window": n,
        "windows": int(len(true)), "label_policy": policy, "features": trained.features.name,
        "not_in_model": dict(Counter(true[~known].tolist())),
        "not_in_model_coarse": dict(Counter(true_coarse[~known_coarse].tolist())),
        "models": {trained.kind: _level(true[known], pred[known], trained.classes)},
        "coarse": {"classes": coarse_names,
                   "models": {trained.kind: _level(true_coarse[known_coarse], pred_coarse[known_coarse], coarse_names)}},
    }
    annotated = [c for c in data.clips if c.is_annotated]
    labelled = {s.label for c in annotated for s in c.segments}
    if annotated:
        runs = []
        for clip in annotated:
            emb = data.embeddings[clip.id]
            probs = (trained.predict_frames(emb.embeddings) if trained.kind == "frame"
                     else trained.predict_windows(trailing_windows(emb.embeddings, n)))
            step = float(emb.times[1] - emb.times[0]) if len(emb.times) > 1 else 0.1
            runs.append(ProbRun(emb.times, probs, clip.segments, float(emb.times[-1] + step)))
        events = score_runs(trained.classes, runs).to_dict()
        if labelled <= set(trained.classes):
            report["events"] = {trained.kind: events}
        else:
            # Events are matched by coarse class (a punch event hits a punch segment), so hits, misses and
            # false triggers hold for a model that lacks the fine labels; only the fine sequence does not.
            events.pop("fine_levenshtein_accuracy", None)
            report["events_coarse"] = {trained.kind: events}
            report["events_skipped"] = (f"fine-level event figures: labels {sorted(labelled - set(trained.classes))} "
                                        "are not among the model's classes")
    write_json(out / "report.json", report)
    write_text(out / "report.md", markdown(report))
    for level, names, models in (("fine", trained.classes, report["models"]),
                                 ("coarse", coarse_names, report["coarse"]["models"])):
        m = models[trained.kind]
        if m["windows"]:
            _plot(out / f"confusion_{level}.png", lambda plt, m=m, names=names, level=level:
                  confusion_figure(plt, np.asarray(m["confusion"], float), names, f"{trained.kind} ({level})"))
    return report


def markdown(report: dict) -> str:
    kind = next(iter(report["models"]))
    lines = [f"Score of {report['model']} on {report['dataset']} (no training): {report['windows']} windows of "
             f"{report['window']} frames, {report['features']} features.", "",
             "| level | windows | accuracy | macro-F1 |", "| --- | ---: | ---: | ---: |"]
    for level, m in (("fine", report["models"][kind]), ("coarse", report["coarse"]["models"][kind])):
        if m["windows"]:
            lines.append(f"| {level} | {m['windows']} | {m['accuracy']:.3f} | {m['macro_f1']:.3f} |")
        else:
            lines.append(f"| {level} | 0 | - | - |")
    for key, what in (("not_in_model", "fine"), ("not_in_model_coarse", "coarse")):
        if report[key]:
            lines += ["", f"Windows left out at the {what} level (label not in the model): "
                      + ", ".join(f"{k} {v}" for k, v in sorted(report[key].items()))]
    m = report["models"][kind]
    if m["windows"]:
        lines += ["", "| class | precision | recall | F1 | support |", "| --- | ---: | ---: | ---: | ---: |"]
        lines += [f"| {c} | {v['precision']:.3f} | {v['recall']:.3f} | {v['f1']:.3f} | {v['support']} |"
                  for c, v in m["per_class"].items()]
    for key, level in (("events", ""), ("events_coarse", ", punch/kick only")):
        for name, e in (report.get(key) or {}).items():
            delay = f"{e['median_delay'] * 1000:.0f} ms" if e["median_delay"] is not None else "-"
            lines += ["", f"Events ({name}, default trigger policy{level}): hits {e['hits']}/{e['actions']}, false "
                      f"{e['false_per_minute']:.2f}/min, onset delay {delay}, Levenshtein {e['levenshtein_accuracy']:.3f}"]
    if report.get("events_skipped"):
        lines += ["", f"No event figures: {report['events_skipped']}"]
    return "\n".join(lines) + "\n"

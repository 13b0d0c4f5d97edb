"""Judge an existing model on a labelled dataset it has never seen, without training: ``actionrec score``.

The dataset's clips get the model's features (its frame rate and ``FeatureSpec``), are cut into every
window of the model's length (stride 1, the model's label policy) and classified once. Scores:
  - fine: windows whose label is one of the model's classes (others cannot be right, so they are counted
    in ``not_in_model`` and left out rather than scored as errors);
  - coarse: every window whose coarse class (``punch`` of ``punch/back_fist``) is among the model's
    coarse classes, predictions summed into coarse classes: a model that knows only ``punch`` is judged
    on ``punch/elbow`` windows at this level;
  - timing (annotated clips, label policy ``last``): the coarse level again, split by how far each
    window's label time (its last frame) is from the nearest point where the coarse label changes. Near
    one the label hinges on exactly when a move starts and ends; far from one only on what the move is,
    so the split tells a model that is late or lingers from one that mistakes the move;
  - by label: for each of the dataset's own labels, the share of its windows called each coarse class,
    so a model that lacks ``punch/back_fist`` still shows whether back fists read as punches, and a
    coarse score says which real moves it misses;
  - events: on annotated clips, the stream the live loop would see (a window ending at every frame)
    through the trigger policy (``--enter``, ``--min-frames``; the live loop's default unless given).
Writes ``report.json`` (``folds`` 0: nothing was trained), ``report.md`` and ``confusion_fine.png`` /
``confusion_coarse.png`` into OUT.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from pathlib import Path

import numpy as np

from actionrec.data.datasets import Clip, coarse, load_dataset
from actionrec.errors import ActionrecError
from actionrec.events.trigger import TriggerOptions
from actionrec.learn.evaluate import scores
from actionrec.learn.models import TrainedModel, load_model
from actionrec.learn.report import _plot, confusion_figure, short_clip_lines
from actionrec.learn.windows import trailing_windows
from actionrec.util.atomic import write_json, write_text
from actionrec.util.outputs import SCORE, claim_output


def _level(true: np.ndarray, pred: np.ndarray, names: list[str]) -> dict:
    if len(true) == 0:
        return {"windows": 0}
    return {"windows": int(len(true)), **scores(true.tolist(), pred.tolist(), names)}


# Seconds from the nearest coarse label change. PRECOG's moves last about 1.2 s with 0.5 s of idle between
# them, so most of its windows lie within 0.5 s of a change.
TIMING_BINS = ((0.0, 0.2), (0.2, 0.5), (0.5, math.inf))


def label_changes(clip: Clip) -> np.ndarray:
    """Times (s) in an annotated clip where the coarse label changes (a segment's start or end between two
    different coarse classes; a punch straight after a punch is no change)."""
    edges = sorted({t for s in clip.segments for t in (s.start, s.end)})
    if not edges:
        return np.zeros(0)
    eps = 1e-4
    before = clip.labels_at(np.asarray(edges) - eps)
    after = clip.labels_at(np.asarray(edges) + eps)
    return np.array([t for t, a, b in zip(edges, before, after) if coarse(a) != coarse(b)])


def timing(clip_ids: np.ndarray, label_times: np.ndarray, annotated: list[Clip], true: np.ndarray, pred: np.ndarray,
           names: list[str]) -> list[dict]:
    """Scores of windows (their clip and the time their label is read at) in ``TIMING_BINS`` of distance
    from a change of coarse label in an annotated clip; empty when no annotated clip has a change."""
    changes = {c.id: label_changes(c) for c in annotated}
    distance = np.full(len(true), np.nan)
    for i, (cid, t) in enumerate(zip(clip_ids, label_times)):
        times = changes.get(cid)
        if times is not None and len(times):
            distance[i] = np.min(np.abs(times - t))
    if np.isnan(distance).all():
        return []
    rows = []
    for lo, hi in TIMING_BINS:
        k = (distance >= lo) & (distance < hi)
        level = _level(true[k], pred[k], names)
        rows.append({"from": lo, "to": None if math.isinf(hi) else hi, "windows": level["windows"],
                     **{m: level[m] for m in ("accuracy", "macro_f1") if m in level}})
    return rows


def score_model(model: str | Path | TrainedModel, dataset: str | Path, out: str | Path,
                cache_dir: str | os.PathLike | None = None, weights: str | os.PathLike | None = None,
                show_progress: bool = True, trigger: TriggerOptions | None = None) -> dict:
    """Score ``model`` on ``dataset`` (module docstring) and write the report into ``out``; the events go
    through ``trigger`` (the live loop's default policy when None)."""
    from actionrec.events.scoring import ProbRun, score_runs
    from actionrec.learn.embedded import embed_dataset_dir

    trigger = trigger or TriggerOptions()
    out = claim_output(out, SCORE, inputs=[dataset])
    trained = model if isinstance(model, TrainedModel) else load_model(model)
    ds = load_dataset(dataset)
    labels = {coarse(lab) for lab in ds.labels} | set(ds.labels)
    if not labels & (set(trained.classes) | set(trained.coarse_classes)):
        raise ActionrecError(f"{dataset}: none of its labels ({', '.join(sorted(ds.labels))}) is a class of the model, "
                             f"fine or coarse ({', '.join(trained.classes)}); nothing to score")
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
        "skipped_short_clips": sorted(windows.skipped), "fps": trained.frame_spec.fps,
        "not_in_model": dict(Counter(true[~known].tolist())),
        "not_in_model_coarse": dict(Counter(true_coarse[~known_coarse].tolist())),
        "models": {trained.kind: _level(true[known], pred[known], trained.classes)},
        "coarse": {"classes": coarse_names,
                   "models": {trained.kind: _level(true_coarse[known_coarse], pred_coarse[known_coarse], coarse_names)}},
    }
    report["coarse"]["by_label"] = by_label(true[known_coarse], pred_coarse[known_coarse], coarse_names)
    annotated = [c for c in data.clips if c.is_annotated]
    if policy == "last":
        k = known_coarse
        rows = timing(windows.clip_ids[k], windows.end_times[k], annotated, true_coarse[k], pred_coarse[k], coarse_names)
        if rows:
            report["coarse"]["timing"] = rows
    labelled = {s.label for c in annotated for s in c.segments}
    if annotated:
        runs = []
        for clip in annotated:
            emb = data.embeddings[clip.id]
            probs = (trained.predict_frames(emb.embeddings) if trained.kind == "frame"
                     else trained.predict_windows(trailing_windows(emb.embeddings, n)))
            step = float(emb.times[1] - emb.times[0]) if len(emb.times) > 1 else 0.1
            runs.append(ProbRun(emb.times, probs, clip.segments, float(emb.times[-1] + step)))
        events = score_runs(trained.classes, runs, trigger).to_dict()
        report["trigger"] = trigger.describe()
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


def by_label(true: np.ndarray, pred_coarse: np.ndarray, coarse_names: list[str]) -> list[dict]:
    """Per dataset label (fine, sorted): its windows and the share of them called each coarse class."""
    rows = []
    for label in sorted(set(true.tolist())):
        calls = pred_coarse[true == label]
        rows.append({"label": label, "windows": int(len(calls)),
                     "called": {c: float(np.mean(calls == c)) for c in coarse_names}})
    return rows


def _score_row(name: str, m: dict) -> str:
    """A markdown row: name, windows, accuracy, macro-F1 (dashes when no window was scored)."""
    if not m["windows"]:
        return f"| {name} | 0 | - | - |"
    return f"| {name} | {m['windows']} | {m['accuracy']:.3f} | {m['macro_f1']:.3f} |"


def markdown(report: dict) -> str:
    kind = next(iter(report["models"]))
    lines = [f"Score of {report['model']} on {report['dataset']} (no training): {report['windows']} windows of "
             f"{report['window']} frames, {report['features']} features.", "",
             "| level | windows | accuracy | macro-F1 |", "| --- | ---: | ---: | ---: |"]
    for level, m in (("fine", report["models"][kind]), ("coarse", report["coarse"]["models"][kind])):
        lines.append(_score_row(level, m))
    for key, what in (("not_in_model", "fine"), ("not_in_model_coarse", "coarse")):
        if report[key]:
            lines += ["", f"Windows left out at the {what} level (label not in the model): "
                      + ", ".join(f"{k} {v}" for k, v in sorted(report[key].items()))]
    m = report["models"][kind]
    if m["windows"]:
        lines += ["", "| class | precision | recall | F1 | support |", "| --- | ---: | ---: | ---: | ---: |"]
        lines += [f"| {c} | {v['precision']:.3f} | {v['recall']:.3f} | {v['f1']:.3f} | {v['support']} |"
                  for c, v in m["per_class"].items()]
    labels = report["coarse"].get("by_label")
    if labels:
        names = report["coarse"]["classes"]
        lines += ["", "Coarse calls by the dataset's own labels (share of each label's windows):", "",
                  "| label | windows | " + " | ".join(names) + " |", "| --- | ---: |" + " ---: |" * len(names)]
        lines += [f"| {r['label']} | {r['windows']} | " + " | ".join(f"{r['called'][c]:.2f}" for c in names) + " |"
                  for r in labels]
    rows = report["coarse"].get("timing")
    if rows:
        lines += ["", "Coarse level by the distance of a window's last frame from the nearest change of coarse label "
                  "(near one: when moves start and end; far: which move it is):", "",
                  "| from a change | windows | accuracy | macro-F1 |", "| --- | ---: | ---: | ---: |"]
        for r in rows:
            lines.append(_score_row(f"{r['from']:g}-{r['to']:g} s" if r["to"] is not None else f">= {r['from']:g} s", r))
    for key, level in (("events", ""), ("events_coarse", ", punch/kick only")):
        for name, e in (report.get(key) or {}).items():
            delay = f"{e['median_delay'] * 1000:.0f} ms" if e["median_delay"] is not None else "-"
            trigger = report.get("trigger", "default trigger policy")
            lines += ["", f"Events ({name}, {trigger}{level}): hits {e['hits']}/{e['actions']}, false "
                      f"{e['false_per_minute']:.2f}/min, onset delay {delay}, Levenshtein {e['levenshtein_accuracy']:.3f}"]
    if report.get("events_skipped"):
        lines += ["", f"No event figures: {report['events_skipped']}"]
    lines += short_clip_lines(report.get("skipped_short_clips"), report["window"], report.get("fps"))
    return "\n".join(lines) + "\n"

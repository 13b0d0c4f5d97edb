"""Does the starter transfer better to real people it never saw when it also trains on real skeletons?

Leak-free experiment (issue 15): PRECOG's 12 people in 4 folds grouped by person (``grouped_folds``, seed
0: the folds of ``actionrec evaluate`` on a PRECOG import). In every fold three models, all on coarse
labels (punch, kick, other: the synthetic and PRECOG fine classes differ), with the starter's settings
(``StarterOptions`` and ``starter_spec``: its synthetic people, window, epochs, batches, seed):

  a    the starter's synthetic people only (one model for every fold: it never sees PRECOG);
  b    the synthetic people plus the fold's 9 training PRECOG people, imported at camera yaws -45, 0, 45;
  c    the fold's 9 training PRECOG people only (same imports), for reference;
  fine (``--fine``) the shipped starter itself: synthetic people on their fine labels, scored coarse.

Each is scored (``score_model``) on the fold's 3 held-out people imported at yaw 0 and at yaw 45: coarse
macro-F1 by window (every window, stride 1, label of its last frame) and coarse events (hits, false
triggers per minute, default trigger policy). ``--synthetic-test N`` also scores every model on N new
synthetic webcam people (the next seed): the side of the live camera, which PRECOG (a Kinect) is not.
Everything lands in OUT; a rerun reuses the imports, the synthetic set, the embeddings and every model
already trained, and writes ``summary.json`` / ``summary.md``.

Measured (80 people, 4 folds, ``--fine --synthetic-test 10``; 34 min on 2 busy cores; windows of 16 frames,
before the starter's 8): coarse macro-F1 on
held-out PRECOG people at yaw 0 / 45, then on the new synthetic people:
  a     0.567 / 0.632, synthetic 0.944 (fine: 0.587 / 0.613, 0.938)
  b     0.764 / 0.772, synthetic 0.946 (but punch/kick events hit 244/363 at yaw 0 against c's 294/363)
  c     0.776 / 0.771, synthetic 0.479 (12-19 false triggers a minute there)
Real skeletons lift held-out real people by ~0.17 without costing the synthetic webcam people anything;
the synthetic people add nothing on PRECOG itself, but without them the model fails the webcam side.

    python -m actionrec.tools.starter_real OUT [--people 80] [--epochs 40] [--folds 4] [--only-folds 0,1] [--fine] [--synthetic-test 10]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from actionrec.tools.starter import PRECOG, STARTER_FEATURES, StarterOptions, starter_spec

TRAIN_YAWS = (-45.0, 0.0, 45.0)
TEST_YAWS = (0.0, 45.0)
COARSE = ["kick", "other", "punch"]
ARMS = ("a", "b", "c", "fine")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _person(path: Path) -> str:
    stem = path.name[:path.name.lower().index(".csv")]
    return f"person{stem.rsplit('_', 1)[-1]}"  # import_kinect's group name


def _import(src: Path, out: Path, labels: dict, yaw) -> Path:
    from actionrec.data.kinect import import_kinect, is_kinect_import

    if not is_kinect_import(out):
        import_kinect(src, out, labels, yaw=yaw)
    return out


def _test_sources(out: Path, precog: Path, people: list[str]) -> Path:
    """A folder of links to the held-out people's sequences: what their test imports are made of."""
    src = out / "src"
    src.mkdir(parents=True, exist_ok=True)
    for f in sorted(precog.glob("*.csv*")):
        if _person(f) in people and not (src / f.name).exists():
            os.symlink(f.resolve(), src / f.name)
    return src


def _train(data, clips, classes, spec, model_dir: Path, timings: dict, name: str, timings_path: Path):
    from actionrec.learn.models import load_model
    from actionrec.learn.train import fit

    if name in timings and model_dir.is_dir():
        log(f"{name}: trained earlier ({model_dir})")
        return load_model(model_dir)
    started = time.perf_counter()
    windows = data.windows(spec.lstm.window, spec.lstm.stride, spec.lstm.label_policy, clips)
    log(f"{name}: training on {len(clips)} clips, {len(windows)} windows, {len({c.group for c in clips})} people")
    model = fit(data, spec, clips=clips, classes=classes)
    model.config["spec"] = spec.to_dict()
    model.config["experiment"] = name
    model.save(model_dir, overwrite=True)
    timings[name] = {"seconds": time.perf_counter() - started, "epochs": len(model.history.get("loss", []))}
    timings_path.write_text(json.dumps(timings, indent=1))
    log(f"{name}: trained in {timings[name]['seconds']:.0f} s, {timings[name]['epochs']} epochs")
    return model


def _score(model_dir: Path, test: Path, out: Path) -> dict:
    from actionrec.learn.score import score_model

    report = score_model(model_dir, test, out, show_progress=False)
    c = report["coarse"]["models"]["lstm"]
    events = (report.get("events_coarse") or report.get("events") or {}).get("lstm")
    row = {"macro_f1": c["macro_f1"], "accuracy": c["accuracy"], "windows": c["windows"],
           "f1": {k: v["f1"] for k, v in c["per_class"].items()}}
    if events:
        row.update(hits=events["hits"], actions=events["actions"], false_per_minute=events["false_per_minute"])
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--people", type=int, default=StarterOptions.people)
    parser.add_argument("--epochs", type=int, default=StarterOptions.epochs)
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--only-folds", default="", help="comma-separated fold indices (default: all)")
    parser.add_argument("--arms", default="a,b,c", help=f"comma-separated among {','.join(ARMS)}")
    parser.add_argument("--fine", action="store_true", help="also the fine-label synthetic model (arm fine)")
    parser.add_argument("--synthetic-test", type=int, default=0, metavar="N",
                        help="also score every model on N new synthetic webcam people (seed + 1): the live camera's side")
    parser.add_argument("--precog", type=Path, default=PRECOG)
    args = parser.parse_args(argv)

    from actionrec.data.datasets import load_dataset
    from actionrec.data.kinect import read_label_map
    from actionrec.data.video import FrameSpec
    from actionrec.features.spec import FeatureSpec
    from actionrec.learn.embedded import coarse_labels, embed_dataset_dir, join_embedded
    from actionrec.learn.evaluate import grouped_folds
    from actionrec.synth.dataset import synthesize
    from actionrec.synth.options import webcam_options

    started = time.perf_counter()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    arms = [a for a in args.arms.split(",") if a] + (["fine"] if args.fine else [])
    opts = dataclasses.replace(StarterOptions(), people=args.people, epochs=args.epochs)
    labels = read_label_map(args.precog / "label_map.txt")
    timings_path = out / "timings.json"
    timings = json.loads(timings_path.read_text()) if timings_path.exists() else {}

    # The folds: those of `actionrec evaluate --folds K` on a yaw-0 import of all 12 people.
    everyone = _import(args.precog, out / "precog-yaw0", labels, 0.0)
    clips = load_dataset(everyone).clips
    splits = grouped_folds(clips, args.folds, opts.seed)
    folds = [sorted({clips[i].group for i in te}) for _, te in splits]
    for k, people in enumerate(folds):
        log(f"fold {k}: held out {', '.join(people)}")
    todo = [int(k) for k in args.only_folds.split(",")] if args.only_folds else list(range(len(folds)))

    t = time.perf_counter()
    synth_dir = out / f"synth{opts.people}"
    synthesize(synth_dir, people=opts.people, clips_per_class=opts.clips_per_class, seed=opts.seed,
               sparring_per_person=opts.sparring_per_person, sparring_seconds=opts.sparring_seconds,
               options=webcam_options(keypoints=True, keypoint_noise=opts.keypoint_noise))
    features = FeatureSpec.parse(STARTER_FEATURES)
    synth = embed_dataset_dir(synth_dir, FrameSpec(), features=features, show_progress=False)
    real_dir = _import(args.precog, out / "precog-train-yaws", labels, TRAIN_YAWS)
    real = embed_dataset_dir(real_dir, FrameSpec(), features=features, show_progress=False)
    log(f"synthetic: {len(synth.clips)} clips of {opts.people} people; PRECOG at yaws {list(TRAIN_YAWS)}: "
        f"{len(real.clips)} clips ({time.perf_counter() - t:.0f} s to synthesize, import and embed)")

    spec = starter_spec(opts)  # the shipped starter's training, for every arm
    synth_coarse, real_coarse = coarse_labels(synth), coarse_labels(real)
    models = out / "models"
    results_path = out / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}

    def scored(arm: str, k: int, model_dir: Path) -> None:
        fold_dir = out / "test" / f"fold{k}"
        src = _test_sources(fold_dir, args.precog, folds[k])
        for yaw in TEST_YAWS:
            key = f"{arm}/fold{k}/yaw{yaw:g}"
            if key in results:
                continue
            test = _import(src, fold_dir / f"yaw{yaw:g}", labels, yaw)
            results[key] = _score(model_dir, test, out / "scores" / f"{arm}-fold{k}-yaw{yaw:g}")
            r = results[key]
            ev = f", events {r['hits']}/{r['actions']} hit, {r['false_per_minute']:.2f} false/min" if "hits" in r else ""
            log(f"  {key}: coarse macro-F1 {r['macro_f1']:.3f} (acc {r['accuracy']:.3f}, {r['windows']} windows{ev})")
        results_path.write_text(json.dumps(results, indent=1))
        timings_path.write_text(json.dumps(timings, indent=1))
        write_summary(out, results, timings, folds, arms, opts, time.perf_counter() - started)

    def synthetic_only(arm: str, data, classes) -> None:  # never sees PRECOG: one model serves every fold
        if arm in arms:
            _train(data, data.clips, classes, spec, models / arm, timings, arm, timings_path)
            for k in todo:
                scored(arm, k, models / arm)

    synthetic_only("a", synth_coarse, COARSE)
    for k in todo:
        train_real = [c for c in real_coarse.clips if c.group not in folds[k]]
        assert not {c.group for c in train_real} & set(folds[k])
        if "b" in arms:
            part = dataclasses.replace(real_coarse, clips=train_real)
            joined = join_embedded({"synth": synth_coarse, "precog": part})
            _train(joined, joined.clips, COARSE, spec, models / f"b-fold{k}", timings, f"b/fold{k}", timings_path)
            scored("b", k, models / f"b-fold{k}")
        if "c" in arms:
            _train(real_coarse, train_real, COARSE, spec, models / f"c-fold{k}", timings, f"c/fold{k}", timings_path)
            scored("c", k, models / f"c-fold{k}")
    synthetic_only("fine", synth, None)  # last: the least needed
    if args.synthetic_test:
        test = out / f"synth-test{args.synthetic_test}"
        synthesize(test, people=args.synthetic_test, clips_per_class=opts.clips_per_class, seed=opts.seed + 1,
                   sparring_per_person=opts.sparring_per_person, sparring_seconds=opts.sparring_seconds,
                   options=webcam_options(keypoints=True, keypoint_noise=opts.keypoint_noise))
        for model_dir in sorted(p for p in models.iterdir() if p.is_dir()):
            arm, _, fold = model_dir.name.partition("-")
            key = f"{arm}/synthetic" + (f"/{fold}" if fold else "")
            if key not in results:
                results[key] = _score(model_dir, test, out / "scores" / f"{model_dir.name}-synthetic")
                r = results[key]
                log(f"  {key}: coarse macro-F1 {r['macro_f1']:.3f} (acc {r['accuracy']:.3f}, {r['windows']} windows, "
                    f"events {r.get('hits')}/{r.get('actions')} hit, {r.get('false_per_minute', float('nan')):.2f} false/min)")
        results_path.write_text(json.dumps(results, indent=1))
        write_summary(out, results, timings, folds, arms, opts, time.perf_counter() - started)
    log(f"done in {time.perf_counter() - started:.0f} s")
    return 0


def write_summary(out: Path, results: dict, timings: dict, folds: list, arms: list, opts, seconds: float) -> None:
    names = {"a": "a: synthetic (coarse)", "b": "b: synthetic + 9 PRECOG x 3 yaws", "c": "c: 9 PRECOG x 3 yaws",
             "fine": "synthetic (fine labels, the shipped starter)"}
    order = [a for a in ("a", "b", "c", "fine") if any(k.startswith(a + "/") for k in results)]
    lines = [f"Held-out PRECOG people, coarse punch/kick/other, {opts.people} synthetic people, "
             f"{len(folds)} folds ({', '.join('/'.join(p.replace('person', '') for p in f) for f in folds)} held out).", "",
             "| arm | yaw | macro-F1 mean | per fold | hits | false/min |", "| --- | ---: | ---: | --- | ---: | ---: |"]
    summary = {}
    for arm in order:
        for yaw in TEST_YAWS:
            rows = [results.get(f"{arm}/fold{k}/yaw{yaw:g}") for k in range(len(folds))]
            done = [r for r in rows if r]
            if not done:
                continue
            f1 = [r["macro_f1"] for r in done]
            hits = sum(r.get("hits", 0) for r in done)
            actions = sum(r.get("actions", 0) for r in done)
            fpm = float(np.mean([r["false_per_minute"] for r in done if "false_per_minute" in r] or [np.nan]))
            per = " ".join(f"{r['macro_f1']:.3f}" if r else "-" for r in rows)
            summary[f"{arm}/yaw{yaw:g}"] = {"mean": float(np.mean(f1)), "folds": len(done), "per_fold": [r and r["macro_f1"] for r in rows],
                                           "hits": hits, "actions": actions, "false_per_minute_mean": fpm}
            lines.append(f"| {names[arm]} | {yaw:g} | {np.mean(f1):.3f} ({len(done)} folds) | {per} | {hits}/{actions} | {fpm:.2f} |")
    synthetic = {k: v for k, v in results.items() if "/synthetic" in k}
    if synthetic:
        lines += ["", "New synthetic webcam people (seed + 1), coarse:", "",
                  "| arm | macro-F1 mean | per model | hits | false/min |", "| --- | ---: | --- | ---: | ---: |"]
        for arm in order:
            rows = [v for k, v in sorted(synthetic.items()) if k.split("/")[0] == arm]
            if rows:
                f1 = [r["macro_f1"] for r in rows]
                summary[f"{arm}/synthetic"] = {"mean": float(np.mean(f1)), "per_model": f1}
                lines.append(f"| {names[arm]} | {np.mean(f1):.3f} | {' '.join(f'{x:.3f}' for x in f1)} | "
                             f"{sum(r.get('hits', 0) for r in rows)}/{sum(r.get('actions', 0) for r in rows)} | "
                             f"{np.mean([r.get('false_per_minute', np.nan) for r in rows]):.2f} |")
    lines += ["", f"Time so far: {seconds:.0f} s. Training: " + ", ".join(
        f"{k} {v['seconds']:.0f} s ({v['epochs']} ep)" for k, v in timings.items())]
    (out / "summary.json").write_text(json.dumps({"summary": summary, "folds": folds, "timings": timings,
                                                   "people": opts.people, "seconds": seconds}, indent=1))
    (out / "summary.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())

"""Size advice: the same evaluation at several model input sizes, compared in one report.

People who are small in the frame (surveillance, a room seen from a corner) need more pixels than the
article's 100x56, which suits a person filling a webcam picture; embedding cost grows with the pixels.

Layout of ``out``: ``report.json`` / ``report.md`` compare the sizes; ``WxH/`` holds each size's full
report (plots included); ``folds/`` the finished folds of every size (their names carry the embedder
config, so the sizes never collide), so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from actionrec.data.video import FrameSpec
from actionrec.errors import ActionrecError
from actionrec.learn.report import MODEL_NAMES
from actionrec.util.atomic import write_json, write_text
from actionrec.util.outputs import REPORT, claim_output

CLOSE = 0.01  # a smaller size whose LSTM accuracy is this close to the best one is advised instead (cheaper)


def parse_sizes(text: str, base: FrameSpec = FrameSpec()) -> list[FrameSpec]:
    """``"100x56,224x224"`` -> one FrameSpec per size (``base``'s rate and colour), in the given order."""
    specs = []
    for part in (p.strip() for p in str(text).split(",")):
        try:
            w, h = (int(v) for v in part.lower().split("x"))
            if w < 32 or h < 32:
                raise ValueError
        except ValueError:
            raise ActionrecError(f"--size {text!r}: {part!r} is not WIDTHxHEIGHT of at least 32x32; "
                                 "expected e.g. 100x56 or a list 100x56,224x224") from None
        spec = replace(base, width=w, height=h)
        if spec in specs:
            raise ActionrecError(f"--size {text!r}: {part} is listed twice")
        specs.append(spec)
    return specs


def size_name(spec: FrameSpec) -> str:
    return f"{spec.width}x{spec.height}"


def evaluate_sizes(dataset: str | Path, specs: list[FrameSpec], out: str | Path, options, cache_dir: str | os.PathLike | None = None,
                   weights: str | os.PathLike | None = None, log=print, features=None, ray=None, also=()) -> dict:
    """Embed (cached) and evaluate at every size; write the comparison after each size (resumable).

    ``features`` (a ``FeatureSpec``), ``ray`` (``RayOptions``) and ``also`` (more datasets to train on) as for
    ``embed_dataset_dir`` and ``evaluate``."""
    from actionrec.data.datasets import load_dataset
    from actionrec.learn.embedded import embed_dataset_dir
    from actionrec.learn.evaluate import evaluate

    if len(specs) < 2:
        raise ActionrecError("size comparison needs at least 2 sizes; for one size run the plain evaluation")
    ds = load_dataset(dataset)
    out = claim_output(out, REPORT, inputs=[ds.root, *also])
    reports = {}
    for spec in specs:
        name = size_name(spec)
        log(f"size {name}: embedding (cached) and evaluating")
        data = embed_dataset_dir(ds, spec, cache_dir, weights, features=features, ray=ray, also=also)
        reports[name] = evaluate(data, out / name, options, log=lambda msg: log("  " + msg), fold_dir=out / "folds",
                                 ray=ray)
        comparison = compare(reports, specs)
        write_json(out / "report.json", comparison)
        write_text(out / "report.md", comparison_markdown(comparison))
    return comparison


def compare(reports: dict[str, dict], specs: list[FrameSpec]) -> dict:
    """The comparison report: each model's accuracy and macro-F1 per size, the advice, the warnings."""
    first = next(iter(reports.values()))
    pixels = {size_name(s): s.width * s.height for s in specs}
    names = list(reports)
    models = {m: {s: {k: r["models"][m][k] for k in ("accuracy", "macro_f1")} for s, r in reports.items()} for m in MODEL_NAMES}
    warnings = [{**w, "size": s, "message": f"{s}: {w['message']}"} for s, r in reports.items() for w in r.get("warnings", [])]
    return {
        "classes": first["classes"],
        "folds": first["folds"],
        "sizes": names,
        "pending": [size_name(s) for s in specs if size_name(s) not in reports],
        "models": models,  # model -> size -> accuracy, macro_f1 (window level, mean over folds)
        "reports": {s: f"{s}/report.json" for s in names},
        "windows": {s: r["windows"] for s, r in reports.items()},
        "advice": advice(models["lstm"], pixels),
        "warnings": warnings,
    }


def advice(lstm: dict[str, dict], pixels: dict[str, int]) -> dict:
    """The size to use for the LSTM: the best accuracy, or a smaller size within ``CLOSE`` of it."""
    best = max(lstm, key=lambda s: lstm[s]["accuracy"])
    close = [s for s in lstm if lstm[s]["accuracy"] >= lstm[best]["accuracy"] - CLOSE]
    pick = min(close, key=lambda s: pixels[s])
    others = ", ".join(f"{lstm[s]['accuracy']:.3f} at {s}" for s in lstm if s != pick)
    why = f"LSTM window accuracy {lstm[pick]['accuracy']:.3f} at {pick}" + (f" vs {others}" if others else ", the only size evaluated so far")
    if pick != best:
        why += f" (within {CLOSE} of the best, with {pixels[best] / pixels[pick]:.1f}x fewer pixels to embed)"
    return {"size": pick, "reason": why}


def comparison_markdown(c: dict) -> str:
    lines = [f"Size comparison: {c['folds']} grouped folds per size, window accuracy (macro-F1).", "",
             "| size | " + " | ".join(MODEL_NAMES) + " |", "| --- |" + " ---: |" * len(MODEL_NAMES)]
    for s in c["sizes"]:
        cells = [f"{c['models'][m][s]['accuracy']:.3f} ({c['models'][m][s]['macro_f1']:.3f})" for m in MODEL_NAMES]
        lines.append(f"| [{s}]({c['reports'][s].replace('report.json', 'report.md')}) | " + " | ".join(cells) + " |")
    if c["pending"]:
        lines += ["", f"Not evaluated yet: {', '.join(c['pending'])} (a rerun resumes)."]
    lines += ["", f"Advice: --size {c['advice']['size']}: {c['advice']['reason']}."]
    if c["warnings"]:
        lines += ["", "**Warnings**", "", *[f"- {w['message']}" for w in c["warnings"]]]
    return "\n".join(lines) + "\n"


def format_comparison(c: dict) -> str:
    """The plain-text table a user reads first."""
    rows = [f"{'size':<12}" + "".join(f"{m:>14}" for m in MODEL_NAMES) + "   (window accuracy)"]
    for s in c["sizes"]:
        rows.append(f"{s:<12}" + "".join(f"{c['models'][m][s]['accuracy']:>14.3f}" for m in MODEL_NAMES))
    rows.append(f"\nadvice: --size {c['advice']['size']}: {c['advice']['reason']}")
    rows += [f"warning: {w['message']}" for w in c["warnings"]]
    return "\n".join(rows)

"""Each training lever alone, and the shipped defaults, on one dataset: which of them moves the LSTM.

    python -m actionrec.tools.levers DATASET --out reports/levers --size 224x224 --folds 5 [--window N]

Every row is a full ``evaluate`` (grouped folds, people or sources held out) with the LSTM's options fixed
as the row says; the frame baselines keep their own settings, so only the features rows move them.
``before`` is the LSTM as it was tuned on synthetic fighters (early stopping on 20 % of the groups, no
other regularizer, MobileNet features); each lever row adds one thing to it; ``shipped`` leaves every
option to the shipped rule (``learn/regularization.py``) and the default features, and the ``shipped +``
rows add one regularizer to that. ``--window`` sets every row's window length (frames; the LSTM's and the
evaluated windows', so the baselines are scored on the same windows). Each row's report is in
``OUT/ROW/`` and resumes like any evaluation; ``OUT/levers.json`` and ``levers.md`` hold the table.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field, replace
from pathlib import Path

from actionrec.data.video import FrameSpec
from actionrec.errors import ActionrecError
from actionrec.features.spec import FeatureSpec, default_features
from actionrec.learn.evaluate import evaluate, evaluate_options
from actionrec.learn.models import LSTMOptions
from actionrec.learn.regularization import LARGE, with_fixed
from actionrec.learn.report import MODEL_NAMES
from actionrec.learn.temporal import TemporalAugment
from actionrec.learn.train import finetune_training
from actionrec.util.atomic import write_json, write_text
from actionrec.util.outputs import LEVERS, claim_output

BEFORE = dict(LARGE)  # the synthetic-tuned settings: early stopping, nothing else


@dataclass(frozen=True)
class Row:
    name: str
    features: str | None  # None: the default features
    fixed: dict = field(default_factory=dict)  # the sequence model's options this row fixes
    over: str = "before"  # fixed over BEFORE, or over "shipped" (every other option left to the shipped rule)


ROWS: tuple[Row, ...] = (
    Row("before: mobilenet, early stopping", "mobilenet"),
    Row("+ every group trains, no early stopping", "mobilenet", dict(patience=0, val_fraction=0.0)),
    Row("+ weight decay 0.004 (AdamW)", "mobilenet", dict(weight_decay=0.004)),
    Row("+ cosine learning rate", "mobilenet", dict(schedule="cosine")),
    Row("+ label smoothing 0.1", "mobilenet", dict(label_smoothing=0.1)),
    Row("+ temporal augmentation", "mobilenet", dict(temporal=TemporalAugment())),
    Row("+ projection 64", "mobilenet", dict(projection=64)),
    Row("+ motion stream (mobilenet+diff)", "mobilenet+diff"),
    Row("shipped defaults", None, over="shipped"),
    # Last: 20-65 times the cost of an epoch on cached embeddings (README, Fine-tuning).
    Row("+ fine-tuning MobileNet's top 2 blocks", "mobilenet", dict(finetune=2)),
    # Keras' default decay (row 2) moved no prediction: at a rate of 1e-3 it takes 4e-6 of a weight per step.
    Row("+ weight decay 0.1 (AdamW)", "mobilenet", dict(weight_decay=0.1)),
    # Over early stopping the best epoch is 0-3 on survfight-dev, too soon for a regularizer to act: each
    # again over the shipped rule, which on small data trains every epoch.
    Row("shipped + weight decay 0.1", None, dict(weight_decay=0.1), over="shipped"),
    Row("shipped + cosine learning rate", None, dict(schedule="cosine"), over="shipped"),
    Row("shipped + label smoothing 0.1", None, dict(label_smoothing=0.1), over="shipped"),
    Row("shipped + temporal augmentation", None, dict(temporal=TemporalAugment()), over="shipped"),
    Row("shipped + 3 LSTMs averaged in one model", None, dict(members=3), over="shipped"),
    # A data lever, not a training option: every model of the row trains on the copies, the baselines too.
    Row("shipped + 1 augmented copy of each training clip", None, dict(augment=1), over="shipped"),
    Row("shipped + the window's mean features beside the LSTM", None, dict(window_mean=True), over="shipped"),
)


def row_options(base, row: Row):
    """``base`` (EvaluateOptions) with the sequence model's options the row fixes, over BEFORE or the shipped rule."""
    chosen = {**BEFORE, **row.fixed} if row.over == "before" else dict(row.fixed)
    finetune = chosen.pop("finetune", 0)
    if "augment" in chosen:  # the evaluation's, not the sequence model's: the baselines train on the copies too
        base = replace(base, augment=chosen.pop("augment"))
    if not chosen and not finetune:
        return base
    seq = base.sequence_model
    lstm, train = with_fixed(seq.lstm, replace(seq.train, **finetune_training(finetune)), chosen)
    return replace(base, sequence_model=replace(seq, lstm=lstm, train=train, finetune=finetune))


def run_levers(dataset: Path, out: Path, frame_spec: FrameSpec, folds: int, seed: int, epochs: int,
               rows: list[int] | None = None, weights=None, log=print, window: int = LSTMOptions.window) -> list[dict]:
    """The rows of ``ROWS`` numbered in ``rows`` (default all); each row's report in ``out/rowN``, windows of
    ``window`` frames."""
    from actionrec.learn.embedded import embed_dataset_dir, frames_dataset_dir

    out = claim_output(out, LEVERS, inputs=[dataset])
    base = evaluate_options(folds=folds, seed=seed, epochs=epochs, window=window)
    table, data = [], {}
    rows = list(range(len(ROWS))) if rows is None else rows
    for i in rows:
        row = ROWS[i]
        name = row.name
        features = FeatureSpec.parse(row.features) if row.features else default_features()
        if features.kind not in data:
            data[features.kind] = embed_dataset_dir(dataset, frame_spec, weights=weights, features=features)
        options = row_options(base, row)
        frames = None
        if options.sequence_model.finetune:
            frames = frames_dataset_dir(dataset, frame_spec, weights=weights, features=features)
        log(f"[row {i}] {name} ({features.name})")
        report = evaluate(data[features.kind], out / f"row{i}", options, log=lambda m: log("    " + m), frames=frames)
        table.append({"row": name, "features": features.name,
                      **{m: report["models"][m]["accuracy"] for m in MODEL_NAMES},
                      "macro_f1": {m: report["models"][m]["macro_f1"] for m in MODEL_NAMES},
                      "report": f"row{i}"})
        _write(out, table, dataset, frame_spec, folds, seed, window)
    return table


def _write(out: Path, table: list[dict], dataset: Path, spec: FrameSpec, folds: int, seed: int, window: int) -> None:
    write_json(out / "levers.json", {"dataset": str(dataset), "size": f"{spec.width}x{spec.height}", "folds": folds,
                                     "seed": seed, "window": window, "rows": table})
    lines = [f"Window accuracy on held-out groups, {dataset.name}, {spec.width}x{spec.height}, {folds} folds, seed {seed}, "
             f"windows of {window} frames",
             "", "| lever | " + " | ".join(MODEL_NAMES) + " |", "| --- |" + " ---: |" * len(MODEL_NAMES)]
    lines += [f"| {r['row']} | " + " | ".join(f"{r[m]:.3f}" for m in MODEL_NAMES) + " |" for r in table]
    write_text(out / "levers.md", "\n".join(lines) + "\n")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dataset", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--size", default="224x224")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--rows", default="", help="Row numbers to run, e.g. 0,8 (default: all)")
    p.add_argument("--window", type=int, default=LSTMOptions.window, help="Frames per window (default: the LSTM's)")
    a = p.parse_args(argv)
    try:
        w, h = (int(v) for v in a.size.lower().split("x"))
        rows = [int(i) for i in a.rows.split(",")] if a.rows else None
        if rows and not all(0 <= i < len(ROWS) for i in rows):
            raise ValueError
    except ValueError:
        raise SystemExit(f"error: --size {a.size!r} / --rows {a.rows!r}: expected WIDTHxHEIGHT and row numbers 0-{len(ROWS) - 1}")
    if a.window < 2:
        raise SystemExit(f"error: --window {a.window}: expected 2 or more frames")
    try:
        run_levers(a.dataset, a.out, FrameSpec(width=w, height=h), a.folds, a.seed, a.epochs, rows, window=a.window)
    except ActionrecError as e:
        raise SystemExit(f"error: {e}")
    print((a.out / "levers.md").read_text())


if __name__ == "__main__":
    main()

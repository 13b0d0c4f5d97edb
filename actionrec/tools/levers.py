"""Each training lever alone, and the shipped defaults, on one dataset: which of them moves the LSTM.

    python -m actionrec.tools.levers DATASET --out reports/levers --size 224x224 --folds 5

Every row is a full ``evaluate`` (grouped folds, people or sources held out) with the LSTM's options fixed
as the row says; the frame baselines keep their own settings, so only the features rows move them.
``before`` is the LSTM as it was tuned on synthetic fighters (early stopping on 20 % of the groups, no
other regularizer, MobileNet features); each lever row adds one thing to it; ``shipped`` leaves every
option to the shipped rule (``learn/regularization.py``) and the default features. Each row's report is in
``OUT/ROW/`` and resumes like any evaluation; ``OUT/levers.json`` and ``levers.md`` hold the table.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from actionrec.data.video import FrameSpec
from actionrec.errors import ActionrecError
from actionrec.features.spec import FeatureSpec, default_features
from actionrec.learn.evaluate import evaluate, evaluate_options
from actionrec.learn.regularization import LARGE
from actionrec.learn.report import MODEL_NAMES
from actionrec.learn.temporal import TemporalAugment
from actionrec.learn.train import FINETUNE_BATCH, FINETUNE_LEARNING_RATE
from actionrec.util.atomic import write_json, write_text
from actionrec.util.outputs import REPORT, claim_output

_LSTM_KEYS = ("projection", "input_dropout", "dropout")
BEFORE = dict(LARGE)  # the synthetic-tuned settings: early stopping, nothing else
# (row name, features (None: the default), options over BEFORE (None: all left to the shipped rule))
ROWS: tuple[tuple[str, str | None, dict | None], ...] = (
    ("before: mobilenet, early stopping", "mobilenet", {}),
    ("+ every group trains, no early stopping", "mobilenet", dict(patience=0, val_fraction=0.0)),
    ("+ weight decay 0.004 (AdamW)", "mobilenet", dict(weight_decay=0.004)),
    ("+ cosine learning rate", "mobilenet", dict(schedule="cosine")),
    ("+ label smoothing 0.1", "mobilenet", dict(label_smoothing=0.1)),
    ("+ temporal augmentation", "mobilenet", dict(temporal=TemporalAugment())),
    ("+ projection 64", "mobilenet", dict(projection=64)),
    ("+ motion stream (mobilenet+diff)", "mobilenet+diff", {}),
    ("shipped defaults", None, None),
    # Last: 20-65 times the cost of an epoch on cached embeddings (README, Fine-tuning).
    ("+ fine-tuning MobileNet's top 2 blocks", "mobilenet", dict(finetune=2)),
    # Keras' default decay (row 2) moved no prediction: at a rate of 1e-3 it takes 4e-6 of a weight per step.
    ("+ weight decay 0.1 (AdamW)", "mobilenet", dict(weight_decay=0.1)),
)


def row_options(base, overrides: dict | None):
    """``base`` (EvaluateOptions) with the sequence model's options fixed: BEFORE plus ``overrides``."""
    if overrides is None:
        return base
    chosen = {**BEFORE, **overrides}
    finetune = chosen.pop("finetune", 0)
    seq = base.sequence_model
    lstm = replace(seq.lstm, **{k: chosen[k] for k in _LSTM_KEYS})
    tuning = dict(learning_rate=FINETUNE_LEARNING_RATE, batch_size=FINETUNE_BATCH) if finetune else {}
    train = replace(seq.train, **{k: v for k, v in chosen.items() if k not in _LSTM_KEYS}, **tuning)
    return replace(base, sequence_model=replace(seq, lstm=lstm, train=train, finetune=finetune))


def run_levers(dataset: Path, out: Path, frame_spec: FrameSpec, folds: int, seed: int, epochs: int,
               rows: list[int] | None = None, weights=None, log=print) -> list[dict]:
    """The rows of ``ROWS`` numbered in ``rows`` (default all); each row's report in ``out/rowN``."""
    from actionrec.learn.embedded import embed_dataset_dir, frames_dataset_dir

    out = claim_output(out, REPORT, inputs=[dataset])
    base = evaluate_options(folds=folds, seed=seed, epochs=epochs)
    table, data = [], {}
    rows = list(range(len(ROWS))) if rows is None else rows
    for i in rows:
        name, kind, overrides = ROWS[i]
        features = FeatureSpec.parse(kind) if kind else default_features()
        if features.kind not in data:
            data[features.kind] = embed_dataset_dir(dataset, frame_spec, weights=weights, features=features)
        options = row_options(base, overrides)
        frames = None
        if options.sequence_model.finetune:
            frames = frames_dataset_dir(dataset, frame_spec, weights=weights, features=features)
        log(f"[row {i}] {name} ({features.name})")
        report = evaluate(data[features.kind], out / f"row{i}", options, log=lambda m: log("    " + m), frames=frames)
        table.append({"row": name, "features": features.name,
                      **{m: report["models"][m]["accuracy"] for m in MODEL_NAMES},
                      "macro_f1": {m: report["models"][m]["macro_f1"] for m in MODEL_NAMES},
                      "report": f"row{i}"})
        _write(out, table, dataset, frame_spec, folds, seed)
    return table


def _write(out: Path, table: list[dict], dataset: Path, spec: FrameSpec, folds: int, seed: int) -> None:
    write_json(out / "levers.json", {"dataset": str(dataset), "size": f"{spec.width}x{spec.height}", "folds": folds,
                                     "seed": seed, "rows": table})
    lines = [f"Window accuracy on held-out groups, {dataset.name}, {spec.width}x{spec.height}, {folds} folds, seed {seed}",
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
    a = p.parse_args(argv)
    try:
        w, h = (int(v) for v in a.size.lower().split("x"))
        rows = [int(i) for i in a.rows.split(",")] if a.rows else None
        if rows and not all(0 <= i < len(ROWS) for i in rows):
            raise ValueError
    except ValueError:
        raise SystemExit(f"error: --size {a.size!r} / --rows {a.rows!r}: expected WIDTHxHEIGHT and row numbers 0-{len(ROWS) - 1}")
    try:
        run_levers(a.dataset, a.out, FrameSpec(width=w, height=h), a.folds, a.seed, a.epochs, rows)
    except ActionrecError as e:
        raise SystemExit(f"error: {e}")
    print((a.out / "levers.md").read_text())


if __name__ == "__main__":
    main()

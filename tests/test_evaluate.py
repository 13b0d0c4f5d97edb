"""Sequence model and the side-by-side evaluation (issue 3), on synthetic frames where order is the label.

``slide/left`` and ``slide/right`` clips are the same frames of a disc crossing the picture, played in
opposite orders; a frame model cannot tell them apart, an LSTM over the window can.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from actionrec.data.datasets import load_dataset
from actionrec.errors import ActionrecError
from actionrec.learn.evaluate import evaluate, evaluate_options, grouped_folds

from conftest import ORDER_OPTIONS, ORDER_PEOPLE

def test_lstm_separates_order_frame_baseline_cannot(order_report):
    _, report = order_report
    lstm = report["models"]["lstm"]["per_class"]
    last = report["models"]["frame_last"]["per_class"]
    mean = report["models"]["frame_mean"]["per_class"]
    sides = ("slide/left", "slide/right")
    f1 = {name: np.mean([m[s]["f1"] for s in sides]) for name, m in (("lstm", lstm), ("last", last), ("mean", mean))}
    assert f1["lstm"] >= 0.8, f1
    # Same frames in both classes: the best a frame model can do is chance between left and right.
    assert f1["last"] <= 0.65 and f1["mean"] <= 0.65, f1
    assert f1["lstm"] >= max(f1["last"], f1["mean"]) + 0.2, f1


def test_report_schema_and_files(order_report):
    out, report = order_report
    on_disk = json.loads((out / "report.json").read_text())
    assert on_disk["classes"] == ["slide/left", "slide/right", "still/idle"]
    assert on_disk["folds"] == 2
    for level in (on_disk["models"], on_disk["coarse"]["models"]):
        assert set(level) == {"frame_last", "frame_mean", "lstm"}
        for m in level.values():
            assert 0 <= m["accuracy"] <= 1 and 0 <= m["macro_f1"] <= 1
            k = len(m["confusion"])
            assert k == len(m["per_class"]) and all(len(row) == k for row in m["confusion"])
            assert set(next(iter(m["per_class"].values()))) >= {"precision", "recall", "f1"}
    assert on_disk["coarse"]["classes"] == ["slide", "still"]
    # Confusions are summed over folds: every test window counted once per model.
    assert sum(map(sum, on_disk["models"]["lstm"]["confusion"])) == on_disk["windows"]
    assert on_disk["config"]["evaluate"]["folds"] == 2
    assert "| lstm |" in (out / "report.md").read_text()
    for name in ("confusion_lstm_fine.png", "confusion_frame_last_coarse.png", "learning_curves.png"):
        assert (out / name).stat().st_size > 1000


def test_no_person_in_training_and_test(order_report, order_data):
    _, report = order_report
    for fold in report["groups_per_fold"]:
        assert fold["test"] and not set(fold["train"]) & set(fold["test"])
    tested = sorted(g for fold in report["groups_per_fold"] for g in fold["test"])
    assert tested == sorted(ORDER_PEOPLE)  # every person is tested exactly once
    for tr, te in grouped_folds(order_data.clips, 2, seed=5):
        assert not {order_data.clips[i].group for i in tr} & {order_data.clips[i].group for i in te}


def test_interrupted_evaluation_resumes_finished_folds(order_data, order_report):
    out, report = order_report
    fold_files = sorted((out / "folds").glob("fold*.npz"))
    assert len(fold_files) == 2
    before = [f.stat().st_mtime_ns for f in fold_files]
    log = []
    again = evaluate(order_data, out, evaluate_options(**ORDER_OPTIONS), log=log.append)
    assert [f.stat().st_mtime_ns for f in fold_files] == before
    assert sum("done earlier" in line for line in log) == 2
    assert again["models"]["lstm"]["macro_f1"] == report["models"]["lstm"]["macro_f1"]


def test_bad_evaluation_inputs(order_data, tmp_path):
    with pytest.raises(ActionrecError, match="4 group.*5 folds"):
        grouped_folds(order_data.clips, 5, seed=0)
    lonely = [c for c in order_data.clips if not (c.label == "still/idle" and c.group != "ann")]
    with pytest.raises(ActionrecError, match="still/idle.*single group"):
        grouped_folds(lonely, 2, seed=0)
    with pytest.raises(ActionrecError, match="empty"):
        grouped_folds([], 2, seed=0)
    with pytest.raises(ActionrecError, match="shorter than the window"):
        order_data.windows(n=50)


def test_annotated_takes_whose_most_common_moves_differ_are_not_refused():
    """Four people's continuous takes, each with every move but a different one the longest (as PRECOG's
    people per sequence): every class is in every group, so the folds are made, whatever each take's stratum."""
    from pathlib import Path

    from actionrec.data.datasets import Clip, Segment

    moves = ("punch/jab", "punch/cross", "kick/front", "kick/side")
    clips = []
    for p, longest in enumerate(moves):
        segments = tuple(Segment(2.0 * i, 2.0 * i + (1.5 if m == longest else 0.5), m) for i, m in enumerate(moves))
        clips.append(Clip(Path(f"p{p}.mp4"), f"p{p}.mp4", f"person{p}", segments=segments))
    folds = grouped_folds(clips, 4, seed=0)
    assert sorted(int(te[0]) for _, te in folds) == [0, 1, 2, 3]
    with pytest.raises(ActionrecError, match="kick/side.*single group"):
        grouped_folds([clips[0], *(replace(c, segments=c.segments[:3]) for c in clips[1:])], 2, seed=0)


def test_short_clips_are_skipped_and_counted(order_data):
    windows = order_data.windows(n=20)
    assert len(windows) == len(order_data.clips)  # 20-frame clips give exactly one window each
    short = load_dataset(order_data.dataset.root)
    assert short.labels == ["slide/left", "slide/right", "still/idle"]


def test_a_damaged_fold_file_is_recomputed_with_a_warning(order_data, order_report, tmp_path, capsys):
    """A fold file cut short (BadZipFile) or holding the wrong shapes is not trusted: warned about, recomputed."""
    import shutil

    from actionrec.learn.report import FoldResult
    from actionrec.util.atomic import write_npz

    out = tmp_path / "report"
    shutil.copytree(order_report[0], out)
    fold0, fold1 = sorted((out / "folds").glob("fold*.npz"))
    classes = order_data.labels
    good = FoldResult.load(fold1, classes)
    assert good is not None
    with np.load(fold1, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    capsys.readouterr()
    for name, bad, problem in [
        ("proba_lstm", arrays["proba_lstm"][:, :1], "proba_lstm is float32"),
        ("proba_frame_mean", arrays["proba_frame_mean"][:-1], "probabilities for"),
        ("proba_lstm", np.full_like(arrays["proba_lstm"], np.nan), "expected finite float"),
        ("y_true", np.full(len(arrays["y_true"]), "ghost"), "labels ['ghost'] are not among the classes"),
    ]:
        write_npz(fold1, **{**arrays, name: bad})
        assert FoldResult.load(fold1, classes) is None
        (line,) = capsys.readouterr().err.splitlines()
        assert line.startswith(f"warning: {fold1}: damaged fold file (") and problem in line, line
    write_npz(fold1, **arrays)  # whole again

    fold0.write_bytes(fold0.read_bytes()[:500])  # what a full disk or a killed copy leaves
    log = []
    report = evaluate(order_data, out, evaluate_options(**ORDER_OPTIONS), log=log.append)
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"warning: {fold0}: damaged fold file (unreadable: BadZipFile") and line.endswith("computing this fold again")
    assert sum("done earlier" in entry for entry in log) == 1  # fold 2 was fine and is reused
    assert FoldResult.load(fold0, classes) is not None and report["windows"] == order_report[1]["windows"]


def test_finished_folds_are_not_reused_under_another_small_data_rule(order_data, order_report, monkeypatch):
    """A fold trained under an earlier rule (another threshold or small-data setting) would report the old
    rule's scores for the same options: the rule is part of the name a fold is kept under."""
    from actionrec.learn import evaluate as evaluate_module
    from actionrec.learn import regularization

    out, _ = order_report
    options = evaluate_options(**ORDER_OPTIONS)
    key = evaluate_module._config_key(order_data, options)
    assert sorted(p.name for p in (out / "folds").glob("fold*.npz")) == [f"fold0-{key}.npz", f"fold1-{key}.npz"]
    monkeypatch.setitem(regularization.SMALL, "dropout", 0.1)
    assert evaluate_module._config_key(order_data, options) != key
    monkeypatch.undo()
    monkeypatch.setattr(regularization, "SMALL_DATA", 10)
    assert evaluate_module._config_key(order_data, options) != key
    monkeypatch.undo()
    assert evaluate_module._config_key(order_data, options) == key

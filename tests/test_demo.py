"""The one-command demo (issue 5) in its quick form: synthesize, embed, evaluate, save a usable LSTM."""

import json

import numpy as np
import pytest

from actionrec.tools.demo import DemoOptions, run_demo
from actionrec.learn.models import load_model
from actionrec.learn.train import predict_clip
from actionrec.live.runtime import InferenceSession, SessionOptions


@pytest.mark.slow
def test_quick_demo_runs_end_to_end(tmp_path, weights_path):
    lines = []
    result = run_demo(DemoOptions.quick(out=tmp_path / "demo"), weights=weights_path, log=lines.append)
    report = json.loads((result.report_dir / "report.json").read_text())
    assert report["folds"] == 2 and set(report["models"]) == {"frame_last", "frame_mean", "lstm"}
    assert report["coarse"]["classes"] == ["kick", "other", "punch"]
    assert len(report["classes"]) == 7
    for fold in report["groups_per_fold"]:
        assert not set(fold["train"]) & set(fold["test"])
    assert "lstm" in result.table and any(line.startswith("[4/5]") for line in lines)
    config = json.loads((tmp_path / "demo" / "demo.json").read_text())
    assert config["options"]["people"] == 4

    model = load_model(result.model_dir)
    assert model.kind == "lstm" and model.frame_spec.width == 160
    assert InferenceSession(SessionOptions(result.model_dir)).backend == "litert"  # exported: live starts fast
    clip = next((result.dataset / "kick" / "back").iterdir())
    pred = predict_clip(model, clip, weights=weights_path)
    assert pred.proba.shape == (len(pred.times), 7)
    assert np.allclose(pred.proba.sum(axis=1), 1, atol=1e-4)

    # The starter model: pose features of synthetic people from every webcam camera, exported, and scored
    # zero-shot on PRECOG's real people at both yaws (the shipped skeletons).
    starter = load_model(result.starter.model_dir)
    assert starter.kind == "lstm" and starter.features.name == "pose:body"
    assert InferenceSession(SessionOptions(result.starter.model_dir)).backend == "litert"
    assert set(result.starter.scores) == {0.0, 45.0}
    for yaw, score in result.starter.scores.items():
        coarse = score["coarse"]["models"]["lstm"]
        assert coarse["windows"] > 5000 and 0.0 <= coarse["macro_f1"] <= 1.0
        assert score["events_coarse"]["lstm"]["actions"] == 363  # PRECOG's punch and kick segments (README)
        assert any(line.strip().startswith(f"PRECOG zero-shot, camera yaw {yaw:g}:") for line in lines)
    synth = json.loads((result.starter.dataset / "synth.json").read_text())
    assert synth["options"]["keypoints"] is True and synth["options"]["camera"]["yaw"] == [0.0, 100.0]

    again = run_demo(DemoOptions.quick(out=tmp_path / "demo"), weights=weights_path, log=lines.append)
    assert again.report["models"]["lstm"]["macro_f1"] == report["models"]["lstm"]["macro_f1"]  # folds resumed
    assert sum("done earlier" in line for line in lines) == 2

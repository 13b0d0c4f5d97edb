"""``evaluate`` predicts without TensorFlow's retracing warnings, and each model is traced once.

Keras' ``predict`` traced a new function per model and per batch shape; over the two models of each fold
TensorFlow warned "N out of the last M calls ... triggered tf.function retracing" in every fold.
"""

import os
import subprocess
import sys

import numpy as np
from conftest import EXERCISE_AVI, source_frames, write_clip

PEOPLE = ("alice", "bob", "carol", "dan")


def build_people_dataset(root):
    """Four people, one annotated 10 fps video each (punch, kick, the rest other), of different lengths."""
    frames = source_frames(EXERCISE_AVI)
    rows, groups = [], []
    for i, person in enumerate(PEOPLE):
        rel = f"videos/{person}.avi"
        write_clip(root / rel, frames[i * 60: i * 60 + 50 + 7 * i], fps=10)
        rows += [f"{rel},1.0,2.0,punch", f"{rel},3.0,4.0,kick"]
        groups.append(f"{rel},{person}")
    (root / "annotations.csv").write_text("video,start,end,label\n" + "\n".join(rows) + "\n")
    (root / "groups.csv").write_text("clip,group\n" + "\n".join(groups) + "\n")
    return root


def test_two_fold_evaluate_logs_no_retracing_warning(tmp_path):
    root = build_people_dataset(tmp_path / "people")
    out = tmp_path / "report"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run(
        [sys.executable, "-m", "actionrec", "evaluate", str(root), "--folds", "2", "--epochs", "3", "--window", "8",
         "--out", str(out)], capture_output=True, text=True, env=env, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "fold 2/2" in done.stdout and (out / "report.json").is_file()
    assert "retracing" not in done.stderr and "retracing" not in done.stdout, done.stderr[-3000:]


def test_a_model_is_traced_once_for_every_batch_size(tmp_path, embedder):
    from actionrec.learn.embedded import embed_dataset_dir
    from actionrec.learn.train import TrainSpec, fit
    from actionrec.learn.models import LSTMOptions, TrainOptions

    data = embed_dataset_dir(build_people_dataset(tmp_path / "people"), embedder.config.frame_spec,
                             embedder=embedder, show_progress=False)
    spec = TrainSpec(kind="lstm", lstm=LSTMOptions(window=8), train=TrainOptions(epochs=1))
    model = fit(data, spec)
    windows = np.random.default_rng(0).normal(size=(700, 8, 1024)).astype(np.float32)
    whole = model.predict_windows(windows)  # batches of 256, 256 and 188
    parts = [model.predict_windows(windows[:1]), model.predict_windows(windows[1:40]), model.predict_window(windows[40])]
    assert model._step.experimental_get_tracing_count() == 1
    np.testing.assert_allclose(np.concatenate([parts[0], parts[1], parts[2][None]]), whole[:41], atol=1e-6)
    assert model.predict_windows(windows[:0]).shape == (0, len(model.classes))

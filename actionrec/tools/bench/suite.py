"""``actionrec bench`` with no subcommand: every stage in one run, and the table it prints."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

from actionrec.data.video import FrameSpec
from actionrec.errors import ActionrecError
from actionrec.features.mobilenet import EMBEDDING_DIM, Embedder
from actionrec.tools.bench.embed import bench_decode, bench_embed, synthetic_video
from actionrec.tools.bench.train import bench_lstm_train_step
from actionrec.util.memory import peak_rss_mb
from actionrec.util.outputs import check_writable


def _timing_model(root: Path, frame_spec: FrameSpec, window: int, embedder: Embedder) -> Path:
    """An LSTM with the default architecture, trained one epoch on random windows: real shapes, for timing."""
    from actionrec.learn.models import LSTMOptions, TrainOptions, train
    from actionrec.learn.windows import WindowSet

    rng = np.random.default_rng(0)
    frames = rng.random((64, EMBEDDING_DIM), np.float32)
    index = np.stack([np.arange(i, i + window) for i in range(64 - window)])
    labels = np.array(["kick/back", "punch/jab", "other/idle"] * len(index))[: len(index)]
    ws = WindowSet(frames, labels, index, labels, np.array(["g"] * len(index)), np.array(["c"] * len(index)), np.zeros(len(index)))
    trained = train(ws, "lstm", embedder.config, lstm=LSTMOptions(window=window), options=TrainOptions(epochs=1, val_fraction=0))
    return trained.save(root / "timing-model")


# Runs ``actionrec replay`` and prints its own peak RSS (util.memory: VmHWM on Linux, which belongs to the
# process's memory map that exec starts afresh; getrusage's maxrss would also count the pages the child
# shared with this (large) process between fork and exec).
_REPLAY_AND_REPORT = """
import sys
from actionrec.cli import app
try:
    app(sys.argv[1:])
except SystemExit as exc:
    if exc.code:
        raise
from actionrec.util.memory import peak_rss_mb
print("peak_rss_mb", peak_rss_mb())
"""


def _live_peak_rss_mb(model_dir: Path, video: Path) -> float:
    """Peak RSS of a separate ``actionrec replay`` process: what live play costs without the bench's own TF."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _REPLAY_AND_REPORT, "replay", str(video), "--model", str(model_dir)],
                          capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("peak_rss_mb")]
    if done.returncode or not lines:
        raise ActionrecError(f"the replay process for the memory figure failed: {done.stderr.strip()[-500:]}")
    return float(lines[-1].split()[1])


JSON_MARK = "actionrec_bench"  # the key that makes a JSON file one that `actionrec bench --json` wrote


def check_json_output(path: str | os.PathLike) -> Path:
    """Before measuring: ``path`` is new, or a figures file this command wrote before (never a user's file)."""
    path = Path(path)
    if path.is_dir():
        raise ActionrecError(f"{path}: is a folder; expected a JSON file name for the figures")
    if path.exists():
        try:
            ours = JSON_MARK in json.loads(path.read_text())
        except (OSError, ValueError, TypeError, UnicodeDecodeError):
            ours = False
        if not ours:
            raise ActionrecError(f"{path}: exists and was not written by actionrec bench; it is left as it is, "
                                 "choose another file for the figures")
    folder = path.absolute().parent
    if not folder.is_dir():
        raise ActionrecError(f"{path}: cannot be written ({folder} is not a folder); expected a file in a writable "
                             "folder, checked before measuring")
    check_writable(path, folder)  # read-only, permissions: one line, before measuring
    return path


def bench_all(frame_spec: FrameSpec = FrameSpec(), batch_size: int = 32, window: int = 16, seconds: float = 20.0,
              weights: str | os.PathLike | None = None, log=print) -> dict:
    """Every stage in one process and one run; each figure a median of repetitions after a warm-up."""
    from actionrec.live.export import export_model
    from actionrec.tools.bench.augment import bench_augment
    from actionrec.tools.bench.stream import measure_stream_step

    results: dict = {"frame_spec": frame_spec.to_dict(), "window": window, "batch_size": batch_size}
    embedder = Embedder(frame_spec, weights, batch_size)
    with tempfile.TemporaryDirectory(prefix="actionrec-bench-") as tmp:
        root = Path(tmp)
        video = synthetic_video(root / "camera.mp4", frames=900)  # 30 s of a 30 fps 320x240 camera
        log("decode ...")
        results.update(bench_decode(video, frame_spec))
        log("embed (full path vs raw model) ...")
        emb = bench_embed(frame_spec, batch_size, seconds, video=video, embedder=embedder)
        results.update(embed_fps=emb["full_fps"], raw_model_fps=emb["raw_fps"], embed_over_raw=emb["ratio"])
        # A 10-minute 30 fps video sampled at 10 fps: 20 x this 30 s clip, at the measured full-path rate.
        results["embed_10min_video_s"] = round(20 * emb["frames_per_run"] / emb["full_fps"], 1)
        log("augment ...")
        results["augment_ms_per_frame"] = round(bench_augment(size=(frame_spec.width, frame_spec.height))["ms_per_frame"], 3)
        log("LSTM train step ...")
        results.update(bench_lstm_train_step(window, classes=7))
        log("stream step (exported model, batch 1) vs naive re-embedding ...")
        model_dir = _timing_model(root, frame_spec, window, embedder)
        export_model(model_dir, weights=weights)
        step = measure_stream_step(model_dir)
        keras_step = measure_stream_step(model_dir, backend="keras", n_frames=100)
        results.update(
            stream_backend=step["backend"],
            stream_step_ms_p50=step["stream_step_ms_p50"], stream_step_ms_p95=step["stream_step_ms_p95"],
            naive_step_ms_p50=step["naive_step_ms_p50"], naive_over_stream=step["naive_over_stream"],
            keras_stream_step_ms_p50=keras_step["stream_step_ms_p50"],
        )
        log("live peak memory (a separate replay process) ...")
        results["live_peak_rss_mb"] = round(_live_peak_rss_mb(model_dir, video), 1)
    results["bench_peak_rss_mb"] = round(peak_rss_mb(), 1)
    return results


TARGETS = {
    "embed_over_raw": (">=", 0.8),
    "stream_step_ms_p50": ("<=", 3.0),
    "naive_over_stream": (">=", 8.0),
    "live_peak_rss_mb": ("<=", 1536.0),
    "embed_10min_video_s": ("<=", 30.0),
}


def format_table(results: dict) -> str:
    rows = [f"{'figure':<26}{'value':>12}  target"]
    for key, value in results.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            op, bound = TARGETS.get(key, ("", None))
            ok = "" if bound is None else (f"{op} {bound:g} " + ("ok" if (value >= bound if op == ">=" else value <= bound) else "MISSED"))
            rows.append(f"{key:<26}{value:>12g}  {ok}")
    return "\n".join(rows)

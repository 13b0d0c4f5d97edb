"""How fast frames become embeddings: the full path (decode, resample, resize, embed) next to the model alone.

The model forward is the floor; everything else in ``embed_clip`` should hide behind it (decoding runs in a
thread while the model works). Both are timed in one run, interleaved, on the same frames, so other load
on the machine hits both alike; the ratio is the figure to watch.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from .errors import ActionrecError
from .embed import EMBEDDING_DIM, Embedder, embed_clip
from .video import FrameSpec, probe, read_clip, write_video


def synthetic_video(path: str | os.PathLike, frames: int = 450, fps: float = 30.0, size: tuple[int, int] = (320, 240),
                    seed: int = 0) -> Path:
    """A camera-like test video: a textured background panning under moving blobs (decodes like footage,
    unlike flat colour, which codecs make unrealistically cheap)."""
    rng = np.random.default_rng(seed)
    w, h = size
    # Background twice as wide as the frame, smooth noise with some edges; the view pans across it.
    bg = cv2.GaussianBlur(rng.integers(0, 256, (h, 2 * w, 3), dtype=np.uint8), (0, 0), 2.0)
    bg = cv2.addWeighted(bg, 0.7, cv2.GaussianBlur(bg, (0, 0), 8), 0.3, 0)
    blobs = rng.uniform([0, 0, 10, 0, 0], [w, h, w / 6, 2 * np.pi, 255], size=(6, 5))
    out = []
    for i in range(frames):
        x0 = int((w * (1 + np.sin(i / 60))) / 2)
        frame = bg[:, x0 : x0 + w].copy()
        for bx, by, r, phase, shade in blobs:
            cx = int(bx + 40 * np.cos(i / 9 + phase))
            cy = int(by + 25 * np.sin(i / 7 + phase))
            cv2.circle(frame, (cx, cy), int(r), (int(shade), 255 - int(shade), 128), -1, cv2.LINE_AA)
        out.append(frame)
    write_video(path, out, fps)
    return Path(path)


def bench_embed(
    frame_spec: FrameSpec = FrameSpec(),
    batch_size: int = 32,
    seconds: float = 20.0,
    weights: str | os.PathLike | None = None,
    video: str | os.PathLike | None = None,
    embedder: Embedder | None = None,
) -> dict:
    """Frames/s of the full path (``embed_clip`` on a real video file) and of the model forward alone.

    ``video`` defaults to a synthetic 30 fps 320x240 mp4 of 15 s (450 frames). After one warm-up of each,
    raw and full runs alternate until ``seconds`` are spent (at least 3 of each); figures are medians.
    """
    embedder = (embedder.for_spec(frame_spec) if embedder else Embedder(frame_spec, weights, batch_size))
    if embedder.batch_size != batch_size:
        raise ValueError(f"embedder batch size {embedder.batch_size} != {batch_size}")
    with tempfile.TemporaryDirectory(prefix="actionrec-bench-") as tmp:
        path = Path(video) if video else synthetic_video(Path(tmp) / "bench.mp4")
        info = probe(path)
        frames, _ = read_clip(path, frame_spec)  # pre-decoded: what the raw forward gets
        n = len(frames)

        def timed(run) -> tuple[float, float]:
            """(frames/s wall clock, CPU ms per frame over all threads) of one run."""
            wall, cpu = time.perf_counter(), time.process_time()
            got = run()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            return got / wall, 1000 * cpu / got

        def raw() -> int:
            embedder.embed(frames)
            return n

        def full() -> int:
            return len(embed_clip(path, embedder).times)

        timed(raw), timed(full)  # warm-up: tracing, caches, thread pools
        raws, fulls = [], []
        deadline = time.perf_counter() + seconds
        while len(raws) < 3 or time.perf_counter() < deadline:
            raws.append(timed(raw))
            fulls.append(timed(full))
    raw_fps, full_fps = (float(np.median([r[0] for r in runs])) for runs in (raws, fulls))
    raw_cpu, full_cpu = (float(np.median([r[1] for r in runs])) for runs in (raws, fulls))
    return {
        "full_fps": round(full_fps, 1),
        "raw_fps": round(raw_fps, 1),
        "ratio": round(full_fps / raw_fps, 3),
        "paired_ratio": round(float(np.median([f[0] / r[0] for f, r in zip(fulls, raws)])), 3),
        "raw_cpu_ms_per_frame": round(raw_cpu, 3),
        "full_cpu_ms_per_frame": round(full_cpu, 3),
        "repeats": len(raws),
        "frames_per_run": n,
        "batch_size": batch_size,
        "frame_spec": frame_spec.to_dict(),
        "source": f"{path.name if video else 'synthetic'} {info.width}x{info.height} {info.fps:g} fps {info.frames} frames",
        "runs_full_fps": [round(f[0], 1) for f in fulls],
        "runs_raw_fps": [round(r[0], 1) for r in raws],
        "threads": {"opencv": cv2.getNumThreads(), "cpus": os.cpu_count()},
    }


def bench_decode(video: Path, frame_spec: FrameSpec, repeats: int = 5) -> dict:
    """Frames/s of decode + resample + resize alone (what the embedder is fed), median of ``repeats``."""
    from .video import iter_source_frames

    rates = []
    for i in range(repeats + 1):
        start = time.perf_counter()
        n = sum(1 for _ in iter_source_frames(video, frame_spec))
        if i:  # the first pass warms the file cache and the decoder
            rates.append(n / (time.perf_counter() - start))
    return {"decode_fps": round(float(np.median(rates)), 1), "decoded_frames_per_run": n}


def bench_lstm_train_step(window: int = 16, batch_size: int = 64, classes: int = 7, steps: int = 20, seed: int = 0) -> dict:
    """Milliseconds per optimizer step of the default LSTM on one batch of windows (after warm-up)."""
    from .models import FrameOptions, LSTMOptions, _build

    rng = np.random.default_rng(seed)
    x = rng.random((batch_size, window, EMBEDDING_DIM), np.float32)
    y = rng.integers(0, classes, batch_size)
    stats = (np.zeros(EMBEDDING_DIM), np.ones(EMBEDDING_DIM))
    model = _build("lstm", classes, window, FrameOptions(), LSTMOptions(window=window), 1e-3, stats)
    for _ in range(3):
        model.train_on_batch(x, y)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        model.train_on_batch(x, y)
        times.append(1000 * (time.perf_counter() - start))
    return {"lstm_train_step_ms": round(float(np.median(times)), 2), "lstm_train_batch": batch_size}


def _timing_model(root: Path, frame_spec: FrameSpec, window: int, embedder: Embedder) -> Path:
    """An LSTM with the default architecture, trained one epoch on random windows: real shapes, for timing."""
    from .models import LSTMOptions, TrainOptions, train
    from .windows import WindowSet

    rng = np.random.default_rng(0)
    frames = rng.random((64, EMBEDDING_DIM), np.float32)
    index = np.stack([np.arange(i, i + window) for i in range(64 - window)])
    labels = np.array(["kick/back", "punch/jab", "other/idle"] * len(index))[: len(index)]
    ws = WindowSet(frames, labels, index, labels, np.array(["g"] * len(index)), np.array(["c"] * len(index)), np.zeros(len(index)))
    trained = train(ws, "lstm", embedder.config, lstm=LSTMOptions(window=window), options=TrainOptions(epochs=1, val_fraction=0))
    return trained.save(root / "timing-model")


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# Runs ``actionrec replay`` and prints its own high-water RSS. VmHWM belongs to the process's memory map,
# which exec starts afresh; getrusage's maxrss would also count the pages the child shared with this
# (large) process between fork and exec.
_REPLAY_AND_REPORT = """
import sys
from actionrec.cli import app
try:
    app(sys.argv[1:])
except SystemExit as exc:
    if exc.code:
        raise
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0].split()[1]
print("VmHWM_kB", hwm)
"""


def _live_peak_rss_mb(model_dir: Path, video: Path) -> float:
    """Peak RSS of a separate ``actionrec replay`` process: what live play costs without the bench's own TF."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _REPLAY_AND_REPORT, "replay", str(video), "--model", str(model_dir)],
                          capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("VmHWM_kB")]
    if done.returncode or not lines:
        raise ActionrecError(f"the replay process for the memory figure failed: {done.stderr.strip()[-500:]}")
    return int(lines[-1].split()[1]) / 1024


def bench_all(frame_spec: FrameSpec = FrameSpec(), batch_size: int = 32, window: int = 16, seconds: float = 20.0,
              weights: str | os.PathLike | None = None, log=print) -> dict:
    """Every stage in one process and one run; each figure a median of repetitions after a warm-up."""
    from .augment import bench_augment
    from .export import export_model
    from .runtime import measure_stream_step

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
    results["bench_peak_rss_mb"] = round(_peak_rss_mb(), 1)
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

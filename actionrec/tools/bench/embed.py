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

from actionrec.data.video import FrameSpec, iter_decoded_frames, iter_differences, probe, read_clip, write_video
from actionrec.features.cache import embed_clip
from actionrec.features.frames import LazyPose, join_parts, pose_clip, pose_stream
from actionrec.features.mobilenet import Embedder
from actionrec.features.spec import FeatureSpec


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
    features: FeatureSpec = FeatureSpec(),
) -> dict:
    """Frames/s of the full path (a clip's features from a real video file) and of the models alone.

    ``features``: MobileNet (``embed_clip``), pose (``pose_clip``: decode, tracked BlazePose), diff
    (``embed_clip`` of the frame differences) or several. The models alone get pre-decoded frames: the
    model-size frames (and their differences) for MobileNet, the source frames for the pose. ``video`` defaults to a synthetic 30 fps 320x240 mp4 of 15 s (450 frames). After one warm-up
    of each, raw and full runs alternate until ``seconds`` are spent (at least 3 of each); figures are medians.
    """
    if features.runs_mobilenet:
        embedder = (embedder.for_spec(frame_spec) if embedder else Embedder(frame_spec, weights, batch_size))
        if embedder.batch_size != batch_size:
            raise ValueError(f"embedder batch size {embedder.batch_size} != {batch_size}")
    pose = LazyPose(features) if features.uses_pose else None
    with tempfile.TemporaryDirectory(prefix="actionrec-bench-") as tmp:
        path = Path(video) if video else synthetic_video(Path(tmp) / "bench.mp4")
        info = probe(path)
        # Pre-decoded, once, only for the models that run: what the raw forwards get (one clock for both).
        frames = read_clip(path, frame_spec)[0] if features.runs_mobilenet else None
        diffs = np.stack([d for _, d in iter_differences(enumerate(frames))]) if features.uses_diff else None
        sources = list(iter_decoded_frames(path, frame_spec)) if pose else []
        n = len(frames) if frames is not None else len(sources)

        def timed(run) -> tuple[float, float]:
            """(frames/s wall clock, CPU ms per frame over all threads) of one run."""
            wall, cpu = time.perf_counter(), time.process_time()
            got = run()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            return got / wall, 1000 * cpu / got

        def raw() -> int:
            if features.uses_mobilenet:
                embedder.embed(frames)
            if pose:
                pose_stream(sources, pose.get(), features.pose_long_side)
            if features.uses_diff:
                embedder.embed(diffs)
            return n

        def full() -> int:
            parts = {"mobilenet": embed_clip(path, embedder) if features.uses_mobilenet else None,
                     "pose": pose_clip(path, frame_spec, features, pose) if pose else None,
                     "diff": embed_clip(path, embedder, diff=True) if features.uses_diff else None}
            return len(join_parts(parts, str(path)).times)

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
        "features": features.kind,
        "source": f"{path.name if video else 'synthetic'} {info.width}x{info.height} {info.fps:g} fps {info.frames} frames",
        "runs_full_fps": [round(f[0], 1) for f in fulls],
        "runs_raw_fps": [round(r[0], 1) for r in raws],
        "threads": {"opencv": cv2.getNumThreads(), "cpus": os.cpu_count()},
    }


def bench_decode(video: Path, frame_spec: FrameSpec, repeats: int = 5) -> dict:
    """Frames/s of decode + resample + resize alone (what the embedder is fed), median of ``repeats``."""
    from actionrec.data.video import iter_source_frames

    rates = []
    for i in range(repeats + 1):
        start = time.perf_counter()
        n = sum(1 for _ in iter_source_frames(video, frame_spec))
        if i:  # the first pass warms the file cache and the decoder
            rates.append(n / (time.perf_counter() - start))
    return {"decode_fps": round(float(np.median(rates)), 1), "decoded_frames_per_run": n}



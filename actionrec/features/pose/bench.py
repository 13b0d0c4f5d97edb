"""Timings of the live pose step, for ``actionrec bench pose``: JSON-able figures, nothing printed.

``step`` is one call of ``PoseEstimator.process`` on the next frame of a video played in a loop (decoded
up front, so decoding is not timed): tracking, the detector re-runs it needs and the filter, all
counted. ``detector`` and ``landmarks`` time each model alone with its pre- and post-processing;
``*_invoke`` the bare interpreter call. All on ``num_threads`` threads (default 1, as live). ``*_ms``
are wall times; ``*_cpu_ms`` the calling thread's CPU time (with one thread: the cost on an idle core,
a steadier figure when other jobs share the machine).
"""

from __future__ import annotations

import os
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import cv2
import numpy as np

from actionrec.data.video import opencv_name, usable_fps
from actionrec.errors import ActionrecError
from actionrec.util.stats import p50_p95
from actionrec.features.pose.detector import letterbox
from actionrec.features.pose.landmarks import Roi, crop
from actionrec.features.pose.tracker import PoseCounts, PoseEstimator, PoseOptions

WARMUP = 5  # first calls set up XNNPACK's packed weights: 3-10x slower, not the steady state


def _read_video(path: Path, limit: int = 2000) -> tuple[list[np.ndarray], float]:
    cap = cv2.VideoCapture(opencv_name(path))
    if not cap.isOpened():
        raise ActionrecError(f"cannot open video {path}")
    fps = usable_fps(cap.get(cv2.CAP_PROP_FPS))
    frames = []
    while len(frames) < limit:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    if not frames:
        raise ActionrecError(f"no frames decoded from {path}: expected a video OpenCV can read")
    return frames, float(fps) if 1.0 <= fps <= 240.0 else 30.0


def _ms(samples: list[float]) -> dict[str, float]:
    p50, p95 = p50_p95(samples[WARMUP:] if len(samples) > 2 * WARMUP else samples, 1e3)
    return {"p50": round(p50, 3), "p95": round(p95, 3)}


def _timed(fn, seconds: float, min_calls: int = 20) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of each call. On one thread LiteRT computes on the calling thread, so its
    CPU time is what the step costs on an idle core even when other jobs share the machine."""
    wall: list[float] = []
    cpu: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(wall) < min_calls:
        t, c = time.perf_counter(), time.thread_time()
        fn(len(wall))
        cpu.append(time.thread_time() - c)
        wall.append(time.perf_counter() - t)
    return wall, cpu


def bench_pose(video: str | os.PathLike, seconds: float = 10.0, options: PoseOptions | None = None) -> dict:
    """Measure the pose step on ``video`` for ``seconds`` (and each model alone for half as long)."""
    if seconds <= 0:
        raise ActionrecError(f"bench seconds {seconds}: expected > 0")
    video = Path(video)
    frames, fps = _read_video(video)
    est = PoseEstimator(options or PoseOptions(fps=fps))
    n = len(frames)

    def step(i: int) -> None:
        if i and i % n == 0:
            est.clear()  # the loop jumps back: a new stream, as after a cut
        est.process(frames[i % n], i / fps)

    steps, steps_cpu = _timed(step, seconds)
    c = PoseCounts(**est.counts.as_dict())  # a snapshot: finding a crop below runs the tracker again
    # A crop on a person for the landmark model alone: the first one the tracker found, else the centre.
    roi = None
    est.clear()
    for f in frames:
        pose = est.process(f)
        if pose is not None:
            roi = pose.roi
            break
    if roi is None:
        h, w = frames[0].shape[:2]
        roi = Roi(w / 2, h / 2, float(max(h, w)), 0.0)
    det, lm = est.detector, est.landmarker
    half = seconds / 2
    det_x, lm_x = letterbox(frames[0])[0], crop(frames[0], roi)
    timings = {
        "detector": _timed(lambda i: det.detect(frames[i % n]), half),
        "detector_invoke": _timed(lambda i: det.model.run(det_x), half / 2),
        "landmarks": _timed(lambda i: lm.run(frames[i % n], roi), half),
        "landmarks_invoke": _timed(lambda i: lm.model.run(lm_x), half / 2),
    }
    s, s_cpu = _ms(steps), _ms(steps_cpu)
    result = {
        "video": str(video),
        "frame_size": [int(frames[0].shape[1]), int(frames[0].shape[0])],
        "video_frames": n,
        "num_threads": est.options.num_threads,
        "step_ms_p50": s["p50"],
        "step_ms_p95": s["p95"],
        "step_cpu_ms_p50": s_cpu["p50"],
        "step_cpu_ms_p95": s_cpu["p95"],
        "steps": c.frames,
        "poses_found_share": round(c.poses / max(c.frames, 1), 3),
        "detector_runs": c.detector_runs,
        "detector_runs_share": round(c.detector_runs / max(c.frames, 1), 3),
        "landmark_runs": c.landmark_runs,
        "lost": c.lost,
    }
    for name, (wall, cpu) in timings.items():
        f, fc = _ms(wall), _ms(cpu)
        result[f"{name}_ms_p50"], result[f"{name}_ms_p95"] = f["p50"], f["p95"]
        result[f"{name}_cpu_ms_p50"] = fc["p50"]
    result["ai_edge_litert"] = _version("ai-edge-litert")
    result["load_average_1min"] = round(os.getloadavg()[0], 2)  # the machine is shared: context for the figures
    return result


def _version(dist: str) -> str | None:
    try:
        return version(dist)
    except PackageNotFoundError:
        return None

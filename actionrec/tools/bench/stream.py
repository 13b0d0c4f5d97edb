"""Benchmarks of the live loop: one frame -> embedding, one window -> class probabilities.

``measure_stream_step`` times the streaming step (embed the new frame once, classify the window) against
the naive one (re-embed the whole window every frame, as most webcam demos do); ``measure_engines`` times
each engine considered for the fast path; ``bench_stream`` measures capture-to-hook latency in a real browser.
"""

from __future__ import annotations

import asyncio
import json
import math
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Callable

import numpy as np
from websockets.exceptions import ConnectionClosed

from actionrec.data.video import FrameSpec
from actionrec.errors import ActionrecError
from actionrec.util.stats import p50_p95
from actionrec.events.trigger import TriggerOptions
from actionrec.features.mobilenet import preprocess
from actionrec.learn.models import load_model
from actionrec.live.exported import CLASSIFIER_FILE, EMBEDDER_FILE, LiteRTModels, export_problem
from actionrec.live.game import LiveOptions, LiveSession
from actionrec.live.runtime import InferenceSession, SessionOptions
from actionrec.live.site import SOCKET_PATH


def measure_stream_step(model_dir: str | Path, n_frames: int = 200, backend: str = "auto", num_threads: int = 1,
                        naive_steps: int = 50, warmup: int = 20, frames: np.ndarray | None = None) -> dict:
    """Per-frame milliseconds of the streaming step and of the naive one, medians after ``warmup`` steps.

    Stream step: embed the new frame once (batch 1), push it into the live ``RingBuffer``, classify the
    window. Naive step: re-embed the last n frames (one batch of n) and classify. ``frames`` default to the
    synthetic camera-like video of ``bench`` at the model's size; they are reused cyclically.
    """
    from actionrec.live.stream import RingBuffer, ring_capacity

    session = InferenceSession(SessionOptions(model_dir, backend, num_threads))
    spec, n = session.frame_spec, session.window
    if frames is None:
        frames = _bench_frames(spec)
    fps = spec.fps or 10.0
    buffer = RingBuffer(n, spec.fps, ring_capacity(n, spec.fps, fps))
    recent: deque[np.ndarray] = deque(maxlen=n)

    def stream_step(i: int) -> tuple[float, float]:
        frame = frames[i % len(frames)]
        began = time.perf_counter()
        buffer.push(i / fps, session.embed_one(frame))
        embedded = time.perf_counter()
        session.predict_window(buffer.window_array())
        return embedded - began, time.perf_counter() - began

    def naive_step(i: int) -> float:
        began = time.perf_counter()
        recent.append(frames[i % len(frames)])
        batch = np.stack([recent[0]] * (n - len(recent)) + list(recent))  # pad like the ring buffer at start
        session.predict_window(session.embed(batch))
        return time.perf_counter() - began

    for i in range(warmup):
        stream_step(i)
        naive_step(i)
    # Alternate blocks of both, so load from other processes hits them alike.
    stream, embed_only, naive = [], [], []
    blocks = 5
    for stream_block, naive_block in zip(_split(n_frames, blocks), _split(naive_steps, blocks)):
        for _ in range(stream_block):
            e, s = stream_step(warmup + len(stream))
            embed_only.append(e)
            stream.append(s)
        for _ in range(naive_block):
            naive.append(naive_step(warmup + len(naive)))
    stream_p50, naive_p50 = _ms(stream), _ms(naive)
    return {
        "backend": session.backend,
        "num_threads": num_threads if session.backend == "litert" else None,
        "window": n,
        "frame_size": f"{spec.width}x{spec.height}",
        "stream_step_ms_p50": stream_p50,
        "stream_step_ms_p95": _ms(stream, p95=True),
        "embed_one_ms_p50": _ms(embed_only),
        "naive_step_ms_p50": naive_p50,
        "naive_over_stream": round(naive_p50 / stream_p50, 1),
        "stream_steps": len(stream),
        "naive_steps": len(naive),
    }


def _split(total: int, parts: int) -> list[int]:
    """``total`` as ``parts`` near-equal counts."""
    return [total // parts + (i < total % parts) for i in range(parts)]


def _ms(seconds: list[float], p95: bool = False) -> float:
    return round(p50_p95(seconds, 1000)[p95], 3)


def _bench_frames(spec: FrameSpec) -> np.ndarray:
    from actionrec.data.video import read_clip
    from actionrec.tools.bench.embed import synthetic_video

    with tempfile.TemporaryDirectory(prefix="actionrec-step-") as tmp:
        frames, _ = read_clip(synthetic_video(Path(tmp) / "camera.mp4"), spec)
    return frames


def measure_engines(model_dir: str | Path, steps: int = 100, warmup: int = 10,
                    frames: np.ndarray | None = None) -> dict:
    """Milliseconds (p50) of ``embed_one`` and ``predict_window`` at batch 1 for each engine we considered.

    Engines: LiteRT + XNNPACK on 1 and 2 threads (needs ``actionrec export``), the Keras model in a traced
    ``tf.function`` (the reference backend), and the same function XLA-compiled (``jit_compile=True``).
    Rounds of every engine alternate so load from other processes hits them alike. The figures behind
    the choice of the default backend (see export.py).
    """
    import tensorflow as tf

    model = load_model(model_dir)
    embedder = model.embedder(batch_size=1)
    frames = _bench_frames(model.frame_spec) if frames is None else frames
    window = embedder.embed(frames[: model.window])
    frame_model = model.kind == "frame"
    keras_model, mobilenet = model.keras_model, embedder.model

    def xla(fn):
        return tf.function(fn, jit_compile=True)

    xla_embed = xla(lambda x: mobilenet(preprocess(x), training=False))
    xla_model = xla(lambda x: keras_model(x[:, -1] if frame_model else x, training=False))
    engines = {
        "tf.function": (embedder.embed_one, model.predict_window),
        "xla": (lambda f: xla_embed(f[None]).numpy()[0], lambda w: xla_model(w[None]).numpy()[0]),
    }
    problem = export_problem(model_dir)
    if problem is None:
        for threads in (1, 2):
            lite = LiteRTModels(Path(model_dir) / EMBEDDER_FILE, Path(model_dir) / CLASSIFIER_FILE, threads)
            engines[f"litert_{threads}t"] = (lite.embed_one, lite.predict_window)
    times = {name: ([], []) for name in engines}
    for r, block in enumerate([warmup, *_split(steps, 5)]):
        for name, (embed_one, predict_window) in engines.items():
            for i in range(block):
                frame = frames[i % len(frames)]
                began = time.perf_counter()
                embed_one(frame)
                embedded = time.perf_counter()
                predict_window(window)
                if r:  # block 0 is the warm-up (tracing, XLA compilation, thread pools)
                    times[name][0].append(embedded - began)
                    times[name][1].append(time.perf_counter() - embedded)
    result: dict = {name: {"embed_one_ms_p50": _ms(e), "predict_window_ms_p50": _ms(p)} for name, (e, p) in times.items()}
    if problem is not None:
        result["litert"] = problem
    return result
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ("--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync")


def bench_stream(session, video: str | Path, trigger: TriggerOptions | None = None,
                 chromium: str | None = CHROMIUM, log: Callable[[str], None] = print,
                 game_dir: str | Path | None = None) -> dict:
    """Live play with ``video`` as the camera (at its own rate) and the practice page in headless Chromium.

    Figures: sustained fps against the source's rate, dropped frames, per-frame step time, and
    capture-to-hook latency through the real browser. ``game_dir``: the user's MK.js instead of the
    practice page, its moves played on the real game (the video starts once the game has loaded).
    ``chromium=None`` acknowledges from a Python WebSocket client instead (no browser needed). Prints one
    line and returns the figures.
    """
    options = LiveOptions(source=str(video), port=0, wait_for_page=True, trigger=trigger or TriggerOptions(),
                          report_every=math.inf, linger=0.5, game_dir=Path(game_dir) if game_dir else None)
    session = LiveSession(session, options, log=lambda line: None)
    url = session.start()
    try:
        if chromium is not None:
            _play_in_chromium(url, session, chromium)
        else:
            asyncio.run(_play_in_python(url, session))
    finally:
        session.stop()
    report = session.report()
    figures = {
        "source_fps": session.grabber.fps,
        "fps": report.fps,
        "frames": report.frames,
        "dropped": report.dropped,
        "step_ms_p50": report.step_ms[0],
        "step_ms_p95": report.step_ms[1],
        "hook_ms_p50": report.hook_ms[0],
        "hook_ms_p95": report.hook_ms[1],
        "hooks": report.hooks_acknowledged,
        "missing_hooks": report.missing_hooks,
        "client": "chromium" if chromium else "python",
        "page": "mk.js" if game_dir else "practice",
    }
    log(f"bench stream {Path(video).name} ({figures['client']}, {figures['page']} page, "
        f"source {figures['source_fps']:g} fps): " + report.line())
    return figures


def _play_in_chromium(url: str, session: LiveSession, chromium: str) -> None:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise ActionrecError("the browser benchmark needs Playwright for Python (pip install playwright)") from None
    if not Path(chromium).is_file():
        raise ActionrecError(f"{chromium}: Chromium not found (apt-get install chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=list(CHROMIUM_ARGS))
        try:
            browser.new_page().goto(url)
            _wait_for_ready_page(session)
            session.wait()
        finally:
            browser.close()


PAGE_READY_TIMEOUT = 60.0  # MK.js loads about 630 images before its hooks exist: 4-5 s here, more on a busy machine


def _wait_for_ready_page(session: LiveSession) -> None:
    deadline = time.monotonic() + PAGE_READY_TIMEOUT
    while time.monotonic() < deadline:
        page = session.bridge.page or {}
        if page.get("ready"):
            return
        time.sleep(0.05)
    problem = (session.bridge.page or {}).get("problem") or "it never reported ready"
    raise ActionrecError(f"the page did not become ready in {PAGE_READY_TIMEOUT:g} s: {problem}")


async def _play_in_python(url: str, session: LiveSession) -> None:
    from websockets.asyncio.client import connect

    origin = url.rstrip("/")
    async with connect(origin.replace("http://", "ws://") + SOCKET_PATH, origin=origin) as ws:
        await ws.send(json.dumps({"type": "page", "ready": True}))  # as bridge.js does: the stream may start
        while not session.wait(0):
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout=0.2)
            except (asyncio.TimeoutError, ConnectionClosed):
                continue
            if isinstance(raw, str):
                msg = json.loads(raw)
                if msg.get("type") == "event":
                    await ws.send(json.dumps({"type": "ack", "seq": msg["seq"], "hook": "python", "ran": True}))

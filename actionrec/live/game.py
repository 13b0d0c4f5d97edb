"""``actionrec live``: camera -> classifier -> trigger -> bridge -> page, with the game hooks and figures.

``LiveSession`` wires a camera stream (``stream``) to the page server (``server``); ``run_live`` is the command.
Each event's target on the page comes from ``DEFAULT_TARGETS`` (fine classes as MK.js moves, the article's
three hooks as the fallback) and the user's ``hooks``, which win over them (see bridge.js).
"""

from __future__ import annotations

import time
import webbrowser
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from actionrec.events.trigger import TriggerOptions, TriggerPolicy
from actionrec.live.camera import FrameGrabber, Source, describe_source
from actionrec.live.mkjs import DEFAULT_MOVES, check_pattern
from actionrec.live.server import DEFAULT_HOOKS, Bridge, ServedLoop, preview_jpeg
from actionrec.live.site import Site
from actionrec.live.stream import StreamClassifier, StreamStats, stream_steps

DEFAULT_TARGETS = {**DEFAULT_MOVES, **DEFAULT_HOOKS}


@dataclass(frozen=True)
class LiveOptions:
    source: Source = 0
    host: str = "127.0.0.1"
    allow_hosts: tuple[str, ...] = ()  # names besides loopback and ``host`` the page may be opened by
    port: int = 8765
    game_dir: Path | None = None
    hooks: dict[str, str] = field(default_factory=dict)  # the user's CLASS -> hook or move; win over DEFAULT_TARGETS
    trigger: TriggerOptions = field(default_factory=TriggerOptions)
    wait_for_page: bool = False  # start reading the source only once a page says it can run hooks (MK.js: loaded)
    report_every: float = 5.0  # seconds between status lines
    preview_fps: float = 10.0  # camera pictures and probability bars sent to the page per second
    preview_width: int = 320
    stall_timeout: float = 5.0  # a source silent this long has failed
    linger: float = 1.0  # keep serving this long after the source ended, for the last acknowledgements


@dataclass(frozen=True)
class LiveReport:
    frames: int
    dropped: int
    fps: float
    step_ms: tuple[float, float]  # p50, p95
    hook_ms: tuple[float, float]  # capture-to-hook p50, p95
    hooks_acknowledged: int
    events: list[dict]
    message: str
    failed: bool
    missing_hooks: int = 0  # events the page acknowledged without running anything

    def line(self) -> str:
        hooks = (f"capture->hook p50 {self.hook_ms[0]:.1f} ms p95 {self.hook_ms[1]:.1f} ms (n={self.hooks_acknowledged})"
                 if self.hooks_acknowledged else "capture->hook: no hook acknowledged yet")
        return (f"fps {self.fps:.1f} ({self.frames} frames, {self.dropped} dropped)  "
                f"step p50 {self.step_ms[0]:.1f} ms p95 {self.step_ms[1]:.1f} ms  {hooks}  events {len(self.events)}"
                f"  no hook {self.missing_hooks}")


class LiveSession(ServedLoop):
    """Camera -> classifier -> trigger -> bridge -> page, until the source ends or ``stop()``."""

    def __init__(self, session, options: LiveOptions, log: Callable[[str], None] = print) -> None:
        self._init_loop("actionrec-inference")
        self.session = session  # a runtime.InferenceSession
        self.options = options
        self.log = log
        site = Site(options.game_dir)  # before opening the camera: a bad game folder fails first
        for pattern in options.hooks:
            check_pattern(pattern, session.classes)
        self.grabber = FrameGrabber(options.source, realtime=True)
        self.classifier = StreamClassifier.for_session(session, source_fps=max(60.0, self.grabber.fps))
        self.policy = TriggerPolicy(session.classes, options.trigger, session.frame_spec.fps)
        self.stats = StreamStats()
        self.events: list[dict] = []
        self._said: set[str] = set()  # one-time messages already logged
        hello = {"classes": session.classes, "source": describe_source(options.source)}
        self.bridge = Bridge(site, options.host, options.port, DEFAULT_TARGETS, hello, allow_hosts=options.allow_hosts,
                             user_hooks=options.hooks, on_page=self._on_page)

    def report(self) -> LiveReport:
        g = self.grabber
        return LiveReport(
            frames=self.stats.processed, dropped=g.dropped, fps=self.stats.fps(), step_ms=self.stats.step_ms(),
            hook_ms=self.bridge.latency.ms(), hooks_acknowledged=self.bridge.latency.acknowledged,
            events=list(self.events), message=g.message, failed=g.failed,
            missing_hooks=self.bridge.latency.missing_hooks,
        )

    def _once(self, key: str, line: str) -> None:
        if key not in self._said:
            self._said.add(key)
            self.log(line)

    def _on_page(self, state: dict) -> None:
        """A page's report (bridge.js): the stream starts once one can run hooks."""
        if state.get("ready"):
            how = f"{state.get('gameType')} game, Detect from {state.get('detect')}" if state.get("game") else "practice page"
            self._once("ready", f"page ready ({how})")
            self._go.set()
        elif state.get("problem"):
            self._once("problem:" + str(state["problem"]), f"warning: the page cannot play: {state['problem']}")

    def _warn_missing_hook(self) -> None:
        ack = self.bridge.latency.first_missing
        if ack is not None:
            self._once("missing", f"warning: event {ack.get('seq')} ran nothing on the page ({ack.get('reason')}); "
                                  "check --hook, or the page's window.Detect")

    def _before_start(self) -> None:
        # The first TensorFlow call traces the graph (a second or more): do it before the camera runs.
        spec = self.classifier.spec
        blank = np.zeros((spec.height, spec.width, 3), np.uint8)
        features = self.classifier.features  # a pose or diff model's features (pose runs on the source frame)
        emb = self.classifier.embed(blank) if features is None else features(blank, 0.0)
        if features is not None:
            features.clear()  # the blank frame is not part of the stream
        self.classifier.predict_window(np.repeat(emb[None], self.classifier.buffer.window, axis=0))

    def _run(self) -> None:
        try:
            self._go.wait()
            if self._stop.is_set():
                return
            self.stats = StreamStats()
            next_preview = next_report = time.perf_counter()
            for step in stream_steps(self.grabber, self.classifier, self.policy,
                                     self.options.stall_timeout, self._stop):
                self.stats.add(step)
                if step.warning:
                    self.log(f"warning: {step.warning}")
                    self.bridge.publish({"type": "framing", "message": step.warning})
                for event in step.events:
                    seq = self.bridge.publish_event(event, step.frame.captured_at)
                    self.events.append({"seq": seq, **event.to_dict(), "captured_at": step.frame.captured_at})
                now = time.perf_counter()
                if self.bridge.clients and now >= next_preview:
                    next_preview = now + 1.0 / self.options.preview_fps
                    self._send_preview(step.frame.bgr, step.probs, step.frame.t)
                    self._warn_missing_hook()
                if now >= next_report:
                    next_report = now + self.options.report_every
                    if self.stats.processed > 1:
                        line = self.report().line()
                        self.log(line)
                        self.bridge.publish({"type": "stats", "line": line})
            if self.grabber.message:
                self.log(self.grabber.message)
            self.bridge.publish({"type": "end", "message": self.grabber.message, "failed": self.grabber.failed})
            self._stop.wait(self.options.linger)
            self._warn_missing_hook()
        finally:
            self.grabber.stop()
            self._done.set()

    def _send_preview(self, bgr: np.ndarray, probs: np.ndarray, t: float) -> None:
        jpeg = preview_jpeg(bgr, self.options.preview_width)
        if jpeg is not None:
            self.bridge.publish_frame(jpeg)
        message = {"type": "probs", "t": round(t, 3), "probs": [round(float(p), 4) for p in probs]}
        features = getattr(self.classifier, "features", None)
        if features is not None and features.features.uses_pose:  # its latest 33 landmarks [x, y, visibility], in 0..1
            message["pose"] = features.landmarks()
        self.bridge.publish(message)


def run_live(model_dir: str | Path, options: LiveOptions, weights: str | Path | None = None,
             log: Callable[[str], None] = print, backend: str = "auto", threads: int = 1,
             open_browser: bool = False) -> LiveReport:
    """The ``live`` command: serve the page, play until the source ends or Ctrl-C, print figures.

    ``open_browser`` (``play``): open the page in this machine's browser too.
    """
    from actionrec.live.runtime import InferenceSession, SessionOptions

    if options.game_dir is not None:
        Site(options.game_dir)  # a wrong folder fails here, not after the model has loaded
    inference = InferenceSession(SessionOptions(model_dir, backend=backend, num_threads=threads, weights=weights))
    log(f"inference: {inference.backend} ({inference.reason})")
    session = LiveSession(inference, options, log)
    url = session.start()
    log(f"serving {url}  (source: {describe_source(options.source)}; open the page in a browser)")
    if options.wait_for_page:
        log("the source is read once the page is ready" + (" (the game's images have loaded)" if options.game_dir else ""))
    if open_browser and not webbrowser.open(url):
        log(f"could not open a browser here: open {url} yourself")
    try:
        while not session.wait(0.5):
            pass
    except KeyboardInterrupt:
        log("stopping")
    finally:
        session.stop()
    report = session.report()
    log("final: " + report.line())
    return report



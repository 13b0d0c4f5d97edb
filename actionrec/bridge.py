"""The game bridge: one local server that serves the page and pushes events to it over a WebSocket.

One ``websockets`` server does both jobs (no extra dependency): ``process_request`` answers plain HTTP
GETs with static files, and ``/ws`` upgrades to the event socket. The page is either the built-in
practice page (camera picture, probability bars, event log) or the user's MK.js ``game/`` folder with
``bridge.js`` injected and the ``webcaminput`` game type selected. ``bridge.js`` calls the
``window.Detect`` hook of each event (``onPunch``, ``onKick``, ``onStand``) and acknowledges it, which
gives the capture-to-hook latency.

Only pages served by this server may open the socket: the ``Origin`` must be this server's own address
(403 otherwise), and the ``Host`` header must name it too, so another site cannot reach the server by
pointing a DNS name at 127.0.0.1.

``LiveSession`` wires a camera stream (``stream.py``) to the bridge; ``run_live`` is the ``live`` command.
"""

from __future__ import annotations

import asyncio
import email.utils
import http
import json
import math
import mimetypes
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from urllib.parse import unquote, urlsplit

import cv2
import numpy as np
from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from .errors import ActionrecError
from .stream import FrameGrabber, Source, StreamClassifier, StreamStats, describe_source, stream_steps
from .trigger import Event, TriggerOptions, TriggerPolicy

WEB_DIR = Path(__file__).parent / "web"
ASSETS = "/actionrec/"  # our files, under a prefix that cannot clash with the game's
SOCKET_PATH = "/ws"
BRIDGE_TAG = '<script src="/actionrec/bridge.js"></script>'
DEFAULT_HOOKS = {"punch/*": "onPunch", "kick/*": "onKick", "stand": "onStand"}
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
WILDCARD_HOSTS = ("0.0.0.0", "::", "")
# A page whose socket has this much unsent data gets no camera pictures until it catches up.
PREVIEW_BACKLOG_BYTES = 256 * 1024
MAX_UNACKNOWLEDGED = 1000  # events remembered for latency while waiting for the page's acknowledgement


class Site:
    """The files behind the server: a built-in page of ``web/`` (the practice page unless ``page`` names
    another, e.g. ``record.html``), or a MK.js ``game/`` folder with the bridge injected."""

    def __init__(self, game_dir: str | Path | None = None, page: str = "practice.html") -> None:
        self.game_dir = Path(game_dir).resolve() if game_dir is not None else None
        if self.game_dir is not None:
            index = self.game_dir / "index.html"
            if not index.is_file():
                raise ActionrecError(f"{game_dir}: no index.html; expected the game/ folder of an MK.js checkout")
            self._index = inject_bridge(index.read_text(encoding="utf-8"), index)
        else:
            self._index = (WEB_DIR / page).read_text(encoding="utf-8")

    def get(self, path: str) -> tuple[bytes, str] | None:
        """(body, content type) for a URL path, or None if there is no such file."""
        path = unquote(urlsplit(path).path)
        if path in ("/", "/index.html"):
            return self._index.encode("utf-8"), "text/html; charset=utf-8"
        if path.startswith(ASSETS):
            return _read_inside(WEB_DIR, path[len(ASSETS):])
        if self.game_dir is not None:
            return _read_inside(self.game_dir, path.lstrip("/"))
        return None


def inject_bridge(html: str, where: Path | str = "index.html") -> str:
    """Select MK.js's ``webcaminput`` game type and load ``bridge.js`` at the end of the body."""
    html, n = re.subn(r"gameType\s*:\s*(['\"])[^'\"]*\1", "gameType: 'webcaminput'", html)
    if n == 0:
        raise ActionrecError(f"{where}: found no `gameType: '...'` option to switch to 'webcaminput'; is it MK.js?")
    close = html.lower().rfind("</body>")
    return html[:close] + BRIDGE_TAG + "\n" + html[close:] if close >= 0 else html + BRIDGE_TAG


def _read_inside(root: Path, rel: str) -> tuple[bytes, str] | None:
    target = (root / rel).resolve()
    if not target.is_relative_to(root.resolve()) or not target.is_file():
        return None  # also refuses ../ escapes
    kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    if kind.startswith("text/") or kind in ("application/javascript", "application/json"):
        kind += "; charset=utf-8"
    return target.read_bytes(), kind


def _netloc(host: str, port: int) -> str:
    """host:port as it appears in a Host header or an Origin (IPv6 in brackets)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _percentiles(values: list[float]) -> tuple[float, float]:
    if not values:
        return float("nan"), float("nan")
    return float(np.percentile(values, 50)), float(np.percentile(values, 95))


@dataclass
class HookLatency:
    """Capture-to-hook latency: from the frame's capture to the page's acknowledgement that the hook ran.

    Measured on the server's clock when the acknowledgement arrives, so it is an upper bound that needs
    no clock agreement with the browser.
    """

    sent: dict[int, float] = field(default_factory=dict)  # seq -> capture wall time, until acknowledged
    seconds: list[float] = field(default_factory=list)
    missing_hooks: int = 0  # events the page had no Detect hook for

    def ms(self) -> tuple[float, float]:
        p50, p95 = _percentiles(self.seconds)
        return p50 * 1000, p95 * 1000


def preview_jpeg(bgr: np.ndarray, width: int) -> bytes | None:
    """A camera frame shrunk to ``width`` pixels and JPEG-encoded for the page (None if encoding failed)."""
    h = max(1, round(bgr.shape[0] * width / bgr.shape[1]))
    ok, jpeg = cv2.imencode(".jpg", cv2.resize(bgr, (width, h), interpolation=cv2.INTER_AREA),
                            [cv2.IMWRITE_JPEG_QUALITY, 70])
    return jpeg.tobytes() if ok else None


class Bridge:
    """The server. Thread-safe ``publish_*`` methods feed it from the inference thread.

    It runs its own asyncio loop in a background thread: ``start()`` returns once it listens.
    """

    def __init__(self, site: Site, host: str = "127.0.0.1", port: int = 8765,
                 hooks: dict[str, str] | None = None, hello: dict | None = None,
                 on_connect: Callable[[], None] | None = None,
                 on_message: Callable[[dict], None] | None = None) -> None:
        self.site = site
        self.host = host
        self.port = port  # 0 picks a free port; the real one is known after start()
        self.hooks = dict(hooks or DEFAULT_HOOKS)
        self.hello = dict(hello or {})
        self.on_connect = on_connect
        self.on_message = on_message  # called (on the server's thread) with each page message that is not an ack
        self.latency = HookLatency()
        self.acks: list[dict] = []
        self._clients: set[ServerConnection] = set()
        self._seq = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server = None
        self._ready = threading.Event()
        self._failed: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="actionrec-bridge", daemon=True)
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in WILDCARD_HOSTS else self.host
        return f"http://{_netloc(host, self.port)}/"

    @property
    def clients(self) -> int:
        return len(self._clients)

    def start(self) -> "Bridge":
        self._thread.start()
        self._ready.wait()
        if self._failed is not None:
            raise ActionrecError(f"cannot serve on {self.host}:{self.port} ({self._failed})")
        return self

    def stop(self) -> None:
        """Close the server; safe to call again, or before ``start()``."""
        if self._server is not None:
            self._call(self._server.close)
        if self._thread.ident is not None:
            self._thread.join(timeout=5.0)

    def disconnect_clients(self) -> None:
        """Close every page's socket (they reconnect by themselves)."""

        def close_all() -> None:
            for connection in list(self._clients):
                asyncio.ensure_future(connection.close(1012, "bridge restart"))

        self._call(close_all)

    def publish(self, message: dict) -> None:
        text = json.dumps(message)
        self._call(lambda: broadcast(self._clients, text))

    def publish_event(self, event: Event, captured_at: float) -> int:
        """Send a game event; returns its sequence number."""
        with self._lock:
            self._seq += 1
            seq = self._seq
            if self._clients:  # nobody to acknowledge it otherwise
                self.latency.sent[seq] = captured_at
                if len(self.latency.sent) > MAX_UNACKNOWLEDGED:
                    self.latency.sent.pop(next(iter(self.latency.sent)))
        self.publish({"type": "event", "seq": seq, **event.to_dict(), "captured_at": captured_at})
        return seq

    def publish_frame(self, jpeg: bytes) -> None:
        """The camera picture for the practice page; skipped for pages that are behind."""

        def send() -> None:
            ready = [c for c in self._clients if c.transport.get_write_buffer_size() < PREVIEW_BACKLOG_BYTES]
            broadcast(ready, jpeg)

        self._call(send)

    def _call(self, fn: Callable[[], object]) -> None:
        if self._loop is not None and not self._loop.is_closed():
            try:
                self._loop.call_soon_threadsafe(fn)
            except RuntimeError:  # the loop closed between the check and the call
                pass

    # --- the asyncio side ---

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported by start(); a bind error is the usual cause
            self._failed = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        async with serve(self._handle, self.host, self.port, process_request=self._process_request,
                         max_size=2**16, ping_interval=5, ping_timeout=10, close_timeout=1) as server:
            self._server = server
            self.port = server.sockets[0].getsockname()[1]
            self._ready.set()
            await server.wait_closed()

    def _allowed_hosts(self, request: Request) -> set[str]:
        if self.host in WILDCARD_HOSTS:
            # Bound to every interface: we cannot list our own names, so the page's Host is trusted.
            return {request.headers.get("Host", "")}
        names = LOOPBACK_NAMES if self.host in LOOPBACK_NAMES else (self.host,)
        return {_netloc(n, self.port) for n in names}

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        allowed = self._allowed_hosts(request)
        if request.headers.get("Host") not in allowed:
            return connection.respond(http.HTTPStatus.FORBIDDEN, "unknown Host\n")
        path = urlsplit(request.path).path
        if path == SOCKET_PATH:
            if request.headers.get("Origin") not in {f"http://{h}" for h in allowed}:
                return connection.respond(http.HTTPStatus.FORBIDDEN, "only pages served by actionrec may connect\n")
            return None  # go on with the WebSocket handshake
        found = self.site.get(request.path)
        if found is None:
            return connection.respond(http.HTTPStatus.NOT_FOUND, f"{path}: not found\n")
        body, kind = found
        headers = Headers([
            ("Date", email.utils.formatdate(usegmt=True)),
            ("Connection", "close"),
            ("Content-Length", str(len(body))),
            ("Content-Type", kind),
            ("Cache-Control", "no-store"),
        ])
        return Response(200, "OK", headers, body)

    async def _handle(self, connection: ServerConnection) -> None:
        self._clients.add(connection)
        try:
            await connection.send(json.dumps({"type": "hello", "hooks": self.hooks, **self.hello}))
            if self.on_connect is not None:
                self.on_connect()
            async for raw in connection:
                self._on_message(raw)
        except ConnectionClosed:
            pass
        finally:
            self._clients.discard(connection)

    def _on_message(self, raw: str | bytes) -> None:
        try:
            msg = json.loads(raw)
        except ValueError:
            return  # pages send JSON (acknowledgements, record commands); ignore anything else
        if not isinstance(msg, dict):
            return
        if msg.get("type") != "ack":
            if self.on_message is not None:
                self.on_message(msg)
            return
        received = time.time()
        self.acks.append(msg)
        with self._lock:
            captured = self.latency.sent.pop(msg.get("seq"), None)
        if captured is None:
            return  # a second page acknowledging the same event
        if msg.get("ran"):
            self.latency.seconds.append(received - captured)
        else:
            self.latency.missing_hooks += 1


@dataclass(frozen=True)
class LiveOptions:
    source: Source = 0
    host: str = "127.0.0.1"
    port: int = 8765
    game_dir: Path | None = None
    hooks: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_HOOKS))
    trigger: TriggerOptions = field(default_factory=TriggerOptions)
    wait_for_page: bool = False  # start reading the source only once a page is connected
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

    def line(self) -> str:
        hooks = (f"capture->hook p50 {self.hook_ms[0]:.1f} ms p95 {self.hook_ms[1]:.1f} ms (n={self.hooks_acknowledged})"
                 if self.hooks_acknowledged else "capture->hook: no hook acknowledged yet")
        return (f"fps {self.fps:.1f} ({self.frames} frames, {self.dropped} dropped)  "
                f"step p50 {self.step_ms[0]:.1f} ms p95 {self.step_ms[1]:.1f} ms  {hooks}  events {len(self.events)}")


class ServedLoop:
    """A source read by one worker thread while a ``Bridge`` serves the page: ``start``, ``wait``, ``stop``.

    Subclasses create ``self.grabber``, ``self.bridge`` and ``self.options`` (with ``wait_for_page``),
    call ``_init_loop(name)``, and implement ``_run``, which must set ``self._done`` when it returns.
    """

    stop_timeout = 10.0  # how long ``stop`` waits for the worker to finish its current step

    def _init_loop(self, name: str) -> None:
        self._go = threading.Event()  # set: read the source (at once, or when the first page connects)
        self._stop = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _before_start(self) -> None:
        """Work to finish before the page is served (e.g. warming up the model)."""

    def _run(self) -> None:
        raise NotImplementedError

    def start(self) -> str:
        """Serve the page and start the loop (or wait for the first page); returns the page URL."""
        self._before_start()
        try:
            self.bridge.start()
        except ActionrecError:
            self.grabber.stop()  # release the camera
            raise
        if not self.options.wait_for_page:
            self._go.set()
        self._thread.start()
        return self.bridge.url

    def wait(self, timeout: float | None = None) -> bool:
        """True once the loop has ended (source over or failed, work done, or stopped)."""
        return self._done.wait(timeout)

    def stop(self) -> None:
        self._stop.set()
        self._go.set()
        if self._thread.is_alive():
            self._done.wait(timeout=self.stop_timeout)
        self.grabber.stop()
        self.bridge.stop()


class LiveSession(ServedLoop):
    """Camera -> classifier -> trigger -> bridge -> page, until the source ends or ``stop()``."""

    def __init__(self, session, options: LiveOptions, log: Callable[[str], None] = print) -> None:
        self._init_loop("actionrec-inference")
        self.session = session  # a runtime.InferenceSession
        self.options = options
        self.log = log
        site = Site(options.game_dir)  # before opening the camera: a bad game folder fails first
        self.grabber = FrameGrabber(options.source, realtime=True)
        self.classifier = StreamClassifier.for_session(session, source_fps=max(60.0, self.grabber.fps))
        self.policy = TriggerPolicy(session.classes, options.trigger)
        self.stats = StreamStats()
        self.events: list[dict] = []
        hello = {"classes": session.classes, "source": describe_source(options.source)}
        self.bridge = Bridge(site, options.host, options.port, options.hooks, hello, on_connect=self._go.set)

    def report(self) -> LiveReport:
        g = self.grabber
        return LiveReport(
            frames=self.stats.processed, dropped=g.dropped, fps=self.stats.fps(), step_ms=self.stats.step_ms(),
            hook_ms=self.bridge.latency.ms(), hooks_acknowledged=len(self.bridge.latency.seconds),
            events=list(self.events), message=g.message, failed=g.failed,
        )

    def _before_start(self) -> None:
        # The first TensorFlow call traces the graph (a second or more): do it before the camera runs.
        spec = self.classifier.spec
        emb = self.classifier.embed(np.zeros((spec.height, spec.width, 3), np.uint8))
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
                for event in step.events:
                    seq = self.bridge.publish_event(event, step.frame.captured_at)
                    self.events.append({"seq": seq, **event.to_dict(), "captured_at": step.frame.captured_at})
                now = time.perf_counter()
                if self.bridge.clients and now >= next_preview:
                    next_preview = now + 1.0 / self.options.preview_fps
                    self._send_preview(step.frame.bgr, step.probs, step.frame.t)
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
        finally:
            self.grabber.stop()
            self._done.set()

    def _send_preview(self, bgr: np.ndarray, probs: np.ndarray, t: float) -> None:
        jpeg = preview_jpeg(bgr, self.options.preview_width)
        if jpeg is not None:
            self.bridge.publish_frame(jpeg)
        self.bridge.publish({"type": "probs", "t": round(t, 3), "probs": [round(float(p), 4) for p in probs]})


def run_live(model_dir: str | Path, options: LiveOptions, weights: str | Path | None = None,
             log: Callable[[str], None] = print, backend: str = "auto", threads: int = 1) -> LiveReport:
    """The ``live`` command: serve the page, play until the source ends or Ctrl-C, print figures."""
    from .runtime import InferenceSession, SessionOptions

    inference = InferenceSession(SessionOptions(model_dir, backend=backend, num_threads=threads, weights=weights))
    log(f"inference: {inference.backend} ({inference.reason})")
    session = LiveSession(inference, options, log)
    url = session.start()
    log(f"serving {url}  (source: {describe_source(options.source)}; open the page in a browser)")
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


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ("--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync")


def bench_stream(session, video: str | Path, trigger: TriggerOptions | None = None,
                 chromium: str | None = CHROMIUM, log: Callable[[str], None] = print) -> dict:
    """Live play with ``video`` as the camera (at its own rate) and the practice page in headless Chromium.

    Figures: sustained fps against the source's rate, dropped frames, per-frame step time, and
    capture-to-hook latency through the real browser. ``chromium=None`` acknowledges from a Python
    WebSocket client instead (no browser needed). Prints one line and returns the figures.
    """
    options = LiveOptions(source=str(video), port=0, wait_for_page=True, trigger=trigger or TriggerOptions(),
                          report_every=math.inf, linger=0.5)
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
        "client": "chromium" if chromium else "python",
    }
    log(f"bench stream {Path(video).name} ({figures['client']}, source {figures['source_fps']:g} fps): " + report.line())
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
            session.wait()
        finally:
            browser.close()


async def _play_in_python(url: str, session: LiveSession) -> None:
    from websockets.asyncio.client import connect

    origin = url.rstrip("/")
    async with connect(origin.replace("http://", "ws://") + SOCKET_PATH, origin=origin) as ws:
        while not session.wait(0):
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout=0.2)
            except (asyncio.TimeoutError, ConnectionClosed):
                continue
            if isinstance(raw, str):
                msg = json.loads(raw)
                if msg.get("type") == "event":
                    await ws.send(json.dumps({"type": "ack", "seq": msg["seq"], "hook": "python", "ran": True}))

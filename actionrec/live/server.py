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

``ServedLoop`` is the start/wait/stop lifecycle shared by ``live`` (``game.py``) and ``record``.
"""

from __future__ import annotations

import asyncio
import email.utils
import http
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import urlsplit

import cv2
import numpy as np
from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from actionrec.errors import ActionrecError
from actionrec.events.trigger import Event
from actionrec.live.site import SOCKET_PATH, Site

DEFAULT_HOOKS = {"punch/*": "onPunch", "kick/*": "onKick", "stand": "onStand"}
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
WILDCARD_HOSTS = ("0.0.0.0", "::", "")
# A page whose socket has this much unsent data gets no camera pictures until it catches up.
PREVIEW_BACKLOG_BYTES = 256 * 1024
MAX_UNACKNOWLEDGED = 1000  # events remembered for latency while waiting for the page's acknowledgement


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



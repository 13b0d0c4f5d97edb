"""The game bridge: one local server that serves the page and pushes events to it over a WebSocket.

One ``websockets`` server does both jobs (no extra dependency): ``process_request`` answers plain HTTP
GETs with static files, and ``/ws`` upgrades to the event socket. The page is either the built-in
practice page (camera picture, probability bars, event log) or the user's MK.js checkout, its page
rewritten in memory (``mkjs``). ``bridge.js`` runs each event's target (a ``window.Detect`` hook such as
``onPunch``, or an MK.js move such as ``SPIN_KICK``) and acknowledges it, which gives the capture-to-hook
latency; it also reports when the page is ready to run them (``on_page``), which starts the stream.

Only pages served by this server may open the socket: the ``Origin`` must be this server's own address
(403 otherwise), and the ``Host`` header must name it too, so another site cannot reach the server by
pointing a DNS name at 127.0.0.1 (DNS rebinding). The names it answers to are the loopback names, the
address it is bound to, and the ones passed as ``allow_hosts`` (``--allow-host``): bound to every
interface (0.0.0.0) it cannot know its own names, so a phone on the LAN needs the machine's name or
address listed. Malformed requests (a NUL or a very long path, two Host headers) get a 400, and page
messages are checked by type; only the fields the latency figures need are kept from acknowledgements,
in bounded queues, so a page that floods the socket cannot grow the server's memory.

``ServedLoop`` is the start/wait/stop lifecycle shared by ``live`` (``game.py``) and ``record``.
"""

from __future__ import annotations

import asyncio
import email.utils
import http
import ipaddress
import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Iterable
from urllib.parse import unquote, urlsplit

import cv2
import numpy as np
from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from actionrec.errors import ActionrecError
from actionrec.util.stats import p50_p95
from actionrec.events.trigger import Event
from actionrec.live.site import SOCKET_PATH, Site

DEFAULT_HOOKS = {"punch/*": "onPunch", "kick/*": "onKick", "stand": "onStand"}
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
WILDCARD_HOSTS = ("0.0.0.0", "::", "")
# A page whose socket has this much unsent data gets no camera pictures until it catches up.
PREVIEW_BACKLOG_BYTES = 256 * 1024
MAX_UNACKNOWLEDGED = 1000  # events remembered for latency while waiting for the page's acknowledgement
# Latencies kept for p50/p95 (the latest; about 3 h at one event a second, 80 KB of floats).
LATENCY_SAMPLES = 10_000
# Acknowledgements kept for inspection, each cut down to ACK_FIELDS with strings of at most ACK_TEXT_CHARS:
# keeping whole messages let 3000 acks of 60 KB grow the server from 55 to 229 MB.
RECENT_ACKS = 100
ACK_FIELDS = ("seq", "hook", "ran", "move", "reason", "at")
ACK_TEXT_CHARS = 200
PAGE_FIELDS = ("ready", "problem", "game", "gameType", "requested", "detect")  # of bridge.js's page reports
# Longer URL paths than any file of the page or the game (MK.js's longest is 70 characters) get a 400;
# a file name over the file system's 255 bytes would otherwise be an OSError (a 500) when looked up.
MAX_PATH_CHARS = 1024
MAX_NAME_CHARS = 255
_HOST_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")


def _netloc(host: str, port: int) -> str:
    """host:port as it appears in a Host header or an Origin (IPv6 in brackets)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass
class HookLatency:
    """Capture-to-hook latency: from the frame's capture to the page's acknowledgement that the hook ran.

    Measured on the server's clock when the acknowledgement arrives, so it is an upper bound that needs
    no clock agreement with the browser.
    """

    sent: dict[int, float] = field(default_factory=dict)  # seq -> capture wall time, until acknowledged
    seconds: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_SAMPLES))  # the latest
    acknowledged: int = 0  # events whose hook ran, all of them (``seconds`` keeps only the latest)
    missing_hooks: int = 0  # events the page had no Detect hook for
    first_missing: dict | None = None  # the first of those acknowledgements (hook, reason), for one warning

    def ms(self) -> tuple[float, float]:
        return p50_p95(self.seconds, 1000)


def allowed_host_names(host: str, allow_hosts: Iterable[str] = ()) -> set[str]:
    """The names a Host header may carry for a server bound to ``host``: loopback, the bound address, and
    ``allow_hosts`` (each checked: a host name or IP address without a port)."""
    names = set(LOOPBACK_NAMES)
    if host not in WILDCARD_HOSTS:
        names.add(host)
    for name in allow_hosts:
        if not (_HOST_NAME.fullmatch(name) or _is_ip(name)):
            raise ActionrecError(f"allowed host {name!r}: expected a host name or IP address without a port "
                                 "or scheme, e.g. mylaptop.local or 192.168.1.20")
        names.add(name)
    return {n.lower() for n in names}


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _short(value: object) -> object:
    """An acknowledgement field as kept: scalars as they are, strings cut short, anything else dropped."""
    if isinstance(value, str):
        return value[:ACK_TEXT_CHARS]
    return value if value is None or isinstance(value, (bool, int, float)) else None


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
                 on_message: Callable[[dict], None] | None = None,
                 allow_hosts: Iterable[str] = (), user_hooks: dict[str, str] | None = None,
                 on_page: Callable[[dict], None] | None = None) -> None:
        self.site = site
        self.host = host
        self.host_names = allowed_host_names(host, allow_hosts)
        self.port = port  # 0 picks a free port; the real one is known after start()
        self.hooks = dict(hooks or DEFAULT_HOOKS)  # the defaults; bridge.js lets the user's entries win
        self.user_hooks = dict(user_hooks or {})
        self.on_page = on_page  # called with each page state report ({ready, problem, ...}, PAGE_FIELDS only)
        self.page: dict | None = None  # the latest page state report
        self.hello = dict(hello or {})
        self.on_connect = on_connect
        self.on_message = on_message  # called (on the server's thread) with each page message that is not an ack
        self.latency = HookLatency()
        self.acks: deque[dict] = deque(maxlen=RECENT_ACKS)  # the latest, ACK_FIELDS only
        self.rejected = 0  # page messages dropped for a wrong type (an ack whose seq is not a number, ...)
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

    def _allowed_netlocs(self) -> set[str]:
        netlocs = {_netloc(n, self.port) for n in self.host_names}
        if self.port == 80:  # browsers leave the default port out of Host and Origin
            netlocs |= {f"[{n}]" if ":" in n else n for n in self.host_names}
        return netlocs

    @staticmethod
    def _malformed(request: Request) -> str | None:
        """Why a request is malformed (answered with a 400), or None."""
        if len(request.path) > MAX_PATH_CHARS:
            return f"request path of {len(request.path)} characters; expected at most {MAX_PATH_CHARS}"
        hosts, origins = request.headers.get_all("Host"), request.headers.get_all("Origin")
        if len(hosts) != 1:  # HTTP/1.1 requires exactly one
            return f"{len(hosts)} Host headers; expected exactly one"
        if len(origins) > 1:
            return f"{len(origins)} Origin headers; expected at most one"
        path = unquote(urlsplit(request.path).path)
        if any(ord(c) < 32 or ord(c) == 127 for c in path):
            return "control character (such as %00) in the request path"
        if any(len(part.encode("utf-8")) > MAX_NAME_CHARS for part in path.split("/")):
            return f"a name in the request path is longer than {MAX_NAME_CHARS} bytes"
        return None

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        problem = self._malformed(request)
        if problem is not None:
            return connection.respond(http.HTTPStatus.BAD_REQUEST, problem + "\n")
        allowed = self._allowed_netlocs()
        host = request.headers.get("Host", "")
        if host.lower() not in allowed:
            return connection.respond(http.HTTPStatus.FORBIDDEN,
                                      f"unknown Host {host[:100]!r}; start actionrec with --allow-host NAME to serve it\n")
        path = urlsplit(request.path).path
        if path == SOCKET_PATH:
            if request.headers.get("Origin", "").lower() not in {f"http://{h}" for h in allowed}:
                return connection.respond(http.HTTPStatus.FORBIDDEN, "only pages served by actionrec may connect\n")
            return None  # go on with the WebSocket handshake
        try:
            found = self.site.get(request.path)
        except (OSError, ValueError) as exc:  # a name the file system refuses is no file we serve
            return connection.respond(http.HTTPStatus.NOT_FOUND, f"{path[:200]}: not found ({type(exc).__name__})\n")
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
            await connection.send(json.dumps({"type": "hello", "hooks": self.hooks, "user_hooks": self.user_hooks,
                                              **self.hello}))
            if self.on_connect is not None:
                self.on_connect()
            async for raw in connection:
                self._on_message(raw)
        except ConnectionClosed:
            pass
        finally:
            self._clients.discard(connection)

    def _on_message(self, raw: str | bytes) -> None:
        received = time.time()
        try:
            msg = json.loads(raw)
        except (ValueError, RecursionError):  # RecursionError: JSON nested thousands deep
            self.rejected += 1
            return  # pages send JSON (acknowledgements, record commands); ignore anything else
        if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
            self.rejected += 1
            return
        if msg["type"] == "page":  # bridge.js: whether the page can run hooks yet (the stream waits for it)
            self.page = {k: _short(msg.get(k)) for k in PAGE_FIELDS}
            if self.on_page is not None:
                self.on_page(self.page)
            return
        if msg["type"] != "ack":
            if self.on_message is not None:
                self.on_message(msg)
            return
        seq, ran = msg.get("seq"), msg.get("ran")
        if type(seq) is not int or not isinstance(ran, bool):  # bool is an int, but no sequence number
            self.rejected += 1
            return
        kept = {k: _short(msg.get(k)) for k in ACK_FIELDS}
        self.acks.append(kept)
        with self._lock:
            captured = self.latency.sent.pop(seq, None)
        if captured is None:
            return  # a second page acknowledging the same event
        if ran:
            self.latency.seconds.append(received - captured)
            self.latency.acknowledged += 1
        else:
            self.latency.missing_hooks += 1
            if self.latency.first_missing is None:
                self.latency.first_missing = kept


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



"""The bridge server against hostile or broken clients: raw HTTP over a socket and a real WebSocket client.

Malformed requests get a 400 (never a 500 with a traceback in the server log), page messages of the wrong
type are dropped without closing the connection, acknowledgements are kept bounded and without their
bodies, and a server bound to every interface answers only to the names it was told.
"""

import asyncio
import json
import logging
import socket
import time

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from actionrec.errors import ActionrecError
from actionrec.events.trigger import Event
from actionrec.live.server import ACK_TEXT_CHARS, RECENT_ACKS, Bridge
from actionrec.live.site import Site

MK_INDEX = """<!DOCTYPE html><html><head><script src="src/mk.js"></script></head><body><div id="arena"></div>
<script>var options = { arena: {}, gameType: 'network', isHost: true }; mk.start(options);</script></body></html>"""


@pytest.fixture
def game_bridge(tmp_path):
    """A server of a game folder: URL paths reach the file system, where a NUL or a long name raise."""
    (tmp_path / "index.html").write_text(MK_INDEX)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "mk.js").write_text("var mk = {};")
    b = Bridge(Site(tmp_path), port=0).start()
    yield b
    b.stop()


def raw_http(port: int, head: str) -> tuple[int, bytes]:
    """Send one request as bytes (no client library smoothing it out); (status, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(head.encode("latin-1"))
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    status_line, _, rest = data.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


@pytest.mark.parametrize("path, extra_headers, why", [
    ("/%00", "", b"control character"),
    ("/actionrec/%00.js", "", b"control character"),
    ("/src/a%0a.js", "", b"control character"),
    ("/" + "a" * 5000, "", b"5001 characters"),
    ("/" + "b" * 300 + ".js", "", b"longer than 255"),
    ("/", "Host: {host}\r\n", b"2 Host headers"),
    ("/ws", "Origin: http://{host}\r\nOrigin: http://{host}\r\n", b"2 Origin headers"),
])
def test_malformed_requests_get_400_without_a_traceback(game_bridge, caplog, path, extra_headers, why):
    host = f"127.0.0.1:{game_bridge.port}"
    with caplog.at_level(logging.DEBUG, logger="websockets"):
        status, body = raw_http(game_bridge.port, f"GET {path} HTTP/1.1\r\nHost: {host}\r\n"
                                                  + extra_headers.format(host=host) + "\r\n")
    assert status == 400 and why in body, body
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


def test_request_without_host_is_400_and_good_requests_still_work(game_bridge):
    assert raw_http(game_bridge.port, "GET / HTTP/1.1\r\n\r\n")[0] == 400
    status, body = raw_http(game_bridge.port, f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{game_bridge.port}\r\n\r\n")
    assert status == 200 and b"/actionrec/bridge.js" in body
    assert raw_http(game_bridge.port, f"GET /missing.js HTTP/1.1\r\nHost: localhost:{game_bridge.port}\r\n\r\n")[0] == 404


async def _session(bridge, messages, then_ack=True):
    """Connect, send ``messages`` (text as is), then acknowledge one real event on the same connection."""
    async with connect(f"ws://127.0.0.1:{bridge.port}/ws", origin=f"http://127.0.0.1:{bridge.port}") as ws:
        assert json.loads(await ws.recv())["type"] == "hello"
        while not bridge.clients:
            await asyncio.sleep(0.01)
        for m in messages:
            await ws.send(m)
        if then_ack:
            seq = bridge.publish_event(Event("punch", "punch/jab", 0.9, 1.0), time.time())
            assert json.loads(await ws.recv())["seq"] == seq
            await ws.send(json.dumps({"type": "ack", "seq": seq, "hook": "onPunch", "ran": True}))
        deadline = time.time() + 5
        while bridge.latency.acknowledged == 0 and then_ack and time.time() < deadline:
            await asyncio.sleep(0.01)


def test_messages_of_the_wrong_type_are_dropped_and_the_connection_lives_on(caplog):
    seen = []
    b = Bridge(Site(), port=0, on_message=seen.append).start()
    bad = [
        json.dumps({"type": "ack", "seq": [1], "ran": True}),  # a list: unhashable, raised TypeError before
        json.dumps({"type": "ack", "seq": {"a": 1}, "ran": True}),
        json.dumps({"type": "ack", "seq": True, "ran": True}),
        json.dumps({"type": "ack", "seq": 1, "ran": "yes"}),
        json.dumps({"type": ["ack"], "seq": 1}),
        json.dumps([1, 2, 3]),
        "[" * 30000 + "]" * 30000,  # nested 30000 deep (within the size limit): RecursionError before
        '{"type": "ack", "seq": ' + "[" * 20000 + "]" * 20000 + "}",
        "not json",
    ]
    try:
        with caplog.at_level(logging.DEBUG, logger="websockets"):
            asyncio.run(_session(b, bad))
    finally:
        b.stop()
    assert b.latency.acknowledged == 1 and len(b.latency.seconds) == 1  # the good ack after them counted
    assert b.rejected == len(bad) and seen == []
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


def test_acknowledgements_are_kept_bounded_and_without_their_bodies():
    b = Bridge(Site(), port=0).start()
    pad = "x" * 30_000  # hook + pad: 60 KB acks, the flood that grew the server by 170 MB per 3000
    flood = [json.dumps({"type": "ack", "seq": 10_000 + i, "hook": "onPunch" + pad, "ran": True, "pad": pad})
             for i in range(3 * RECENT_ACKS)]
    try:
        asyncio.run(_session(b, flood))
    finally:
        b.stop()
    assert len(b.acks) == RECENT_ACKS
    kept = b.acks[-1]
    assert set(kept) == {"seq", "hook", "ran", "move", "reason", "at"} and kept["ran"] is True
    assert all(len(json.dumps(a)) < 2 * ACK_TEXT_CHARS for a in b.acks)
    assert b.latency.acknowledged == 1  # acks of events never sent are not latencies


def _get_status(port: int, host: str) -> int:
    return raw_http(port, f"GET / HTTP/1.1\r\nHost: {host}\r\n\r\n")[0]


def test_wildcard_host_answers_only_to_loopback_and_allowed_names():
    b = Bridge(Site(), host="0.0.0.0", port=0, allow_hosts=["MyBox.local", "192.168.7.20"]).start()
    try:
        p = b.port
        # Before: bound to every interface, any Host was taken as the server's own (DNS rebinding open).
        assert _get_status(p, f"evil.example:{p}") == 403
        assert _get_status(p, f"192.168.7.21:{p}") == 403
        for host in (f"127.0.0.1:{p}", f"localhost:{p}", f"[::1]:{p}", f"mybox.local:{p}", f"192.168.7.20:{p}"):
            assert _get_status(p, host) == 200, host

        async def hello(host, origin):
            # The URL's name goes into Host; the socket reaches 127.0.0.1 as that name's DNS record would.
            sock = socket.create_connection(("127.0.0.1", p), timeout=5)
            async with connect(f"ws://{host}/ws", sock=sock, origin=origin, open_timeout=5) as ws:
                return json.loads(await ws.recv())["type"]

        assert asyncio.run(hello(f"mybox.local:{p}", f"http://mybox.local:{p}")) == "hello"
        with pytest.raises(InvalidStatus) as err:
            asyncio.run(hello(f"mybox.local:{p}", f"http://evil.example:{p}"))
        assert err.value.response.status_code == 403
    finally:
        b.stop()


def test_wildcard_host_without_allowed_names_refuses_lan_names():
    b = Bridge(Site(), host="0.0.0.0", port=0).start()
    try:
        status, body = raw_http(b.port, f"GET / HTTP/1.1\r\nHost: 10.0.0.5:{b.port}\r\n\r\n")
        assert status == 403 and b"--allow-host" in body
        assert _get_status(b.port, f"127.0.0.1:{b.port}") == 200
    finally:
        b.stop()


@pytest.mark.parametrize("name", ["http://box.local", "box.local:8765", "two words", "", "-box", "a/b"])
def test_bad_allowed_host_names_are_refused(name):
    with pytest.raises(ActionrecError, match="expected a host name or IP address without a port"):
        Bridge(Site(), host="0.0.0.0", port=0, allow_hosts=[name])

"""The bridge server with real HTTP and WebSocket clients (no browser): origin check, files, events."""

import asyncio
import json
import time
import urllib.error
import urllib.request

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from actionrec.live.mkjs import ADAPTER_TAG, serve_index
from actionrec.live.site import BRIDGE_TAG, Site
from actionrec.live.server import Bridge
from actionrec.errors import ActionrecError
from actionrec.events.trigger import Event


@pytest.fixture
def bridge():
    b = Bridge(Site(), port=0, hello={"classes": ["kick/front", "other/idle", "punch/jab"]}).start()
    yield b
    b.stop()


def get(url, host=None):
    req = urllib.request.Request(url, headers={"Host": host} if host else {})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return resp.status, resp.headers["Content-Type"], resp.read()


def ws_url(b):
    return f"ws://127.0.0.1:{b.port}/ws"


def test_serves_practice_page_and_assets(bridge):
    status, kind, body = get(bridge.url)
    assert status == 200 and kind.startswith("text/html") and b"/actionrec/bridge.js" in body
    status, kind, body = get(bridge.url + "actionrec/bridge.js")
    assert "javascript" in kind and b"window.Detect" in body
    for path in ("nothing.html", "actionrec/../../bridge.py", "actionrec/%2e%2e/bridge.py"):
        with pytest.raises(urllib.error.HTTPError) as err:
            get(bridge.url + path)
        assert err.value.code == 404
        err.value.close()


def test_foreign_host_header_is_refused(bridge):
    # A page on another name that resolves to 127.0.0.1 (DNS rebinding) must not read anything.
    with pytest.raises(urllib.error.HTTPError) as err:
        get(bridge.url, host=f"evil.example:{bridge.port}")
    assert err.value.code == 403
    err.value.close()
    assert get(bridge.url, host=f"localhost:{bridge.port}")[0] == 200


def test_origin_check_rejects_foreign_pages_with_403(bridge):
    async def attempt(origin):
        async with connect(ws_url(bridge), origin=origin, open_timeout=5) as ws:
            return json.loads(await ws.recv())

    for origin in ("http://evil.example", f"http://evil.example:{bridge.port}", "http://127.0.0.1:1", None):
        with pytest.raises(InvalidStatus) as err:
            asyncio.run(attempt(origin))
        assert err.value.response.status_code == 403
    hello = asyncio.run(attempt(f"http://127.0.0.1:{bridge.port}"))
    assert hello["type"] == "hello" and hello["hooks"]["punch/*"] == "onPunch"
    assert asyncio.run(attempt(f"http://localhost:{bridge.port}"))["classes"][0] == "kick/front"


def test_events_are_pushed_with_sequence_numbers_and_acks_give_latency(bridge):
    async def client():
        async with connect(ws_url(bridge), origin=f"http://127.0.0.1:{bridge.port}") as ws:
            assert json.loads(await ws.recv())["type"] == "hello"
            while not bridge.clients:
                await asyncio.sleep(0.01)
            captured = time.time()
            bridge.publish_event(Event("punch", "punch/jab", 0.9, 3.25), captured)
            bridge.publish_event(Event("stand", "other/idle", 0.8, 3.5), captured)
            got = [json.loads(await ws.recv()) for _ in range(2)]
            for msg in got:
                await ws.send(json.dumps({"type": "ack", "seq": msg["seq"], "hook": "x", "ran": msg["kind"] == "punch"}))
            await ws.send("not json")  # ignored, not fatal
            await asyncio.sleep(0.2)
            return got, captured

    got, captured = asyncio.run(client())
    assert [(m["type"], m["kind"], m["fine"], m["t"]) for m in got] == [
        ("event", "punch", "punch/jab", 3.25), ("event", "stand", "other/idle", 3.5)]
    assert got[1]["seq"] == got[0]["seq"] + 1 and got[0]["captured_at"] == captured
    assert len(bridge.latency.seconds) == 1 and 0 <= bridge.latency.seconds[0] < 1.0
    assert bridge.latency.missing_hooks == 1


def test_busy_port_is_a_clear_error(bridge):
    with pytest.raises(ActionrecError, match=f"127.0.0.1:{bridge.port}"):
        Bridge(Site(), port=bridge.port).start()


MK_INDEX = """<!DOCTYPE html><html><HEAD lang="en"><script src="src/mk.js"></script>
<script src="/socket.io/socket.io.js"></script></HEAD><body><div id="arena"></div>
<script>var options = { arena: {}, gameType: 'network', isHost: true }; mk.start(options);</script>
</BODY></html>"""


@pytest.mark.parametrize("layout", ["game", "repository"])
def test_game_dir_is_served_with_adapter_and_bridge_injected(tmp_path, layout):
    game = tmp_path / "game" if layout == "repository" else tmp_path
    (game / "src").mkdir(parents=True)
    (game / "index.html").write_text(MK_INDEX)
    (game / "src" / "mk.js").write_text("var mk = {};")
    b = Bridge(Site(tmp_path), port=0).start()
    try:
        _, _, page = get(b.url)
        # The adapter runs first (before mk.js and the inline script), the bridge last; socket.io is not loaded.
        assert page.index(ADAPTER_TAG.encode()) < page.index(b'src="src/mk.js"') < page.index(BRIDGE_TAG.encode())
        assert page.index(BRIDGE_TAG.encode()) < page.index(b"</BODY>") and b"socket.io.js" not in page
        assert b"gameType: 'network'" in page  # the file's text is kept: mkjs.js picks the game type at run time
        assert get(b.url + "src/mk.js")[2] == b"var mk = {};"
        assert b"ActionrecBridge" in get(b.url + "actionrec/bridge.js")[2]
        assert b"ActionrecGame" in get(b.url + "actionrec/mkjs.js")[2]
    finally:
        b.stop()
    assert (game / "index.html").read_text() == MK_INDEX  # the user's checkout is untouched


def test_game_dir_problems_are_reported(tmp_path):
    with pytest.raises(ActionrecError, match="no index.html nor game/index.html"):
        Site(tmp_path)
    with pytest.raises(ActionrecError, match="no such folder"):
        Site(tmp_path / "missing")
    with pytest.raises(ActionrecError, match=r"x/index.html: does not look like MK.js.*mk\.js.*mk\.start"):
        serve_index("<html><body></body></html>", "x/index.html")
    with pytest.raises(ActionrecError, match=r"\(found no mk\.start\(\.\.\.\) call\)"):
        serve_index('<html><body><script src="src/mk.js"></script></body></html>', "x/index.html")

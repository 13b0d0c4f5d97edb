"""Real headless Chromium against the bridge: hooks fire, the page reconnects, and live play end to end."""

import time
from pathlib import Path

import pytest
from conftest import CHROMIUM, play_on_practice_page, wait_until

from actionrec.live.server import Bridge
from actionrec.live.site import Site
from actionrec.data.datasets import coarse
from actionrec.data.datasets import read_annotations
from actionrec.events.scoring import segments_for
from actionrec.events.trigger import Event


pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium"),
]


@pytest.fixture
def page(browser):
    context = browser.new_context()
    pg = context.new_page()
    yield pg
    context.close()


def calls(page):
    return [c["hook"] for c in page.evaluate("window.detectCalls")]


def test_page_calls_hooks_and_reconnects_after_reload_and_drops(page):
    bridge = Bridge(Site(), port=0, hello={"classes": ["kick/front", "other/idle", "punch/jab"]}).start()
    try:
        page.goto(bridge.url)
        page.wait_for_function("window.ActionrecBridge && window.ActionrecBridge.connected()")
        wait_until(lambda: bridge.clients == 1, what="the page's socket")
        bridge.publish_event(Event("punch", "punch/jab", 0.9, 1.0), time.time())
        bridge.publish_event(Event("kick", "kick/front", 0.8, 2.0), time.time())
        bridge.publish_event(Event("stand", "other/idle", 0.9, 3.0), time.time())
        page.wait_for_function("window.detectCalls.length === 3")
        assert calls(page) == ["onPunch", "onKick", "onStand"]
        wait_until(lambda: len(bridge.latency.seconds) == 3, what="three acknowledgements")

        page.reload()  # a new page: its own Detect, its own socket
        page.wait_for_function("window.ActionrecBridge.connected()")
        wait_until(lambda: bridge.clients == 1, what="one socket after the reload")
        bridge.publish_event(Event("kick", "kick/back", 0.7, 4.0), time.time())
        page.wait_for_function("window.detectCalls.length === 1")
        assert calls(page) == ["onKick"]

        bridge.disconnect_clients()  # the server drops the socket: the page comes back by itself
        page.wait_for_function("!window.ActionrecBridge.connected()")
        page.wait_for_function("window.ActionrecBridge.connected()", timeout=5000)
        wait_until(lambda: bridge.clients == 1, what="the page to reconnect")
        bridge.publish_event(Event("punch", "punch/cross", 0.7, 5.0), time.time())
        page.wait_for_function("window.detectCalls.length === 2")
        assert calls(page) == ["onKick", "onPunch"]
        assert page.evaluate("window.hookLog.map(h => h.fine)") == ["kick/back", "punch/cross"]
        assert len(bridge.latency.seconds) == 5 and max(bridge.latency.seconds) < 2.0
    finally:
        bridge.stop()


def test_hook_map_from_the_page_overrides_the_default(page):
    bridge = Bridge(Site(), port=0).start()
    try:
        page.goto(bridge.url)
        page.evaluate("window.ActionrecHooks = {'kick/back': 'onPunch', 'kick/*': 'onKick', 'stand': 'onStand'}")
        page.wait_for_function("window.ActionrecBridge.connected()")
        wait_until(lambda: bridge.clients == 1, what="the page's socket")
        for fine in ("kick/back", "kick/front"):
            bridge.publish_event(Event("kick", fine, 0.9, 1.0), time.time())
        bridge.publish_event(Event("punch", "punch/jab", 0.9, 2.0), time.time())  # no hook mapped
        page.wait_for_function("window.hookLog.length === 3")
        assert calls(page) == ["onPunch", "onKick"]
        wait_until(lambda: bridge.latency.missing_hooks == 1, what="the unmapped event's acknowledgement")
    finally:
        bridge.stop()


HOOK_OF = {"punch": "onPunch", "kick": "onKick"}


def test_live_play_on_a_sparring_video_fires_the_annotated_moves(page, sparring):
    root, inference = sparring
    video = root / "sparring" / "p00_s00.mp4"
    moves = [s for s in segments_for(read_annotations(root / "annotations.csv"), video) if coarse(s.label) in HOOK_OF]
    session, _ = play_on_practice_page(page, inference, video, timeout=60)
    report = session.report()
    assert not report.failed and "end of video" in report.message
    assert report.frames + report.dropped == session.grabber.read

    calls = [c["hook"] for c in page.evaluate("window.detectCalls")]
    fired = [(round(h["t"], 2), h["fine"], h["prob"]) for h in page.evaluate("window.hookLog")]
    assert [c for c in calls if c != "onStand"] == [HOOK_OF[coarse(m.label)] for m in moves], (fired, moves)
    assert calls[-1] == "onStand" and "onStand onStand" not in " ".join(calls)  # back to stand after each move

    hooks = [h for h in page.evaluate("window.hookLog") if h["kind"] != "stand"]
    for hook, move in zip(hooks, moves):
        # The frame that fired was captured during the move (or just after it), on the video's clock...
        assert move.start - 0.1 <= hook["t"] <= move.end + 0.5, (hook, move)
        # ...and the game's hook ran soon after that frame was captured.
        assert 0 <= hook["at"] / 1000 - hook["captured_at"] < 0.5, hook
    assert report.hooks_acknowledged == len(calls) and report.hook_ms[1] < 500


def test_live_source_dying_mid_stream_ends_cleanly_and_tells_the_page(page, sparring, tmp_path):
    _, inference = sparring
    data = (Path(__file__).resolve().parents[2] / "shared/fixtures/real/ucf101_punch_g03_c01.avi").read_bytes()
    broken = tmp_path / "cut.avi"
    broken.write_bytes(data[: len(data) // 2])  # a real clip cut in half: frames stop coming mid-stream
    session, lines = play_on_practice_page(
        page, inference, broken, timeout=30, until="document.getElementById('stats').textContent.includes('ended early')")
    report = session.report()
    assert report.failed and "ended early" in report.message and "of 108 frames" in report.message
    assert 0 < report.frames + report.dropped < 108
    assert report.message in lines

"""The real MK.js (../shared/fixtures/mkjs/game, unmodified upstream) played by actionrec in headless Chromium.

The served page is rewritten in memory only (actionrec/live/mkjs.py + web/mkjs.js): no prompt, no camera,
the basic game type, the article's window.Detect provided when the page has none, fine classes as
visibly different game moves, and a readiness report that starts the stream. Also: the warm-up rule on
the real fixture clips, the framing warning on a real person cropped waist up, and the article's
own-Detect build kept as it is.
"""

import re
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import (CHROMIUM, EXERCISE_AVI, PUNCH_AVI, SHARED, play_on_practice_page, source_frames, wait_until,
                      write_clip)

from actionrec.data.datasets import coarse, read_annotations
from actionrec.errors import ActionrecError
from actionrec.events.scoring import segments_for
from actionrec.events.trigger import Event, TriggerOptions
from actionrec.live.framing import ADVICE, NO_LEGS
from actionrec.live.game import LiveOptions, LiveSession
from actionrec.live.mkjs import DEFAULT_MOVES, MOVES, check_pattern, check_target, find_index
from actionrec.live.server import Bridge
from actionrec.live.site import Site
from actionrec.live.stream import WARMUP_SECONDS, RingBuffer, ring_capacity

GAME = SHARED / "fixtures" / "mkjs" / "game"
PUNCH_MOVES = {"low-punch", "high-punch", "uppercut"}
KICK_MOVES = {"low-kick", "high-kick", "spin-kick"}


def in_browser(test):
    """Marks a test that drives headless Chromium (and, when it plays the real game, the MK.js fixture)."""
    for mark in (pytest.mark.browser,
                 pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not at /usr/bin/chromium"),
                 pytest.mark.skipif(not (GAME / "index.html").is_file(), reason="the MK.js fixture is not in ../shared")):
        test = mark(test)
    return test


# Records fighter 0's move (and both lives) every time it changes, on the page's own clock.
WATCH_MOVES = """() => { window.moveLog = []; (function poll() {
    var f = mk.game.fighters, m = f[0].getMove().type, log = window.moveLog;
    if (!log.length || log[log.length - 1].move !== m)
        log.push({at: Date.now(), move: m, x: f[0].getX(), life: f[1].getLife()});
    setTimeout(poll, 5); })(); }"""


@pytest.fixture
def page(browser):
    """A fresh page that records every dialog (dismissed at once) and every uncaught page error."""
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    pg = context.new_page()
    pg.dialogs, pg.errors = [], []
    pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.dismiss()))
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    yield pg
    context.close()


# --- without a browser ---------------------------------------------------------------------------------


def test_game_dir_is_the_repository_root_or_its_game_folder():
    assert find_index(GAME) == GAME / "index.html"
    assert find_index(GAME.parent) == GAME / "index.html"  # ../shared/fixtures/mkjs holds game/ like a clone


def test_hook_targets_are_hooks_or_game_moves():
    assert check_target("kick/back", "onPunch") == "onPunch"
    assert check_target("kick/back", "high_kick") == "HIGH_KICK"
    assert set(DEFAULT_MOVES.values()) <= set(MOVES)
    with pytest.raises(ActionrecError, match="--hook kick/back=HIGHKICK: expected a Detect hook"):
        check_target("kick/back", "HIGHKICK")


def test_hook_patterns_must_match_an_event_of_the_model():
    classes = ["kick/back", "kick/front", "other", "punch"]
    for pattern in ("kick/back", "kick/*", "punch/*", "punch", "stand", "*"):
        check_pattern(pattern, classes)
    for pattern in ("nope/x", "kick/side", "punch/jab", "kick"):  # a typo, a class it lacks, a kind without /*
        with pytest.raises(ActionrecError, match=f"^--hook {re.escape(pattern)}: no event of this model matches it"):
            check_pattern(pattern, classes)


@pytest.mark.parametrize("args, fragments", [
    (["live", "--hook", "kick/back=HIGHKICK"], ["--hook kick/back=HIGHKICK: expected a Detect hook"]),
    (["play", "--game-dir", "{tmp}", "--hook", "kick/back"], ["--hook 'kick/back': expected CLASS=TARGET"]),
    (["play", "--game-dir", "{tmp}/nowhere"], ["nowhere: no such folder"]),
    (["play", "--game-dir", "{tmp}"], ["no index.html nor game/index.html"]),
])
def test_bad_play_arguments_are_one_line_before_any_model_loads(tmp_path, args, fragments):
    from test_cli import assert_one_line_error, run

    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if "--model" not in args:
        args += ["--model", str(tmp_path / "no-model")]  # never reached: the arguments fail first
    assert_one_line_error(run(*args, "--source", str(PUNCH_AVI), *(["--no-browser"] if args[0] == "play" else [])),
                          *fragments)


def test_window_is_full_only_once_every_tick_has_its_own_frame():
    buf = RingBuffer(window=8, model_fps=10.0, capacity=ring_capacity(8, 10.0, 25.0), dim=4)
    full = []
    for i in range(30):  # 25 fps
        buf.push(i / 25, [i] * 4)
        full.append(buf.holds_full_window())
    # Ticks 0.7 s apart end to end: frame 17 (0.68 s) still repeats frame 0 in the window, frame 18 (0.72 s) not.
    assert full.index(True) == 18 and all(full[18:])
    buf.clear()
    buf.push(5.0, [0] * 4)
    assert not buf.holds_full_window() and buf.seconds() == 0.0


@pytest.mark.parametrize("clip", [PUNCH_AVI, EXERCISE_AVI], ids=["ucf101-punch", "exercise"])
def test_real_clips_fire_nothing_in_their_first_second(sparring, clip):
    # Before the warm-up rule, this model fired a confident kick/back at t = 0.04 s (punch clip) and
    # 0.10 s (exercise clip), from windows padded with the first frame.
    from actionrec.live.replay import replay

    _, session = sparring
    result = replay(session, clip)
    assert len(result.times) > 50 and result.probs.shape[1] == len(session.classes)
    early = [e for e in result.events if e.t < WARMUP_SECONDS]
    assert WARMUP_SECONDS >= 1.0 and not early, early


# --- the real game in headless Chromium ----------------------------------------------------------------


def play_video(page, inference, video, screenshot, timeout=45, trigger=None):
    """Play ``video`` through ``LiveSession`` on the real game in ``page`` and check what every game played
    this way must show: the video played to its end, the page became ready as a basic game with actionrec's
    Detect before the stream started, no dialog or page error, every hook ran. Returns (session, report)."""
    lines = []
    logged = lambda line: lines.append((time.time(), line))  # noqa: E731
    session = LiveSession(inference, LiveOptions(source=str(video), port=0, game_dir=GAME, wait_for_page=True,
                                                 linger=0.5, trigger=trigger or TriggerOptions()), log=logged)
    url = session.start()
    try:
        page.goto(url)
        page.wait_for_function("window.ActionrecGame && ActionrecGame.state().ready", timeout=30000)
        page.evaluate(WATCH_MOVES)
        assert session.wait(timeout=timeout), "the video did not finish playing"
        page.screenshot(path=str(screenshot))
    finally:
        session.stop()
    report = session.report()
    assert not report.failed and "end of video" in report.message, report.message
    assert not page.dialogs and not page.errors, (page.dialogs, page.errors)

    # The game started as a basic game with the article's hooks, and the stream only after it said so.
    state = page.evaluate("ActionrecGame.state()")
    assert state == {"ready": True, "problem": None, "gameType": "basic", "requested": "network", "detect": "actionrec"}
    ready_at = next(t for t, line in lines if line.startswith("page ready (basic game, Detect from actionrec)"))
    if session.events:
        first = session.events[0]
        assert first["captured_at"] - first["t"] >= ready_at - 0.05  # the video's frame 0 came after the report
    hooks = page.evaluate("window.actionrecHooks")
    assert len(hooks) == len(session.events) and all(h["ran"] for h in hooks) and report.missing_hooks == 0
    return session, report, [line for _, line in lines]


@in_browser
def test_live_plays_the_sparring_moves_on_the_real_game(page, sparring):
    root, inference = sparring
    video = root / "sparring" / "p00_s00.mp4"
    moves = [s for s in segments_for(read_annotations(root / "annotations.csv"), video) if coarse(s.label) != "other"]
    session, report, _ = play_video(page, inference, video, root.parent / "mkjs-fight.png")
    assert session.events

    # Every attack ran its fine class's move, fired from a frame inside (or just after) that annotated move...
    hooks = page.evaluate("window.actionrecHooks")
    attacks = [h for h in hooks if h["kind"] != "stand"]
    assert all(h["hook"] == DEFAULT_MOVES[h["fine"]] for h in attacks), attacks
    in_step = []
    for h in attacks:
        move = next((m for m in moves if m.start - 0.1 <= h["t"] <= m.end + 0.5), None)
        assert move is not None and coarse(move.label) == h["kind"], (h, moves)
        in_step.append(h)
    # ...and fighter 0 really played it: its move changed to it within 100 ms of the hook.
    log = page.evaluate("window.moveLog")
    played = {m["move"] for m in log}
    seen = [h for h in in_step if any(m["move"] == h["move"] and abs(m["at"] - h["at"]) < 100 for m in log)]
    assert {h["move"] for h in seen} & PUNCH_MOVES and {h["move"] for h in seen} & KICK_MOVES, (seen, log)
    assert played & PUNCH_MOVES and played & KICK_MOVES
    # The fighters came within reach (fighter 0 walked in) and the hits landed.
    assert "walking" in played
    lives = page.evaluate("ActionrecGame.lives()")
    assert lives[1] < 100 and lives[0] == 100, lives
    assert report.hooks_acknowledged == len(hooks) and report.hook_ms[1] < 500


# The moves of actionrec's window.Detect on MK.js (web/mkjs.js defineDetect), the 2018 article's meaning.
DETECT_MOVES = {"onPunch": "HIGH_PUNCH", "onKick": "LOW_KICK", "onStand": "STAND"}


@pytest.fixture(scope="module")
def starter(tmp_path_factory, pose_models_env):
    """A tiny starter model (tools/starter.py: a pose:body LSTM on webcam keypoint clips, exported for LiteRT)
    of one synthetic person, sparring included, and the pixel rendering of that sparring: (session, video).

    The quick demo's starter (4 people, 5 epochs) fires one kick (p 0.56) on the real punch clip, none on the
    calisthenics clip and no punch on webcam sparring: too little to check the game with. This one plays the
    video it was trained on (as ``sparring`` does), rendered as pixels that BlazePose reads live.
    """
    from actionrec.live.runtime import InferenceSession, SessionOptions
    from actionrec.synth.dataset import synthesize
    from actionrec.synth.options import webcam_options
    from actionrec.tools.starter import StarterOptions, train_starter

    out = tmp_path_factory.mktemp("starter")
    # One person's windows in the starter's batches of 256 would be a few steps an epoch: batches of 64.
    options = StarterOptions(people=1, clips_per_class=2, sparring_per_person=1, sparring_seconds=15.0, epochs=60,
                             batch_size=64, learning_rate=0.001)
    result = train_starter(out, options, precog=None, log=lambda line: None)
    pixels = out / "pixels"
    synthesize(pixels, people=options.people, clips_per_class=options.clips_per_class, seed=options.seed,
               sparring_per_person=1, sparring_seconds=options.sparring_seconds, options=webcam_options())
    # The same plan with pixels instead of keypoints: the rendered sparring is the one the model saw.
    trained = (result.dataset / "annotations.csv").read_text().replace(".kp.npz", ".mp4")
    assert (pixels / "annotations.csv").read_text() == trained
    session = InferenceSession(SessionOptions(result.model_dir))
    assert session.backend == "litert" and session.features.name == "pose:body", session.reason
    return session, pixels / "sparring" / "p00_s00.mp4"


def one_person(tmp_path: Path, framing: str, seconds: float = 8.0) -> Path:
    """The real calisthenics clip cut to its left-hand person, 4x: ``body`` head to feet, ``waist`` head to hips
    (the legs below the picture, as a player close to a laptop is framed)."""
    x0, x1, y0, y1 = {"body": (20, 170, 95, 250), "waist": (30, 160, 95, 188)}[framing]
    frames = source_frames(EXERCISE_AVI, 0, int(seconds * 10))[:, y0:y1, x0:x1]
    big = np.stack([cv2.resize(f, ((x1 - x0) * 4, (y1 - y0) * 4), interpolation=cv2.INTER_CUBIC) for f in frames])
    return write_clip(tmp_path / f"exercise-{framing}.avi", big, fps=10.0)


def test_the_starter_says_when_the_legs_are_out_of_the_picture(starter, tmp_path):
    from actionrec.live.replay import replay

    inference, _ = starter
    waist = replay(inference, one_person(tmp_path, "waist"))
    body = replay(inference, one_person(tmp_path, "body"))
    # Said once, after the 3 s it takes to be sure; the same person full body is framed.
    assert [text for _, text in waist.warnings] == [f"framing: {ADVICE[NO_LEGS]} (the last 3 s)"], waist.warnings
    assert 2.5 < waist.warnings[0][0] < 6.0
    assert body.warnings == [], body.warnings


def assert_like_replay(events, replayed, policy, near=0.3):
    """Live drops frames on a busy machine (replay never does), so events may shift a little; but each live
    event's class was above its trigger threshold in the replay near the same time, and each confident
    replay attack (p >= 0.8) fired live too, within ``near`` + 0.2 s."""
    coarse = np.array([[p[k] for k in ("punch", "kick", "other")] for p in map(policy.coarse_probs, replayed.probs)])
    options = policy.options
    for e in events:
        column, threshold = (2, options.stand_enter) if e["kind"] == "stand" else (
            ("punch", "kick").index(e["kind"]), options.enter[e["kind"]])
        close = np.abs(replayed.times - e["t"]) <= near
        assert coarse[close, column].max() >= threshold, (e, replayed.events)
    for r in replayed.events:
        if r.kind != "stand" and r.prob >= 0.8:
            assert any(e["kind"] == r.kind and abs(e["t"] - r.t) <= near + 0.2 for e in events), (r, events)


def assert_hooks_moved_fighter_0(page, hooks):
    """Each hook set fighter 0's move to its own, unless fighter 0 was still in the previous hook's attack
    (MK.js ignores setMove while a fighter is locked in a move)."""
    types = page.evaluate("mk.moves.types")
    for before, h in zip([None] + hooks, hooks):
        move = types[DETECT_MOVES.get(h["hook"], h["hook"])]
        busy = before is not None and h["move"] == before["move"] not in ("stand", "walking")
        assert h["move"] == move or busy, (h, before)


@in_browser
@pytest.mark.parametrize("clip", ["ucf101-punch", "webcam-sparring"])
def test_the_starter_plays_the_real_game_from_a_video(page, starter, clip, tmp_path):
    from actionrec.live.replay import replay

    inference, sparring = starter
    video = PUNCH_AVI if clip == "ucf101-punch" else sparring
    # The snappiest trigger (--min-frames 1): this one-person starter's punch on the real boxer holds one
    # of its 10 fps frames, and the test is of the game driven from a real clip, not of the model.
    trigger = TriggerOptions.at(0.5, 1)
    session, report, _ = play_video(page, inference, video, tmp_path / "mkjs-starter.png", trigger=trigger)
    replayed = replay(inference, video, trigger=trigger)
    hooks = page.evaluate("window.actionrecHooks")
    assert_like_replay(session.events, replayed, session.policy)
    assert_hooks_moved_fighter_0(page, hooks)
    # Both kinds of attack fired and fighter 0 played them: the real boxer and the rendered sparring alike.
    played = {m["move"] for m in page.evaluate("window.moveLog")}
    assert {h["kind"] for h in hooks} >= {"punch", "kick"}, hooks
    assert played & PUNCH_MOVES and played & KICK_MOVES, played


def _ready_bridge(page, site, **kw):
    states = []
    bridge = Bridge(site, port=0, on_page=states.append, **kw).start()
    page.goto(bridge.url)
    wait_until(lambda: any(s.get("ready") or s.get("problem") for s in states), timeout=30, what="the page's report")
    return bridge, states


def _play(page, bridge, event):
    """Send one event once fighter 0 can move again; return the page's report of it."""
    page.wait_for_function("['stand', 'walking'].indexOf(ActionrecGame.current()) >= 0", timeout=5000)
    n = page.evaluate("window.actionrecHooks.length")
    bridge.publish_event(event, time.time())
    page.wait_for_function(f"window.actionrecHooks.length > {n}")
    return page.evaluate("window.actionrecHooks[window.actionrecHooks.length - 1]")


@in_browser
@pytest.mark.parametrize("where", ["mkjs", "practice"])
def test_the_page_shows_the_framing_warning(page, starter, tmp_path, where):
    inference, _ = starter
    video = one_person(tmp_path, "waist", seconds=6.0)
    if where == "mkjs":  # the panel beside the real game
        _, _, lines = play_video(page, inference, video, tmp_path / "mkjs-waist.png")
        shown = page.inner_text("#actionrec-framing")
    else:  # the practice page
        _, lines = play_on_practice_page(page, inference, video, timeout=45)
        shown = page.inner_text("#framing")
    said = [line for line in lines if line.startswith("warning: framing:")]
    assert len(said) == 1 and "no knee or ankle" in said[0], lines
    assert "no knee or ankle" in shown


@in_browser
def test_user_hooks_win_over_the_defaults_on_the_real_game(page):
    from actionrec.live.game import DEFAULT_TARGETS

    user = {"kick/front": "onPunch", "punch/*": "UPPERCUT", "kick/back": "onKick"}
    bridge, states = _ready_bridge(page, Site(GAME), hooks=DEFAULT_TARGETS, user_hooks=user)
    try:
        assert states[-1]["ready"] and states[-1]["detect"] == "actionrec" and bridge.page["gameType"] == "basic"
        got = {}
        for kind, fine in (("kick", "kick/front"), ("punch", "punch/jab"), ("kick", "kick/roundhouse"),
                           ("kick", "kick/back"), ("kick", "kick"), ("stand", "other/walk"), ("stand", "other/idle")):
            h = _play(page, bridge, Event(kind, fine, 0.9, 1.0))
            got[fine] = (h["hook"], h["move"])
        assert got == {
            "kick/front": ("onPunch", "high-punch"),  # the user's exact entry over the default LOW_KICK
            "punch/jab": ("UPPERCUT", "uppercut"),  # the user's wildcard over the default exact LOW_PUNCH
            "kick/roundhouse": ("SPIN_KICK", "spin-kick"),  # a default fine move
            "kick/back": ("onKick", "low-kick"),  # the article's onKick is LOW_KICK
            "kick": ("onKick", "low-kick"),  # a coarse-only model: the article's hooks
            "other/walk": ("WALK", "walking"),
            "other/idle": ("onStand", "stand"),
        }
        wait_until(lambda: bridge.latency.acknowledged == 7, what="seven acknowledgements")
        assert bridge.latency.missing_hooks == 0 and not page.dialogs and not page.errors
    finally:
        bridge.stop()


# A stand-in for the 2018 article's build (github.com/mgechev/mk-tfjs), written for this test: its
# 'webcaminput' game needs no movement.js and defines window.Detect itself, which must be kept.
ARTICLE_INDEX = """<!DOCTYPE html><html><head><title>article build</title></head><body>
<div id="arena"></div><script src="src/mk.js"></script>
<script>mk.start({ arena: { container: document.getElementById('arena') }, gameType: 'webcaminput' });</script>
</body></html>"""
ARTICLE_MK = """window.calls = [];
(function () {
  function Fighter() { this.move = { type: 'stand' }; }
  Fighter.prototype.setMove = function (m) { this.move = { type: m }; window.calls.push(m); };
  Fighter.prototype.getMove = function () { return this.move; };
  Fighter.prototype.getX = function () { return 100; };
  Fighter.prototype.getWidth = function () { return 60; };
  Fighter.prototype.getLife = function () { return 100; };
  var mk = { moves: { types: { STAND: 'stand', WALK: 'walking', HIGH_PUNCH: 'high-punch', LOW_KICK: 'low-kick',
                               SPIN_KICK: 'spin-kick' } } };
  mk.start = function (options) {
    var ready = [];
    mk.started = options.gameType;
    setTimeout(function () {
      mk.game = { fighters: [new Fighter(), new Fighter()] };
      var f = mk.game.fighters[0];
      if (options.gameType === 'webcaminput') {
        window.Detect = { onPunch: function () { f.setMove('own-punch'); }, onKick: function () { f.setMove('own-kick'); },
                          onStand: function () { f.setMove('stand'); } };
      }
      ready.forEach(function (c) { c(); });
    }, 200);
    return { ready: function (c) { ready.push(c); } };
  };
  window.mk = mk;
})();"""


@in_browser
def test_a_page_with_its_own_detect_keeps_it_and_its_game_type(page, tmp_path):
    from actionrec.live.game import DEFAULT_TARGETS

    (tmp_path / "src").mkdir()
    (tmp_path / "index.html").write_text(ARTICLE_INDEX)
    (tmp_path / "src" / "mk.js").write_text(ARTICLE_MK)
    bridge, states = _ready_bridge(page, Site(tmp_path, panel=False), hooks=DEFAULT_TARGETS)
    try:
        assert states[-1]["ready"] and states[-1]["detect"] == "page"
        assert page.evaluate("[mk.started, ActionrecGame.state().gameType]") == ["webcaminput", "webcaminput"]
        for kind, fine in (("punch", "punch/cross"), ("kick", "kick/back")):
            bridge.publish_event(Event(kind, fine, 0.9, 1.0), time.time())
        wait_until(lambda: bridge.latency.acknowledged == 2, what="two acknowledgements")
        # The defaults' game moves exist here too (HIGH_PUNCH), and exact fine classes map to them;
        # kick/back -> HIGH_KICK does not exist in this game, so the page's own onKick runs.
        assert page.evaluate("window.calls") == ["high-punch", "own-kick"]
    finally:
        bridge.stop()


@in_browser
def test_a_page_that_needs_a_build_step_reports_a_clear_problem(page, tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "index.html").write_text(ARTICLE_INDEX)
    # The article's mk.js as checked out starts with an ES import of an image glob (Parcel resolves it).
    (tmp_path / "src" / "mk.js").write_text("import * as images from '../images/**/*.png';\n" + ARTICLE_MK)
    bridge, states = _ready_bridge(page, Site(tmp_path))
    try:
        assert not any(s["ready"] for s in states)
        assert "defined no window.mk" in states[-1]["problem"] and "build step" in states[-1]["problem"]
        assert page.errors and "import" in page.errors[0]  # the browser's own error, not ours
    finally:
        bridge.stop()

"""Recording your own dataset: cued takes from a real video source into real files, Redo/Drop from real
Chromium, and recordings cut short that leave a valid dataset.

The source is a synthetic sparring video whose annotations say when each move happens; a scripted cue
schedule built from them records each move as its own take, so the written clips can be checked frame by
frame against the annotation.
"""

import shutil
import time

import cv2
import numpy as np
import pytest

from conftest import CHROMIUM, leftover_temp_files

from actionrec.data.datasets import inspect, load_dataset
from actionrec.errors import ActionrecError
from actionrec.tools.bench.stream import CHROMIUM_ARGS
from actionrec.data.datasets import read_annotations
from actionrec.events.scoring import segments_for
from actionrec.live.record.plan import IDLE, RecordOptions, TakePlan, cue_text, parse_moves, plan_takes
from actionrec.live.record.recorder import Recorder, run_record

FPS = 25.0  # the sparring video's rate (asserted in the fixture)


@pytest.fixture(scope="module")
def sparring(tmp_path_factory):
    """(video, its annotated segments, its frames (N, H, W, 3) BGR) of a 20 s synthetic sparring video."""
    from actionrec.synth.dataset import synthesize

    root = tmp_path_factory.mktemp("synth") / "data"
    synthesize(root, people=1, clips_per_class=1, seed=0, sparring_per_person=1, sparring_seconds=20)
    video = root / "sparring" / "p00_s00.mp4"
    segments = segments_for(read_annotations(root / "annotations.csv"), video)
    frames = read_all(video)
    assert len(frames) == 500 and cv2.VideoCapture(str(video)).get(cv2.CAP_PROP_FPS) == FPS
    return video, segments, frames


def read_all(video):
    cap = cv2.VideoCapture(str(video))
    frames = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(bgr)
    cap.release()
    return np.stack(frames)


def scripted(segments, skip=("other/walk",)):
    """Takes that record each annotated segment (walks become countdown gaps), and the segments used."""
    takes, used, prev = [], [], 0.0
    for s in segments:
        if s.label in skip:
            continue
        takes.append(TakePlan(s.label, s.start - prev, s.end - s.start))
        used.append(s)
        prev = s.end
    return takes, used


def frames_in(start, end):
    """Indices of the source frames whose time falls in [start, end)."""
    return [i for i in range(500) if start <= i / FPS + 1e-6 < end]


def options(dataset, video, **kw):
    kw = {"person": "alice", "moves": ("punch/jab",), "source": str(video), "port": 0,
          "realtime": False, "wait_for_page": False, **kw}
    return RecordOptions(dataset, **kw)


def record(opts, takes=None):
    lines = []
    recorder = Recorder(opts, takes=takes, log=lines.append)
    recorder.start()
    try:
        assert recorder.wait(timeout=30), "the recording did not end"
    finally:
        recorder.stop()
    assert recorder.error is None
    return recorder.summary(), lines


def assert_valid(dataset):
    report = inspect(dataset)
    assert report.problems == []
    assert leftover_temp_files(dataset) == []
    return report


def test_plan_is_seeded_and_shuffled_with_idle_takes_between_moves(tmp_path):
    opts = RecordOptions(tmp_path, "alice", "punch/jab, kick/roundhouse,kick/front", reps=4, countdown=2, take_seconds=3)
    plan = plan_takes(opts)
    labels = [t.label for t in plan]
    assert labels[0::2].count("kick/roundhouse") == 4 and len(labels[0::2]) == 12
    assert labels[1::2] == [IDLE] * 11  # between moves only
    assert {(t.countdown, t.seconds) for t in plan} == {(2, 3)}
    assert [t.label for t in plan_takes(opts)] == labels  # same seed, same order
    others = {tuple(t.label for t in plan_takes(RecordOptions(tmp_path, "alice", opts.moves, reps=4, seed=s)))
              for s in range(1, 4)}
    assert len(others | {tuple(labels)}) > 1
    assert [t.label for t in plan_takes(RecordOptions(tmp_path, "a", ("punch/jab",), reps=2, idle=False))] == ["punch/jab"] * 2
    assert cue_text("kick/roundhouse") == "ROUNDHOUSE KICK" and cue_text(IDLE) == "IDLE" and cue_text("punch") == "PUNCH"

    for bad, match in [({"person": "../x"}, "person"), ({"moves": "kick/a/b"}, "CLASS/TYPE"),
                       ({"moves": "punch/jab,punch/jab"}, "twice"), ({"moves": " , "}, "comma-separated"),
                       ({"reps": 0}, "reps"), ({"take_seconds": 0}, "take")]:
        with pytest.raises(ActionrecError, match=match):
            RecordOptions(**{"dataset": tmp_path, "person": "alice", "moves": "punch/jab", **bad})
    assert parse_moves("punch/jab,kick") == ("punch/jab", "kick")


def test_scripted_takes_over_a_sparring_video_become_labelled_clips_and_groups(tmp_path, sparring):
    video, segments, source = sparring
    dataset = tmp_path / "me"
    # A dataset that already holds someone's clip: recording adds to it and keeps its groups.csv row.
    (dataset / "punch" / "jab").mkdir(parents=True)
    shutil.copy(video, dataset / "punch" / "jab" / "bob_001.mp4")
    shutil.copy(video, dataset / "punch" / "jab" / "alice_007.mp4")  # numbering goes on after it
    (dataset / "groups.csv").write_text("clip,group\npunch/jab/bob_001.mp4,bob\npunch/jab/alice_007.mp4,alice\n")
    takes, used = scripted(segments[:-1])  # the last segment runs to the video's end: see the interrupted test

    summary, lines = record(options(dataset, video), takes)

    assert summary.complete and summary.message == f"all {len(takes)} takes done"
    assert [t.label for t in summary.takes] == [s.label for s in used]
    groups = (dataset / "groups.csv").read_text().splitlines()
    assert groups[:3] == ["clip,group", "punch/jab/bob_001.mp4,bob", "punch/jab/alice_007.mp4,alice"]
    assert groups[3:] == [f"{t.path},alice" for t in summary.takes]
    for take, seg in zip(summary.takes, used):
        expected = frames_in(seg.start, seg.end)
        assert take.path.startswith(seg.label + "/alice_") and (dataset / take.path).is_file()
        clip = read_all(dataset / take.path)
        assert len(clip) == take.frames == len(expected), (take, seg)
        assert take.seconds == pytest.approx(seg.end - seg.start, abs=1.01 / FPS)
    jabs = sorted(p.name for p in (dataset / "punch" / "jab").iterdir())
    assert jabs == ["alice_007.mp4", "alice_008.mp4", "alice_009.mp4", "bob_001.mp4"]

    # The clips hold the annotated moments of the source: the roundhouse clip's frames are the source's
    # frames of that segment (mp4 is lossy: each is nearest to its own source frame, not a neighbour's).
    take, seg = next((t, s) for t, s in zip(summary.takes, used) if t.label == "kick/roundhouse")
    clip, idx = read_all(dataset / take.path), frames_in(seg.start, seg.end)
    for k in (0, len(idx) // 2, len(idx) - 1):
        err = [np.abs(clip[k].astype(int) - source[i].astype(int)).mean() for i in range(idx[k] - 3, idx[k] + 4)]
        assert int(np.argmin(err)) == 3, (k, err)

    report = assert_valid(dataset)
    assert report.groups == {"alice": len(takes) + 1, "bob": 1}
    assert summary.counts["punch/jab"] == {"alice": 3, "bob": 1}
    assert summary.counts["kick/roundhouse"] == {"alice": 1}
    assert any("kick/roundhouse/alice_001.mp4" in line for line in lines)
    table = "\n".join(summary.lines())
    assert "alice" in table and "bob" in table and "kick/roundhouse" in table


def test_continuous_mode_writes_one_video_with_annotation_rows(tmp_path, sparring):
    video, segments, _ = sparring
    dataset = tmp_path / "me"
    (dataset / "sparring").mkdir(parents=True)
    shutil.copy(video, dataset / "sparring" / "old.mp4")
    old_rows = "".join(f"sparring/old.mp4,{s.start:.3f},{s.end:.3f},{s.label}\n" for s in segments)
    (dataset / "annotations.csv").write_text("video,start,end,label\n" + old_rows)
    takes, used = scripted(segments[:-1])

    summary, _ = record(options(dataset, video, continuous=True), takes)

    assert summary.complete
    rows = (dataset / "annotations.csv").read_text().splitlines()
    assert rows[0] == "video,start,end,label" and "\n".join(rows[1:len(segments) + 1]) + "\n" == old_rows
    new = [r.split(",") for r in rows[len(segments) + 1:]]
    assert len(new) == len(used) and {r[0] for r in new} == {"recordings/alice_001.mp4"}
    for (_, start, end, label), seg in zip(new, used):
        # Nothing was cut, so the recording's timeline is the source's, to the frame.
        assert label == seg.label
        assert float(start) == pytest.approx(frames_in(seg.start, seg.end)[0] / FPS, abs=1e-3)
        assert float(end) == pytest.approx((frames_in(seg.start, seg.end)[-1] + 1) / FPS, abs=1e-3)
    recorded = read_all(dataset / "recordings" / "alice_001.mp4")
    assert len(recorded) == round(float(new[-1][2]) * FPS)  # ends with the last take
    assert (dataset / "groups.csv").read_text() == "clip,group\nrecordings/alice_001.mp4,alice\n"
    report = assert_valid(dataset)
    clip = next(c for c in load_dataset(dataset).clips if c.id == "recordings/alice_001.mp4")
    assert clip.group == "alice" and len(clip.segments) == len(used)
    assert report.clips == 2


def test_run_record_follows_the_seeded_plan_with_take_lengths(tmp_path, sparring):
    video, _, _ = sparring
    dataset = tmp_path / "me"
    opts = options(dataset, video, moves=("punch/jab", "kick/roundhouse"), reps=2, countdown=0.4, take_seconds=1.2)
    lines = []
    summary = run_record(opts, log=lines.append)
    assert summary.complete and [t.label for t in summary.takes] == [t.label for t in plan_takes(opts)]
    assert {t.frames for t in summary.takes} == {30}  # 1.2 s at 25 fps
    assert len(list(dataset.glob("other/idle/*.mp4"))) == 3 and len(list(dataset.glob("kick/roundhouse/*.mp4"))) == 2
    assert summary.lines()[0] in lines and "serving http://127.0.0.1:" in lines[0]
    assert_valid(dataset)


def test_a_bad_groups_csv_is_refused_before_anything_is_recorded(tmp_path, sparring):
    video, _, _ = sparring
    (tmp_path / "groups.csv").write_text("video,person\nx.mp4,bob\n")
    with pytest.raises(ActionrecError, match="groups.csv: header is video,person; expected clip,group"):
        Recorder(options(tmp_path, video))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["groups.csv"]


@pytest.mark.parametrize("continuous", [False, True])
def test_a_take_folder_linked_outside_the_dataset_is_refused_before_recording(tmp_path, sparring, continuous):
    video, _, _ = sparring
    dataset, outside = tmp_path / "me", tmp_path / "elsewhere"
    (dataset / "punch").mkdir(parents=True)
    outside.mkdir()
    (dataset / ("recordings" if continuous else "punch/jab")).symlink_to(outside)
    with pytest.raises(ActionrecError, match=f"leads to {outside}, outside the dataset {dataset}"):
        Recorder(options(dataset, video, continuous=continuous))
    assert list(outside.iterdir()) == [] and not (dataset / "groups.csv").exists()


@pytest.mark.parametrize("continuous", [False, True])
def test_source_ending_mid_take_keeps_every_finished_take(tmp_path, sparring, continuous):
    video, segments, _ = sparring
    dataset = tmp_path / "me"
    takes, used = scripted(segments[-4:])  # the last take is planned past the video's end
    takes[-1] = TakePlan(takes[-1].label, takes[-1].countdown, 5.0)

    summary, _ = record(options(dataset, video, continuous=continuous), takes)

    assert not summary.complete and "end of video after 500 frames" in summary.message
    assert [t.label for t in summary.takes] == [s.label for s in used[:-1]]
    if continuous:
        rows = (dataset / "annotations.csv").read_text().splitlines()[1:]
        assert [r.split(",")[3] for r in rows] == [s.label for s in used[:-1]]
        # The video runs up to the start of the take that was cut short; none of that take is in it.
        assert len(read_all(dataset / "recordings" / "alice_001.mp4")) == len(frames_in(0, used[-1].start))
    else:
        clips = sorted(p.relative_to(dataset).as_posix() for p in dataset.rglob("*.mp4"))
        assert clips == sorted(t.path for t in summary.takes)
    assert_valid(dataset)


@pytest.mark.parametrize("continuous", [False, True])
def test_stop_mid_take_keeps_every_finished_take_and_leaves_no_partial_file(tmp_path, sparring, continuous):
    video, _, _ = sparring
    dataset = tmp_path / "me"
    opts = options(dataset, video, moves=("kick/front",), reps=3, countdown=0.2, take_seconds=0.8,
                   realtime=True, continuous=continuous)
    recorder = Recorder(opts, log=lambda line: None)
    recorder.start()
    try:
        deadline = time.monotonic() + 10
        while not (recorder.state().get("phase") == "recording" and recorder.state()["take"]["id"] == 2):
            assert time.monotonic() < deadline, recorder.state()
            time.sleep(0.02)
        time.sleep(0.3)  # well inside take 2
        hidden = [p for p in dataset.rglob(".*") if "actionrec-tmp" in p.name]
        assert hidden or continuous  # take 2 is being written to a hidden temp file...
        recorder.stop()
        assert recorder.wait(0)
    finally:
        recorder.stop()
    summary = recorder.summary()
    assert not summary.complete and summary.message == "stopped"
    assert [(t.id, t.label, t.frames) for t in summary.takes] == [(1, "kick/front", 20)]
    videos = sorted(p.relative_to(dataset).as_posix() for p in dataset.rglob("*.mp4"))
    assert videos == (["recordings/alice_001.mp4"] if continuous else ["kick/front/alice_001.mp4"])
    # ...and is gone: a clip holds take 1; the continuous video runs from take 1's countdown to take 2's go.
    assert len(read_all(dataset / videos[0])) == (5 + 20 + 5 if continuous else 20)
    assert_valid(dataset)


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium")
def test_redo_and_drop_from_the_page_in_chromium(tmp_path, sparring):
    from playwright.sync_api import sync_playwright

    video, _, _ = sparring
    dataset = tmp_path / "me"
    opts = options(dataset, video, moves=("punch/jab", "kick/roundhouse"), reps=1, countdown=2.0,
                   take_seconds=1.6, realtime=True, wait_for_page=True)
    first, _, second = [t.label for t in plan_takes(opts)]
    lines = []
    recorder = Recorder(opts, log=lines.append)
    url = recorder.start()
    state = "window.recordState"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS))
            try:
                page = browser.new_page()
                page.goto(url)
                # Take 1 is cued on the camera picture, then recorded; Redo during it starts it again.
                for count in (2, 1):
                    page.wait_for_function(f"document.getElementById('cue').textContent === '{cue_text(first)} in {count}'")
                page.wait_for_function(f"{state}.phase === 'recording' && {state}.take.id === 1")
                assert page.inner_text("#cue") == f"{cue_text(first)}: GO!"
                assert page.evaluate("document.getElementById('camera').src").startswith("blob:")
                page.click("#redo", force=True)  # no actionability wait: the take must still be running
                page.wait_for_function(f"{state}.take && {state}.take.id === 2 && {state}.take.label === '{first}'")
                # Take 3, the idle take, is dropped once finished, during the countdown of take 4.
                page.wait_for_function(f"{state}.phase === 'countdown' && {state}.target && {state}.target.id === 3"
                                       f" && {state}.target.path !== null")
                idle_clip = dataset / page.evaluate(f"{state}.target.path")
                assert idle_clip.is_file() and page.evaluate(f"{state}.take.id") == 4
                page.click("#drop")
                page.wait_for_function(f"{state}.dropped === 1")
                assert not idle_clip.exists()
                # A click that comes too late (take 2 is final) changes nothing and says so.
                page.evaluate("window.ActionrecBridge.send({type: 'drop', take: 2})")
                page.wait_for_function("document.getElementById('notice').textContent.includes('no longer')")
                assert recorder.wait(timeout=20), "the recording did not finish"
                page.wait_for_function("document.getElementById('summary').textContent.includes('kept 2 of 4')")
                assert page.evaluate(f"{state}.phase") == "done"
            finally:
                browser.close()
    finally:
        recorder.stop()
    summary = recorder.summary()
    assert summary.complete and (summary.redone, summary.dropped, summary.planned) == (1, 1, 4)
    assert [(t.id, t.label) for t in summary.takes] == [(2, first), (4, second)]
    assert all(t.frames == 40 for t in summary.takes)  # 1.6 s at 25 fps: no frame lost to the page
    groups = (dataset / "groups.csv").read_text().splitlines()
    assert groups == ["clip,group"] + [f"{t.path},alice" for t in summary.takes]
    assert sorted(p.relative_to(dataset).as_posix() for p in dataset.rglob("*.mp4")) == sorted(t.path for t in summary.takes)
    assert "take 1: " + first + " redone" in lines and "take 3: other/idle dropped" in lines
    assert_valid(dataset)


def test_redo_and_drop_over_a_websocket_cut_takes_out_of_a_continuous_video(tmp_path, sparring):
    """The page's messages from a real WebSocket client: a redone take's partial frames and dropped takes'
    frames are cut out of the continuous video, and its rows shift to match. The last take can still be
    dropped after it ends."""
    import asyncio
    import json

    from websockets.asyncio.client import connect

    video, _, _ = sparring
    dataset = tmp_path / "me"
    opts = options(dataset, video, moves=("kick/front",), reps=2, countdown=0.4, take_seconds=0.8,
                   realtime=True, wait_for_page=True, continuous=True)
    recorder = Recorder(opts, log=lambda line: None)
    url = recorder.start()

    async def page():
        origin = url.rstrip("/")
        async with connect(origin.replace("http://", "ws://") + "/ws", origin=origin) as ws:
            sent = set()
            while True:
                raw = await asyncio.wait_for(ws.recv(), timeout=10)
                if isinstance(raw, bytes):
                    continue  # a camera picture
                msg = json.loads(raw)
                if msg["type"] == "end":
                    return msg
                if msg["type"] != "state" or msg["phase"] not in ("countdown", "recording", "review"):
                    continue
                take, target = msg["take"], msg["target"]
                if msg["phase"] == "recording" and take["id"] == 1 and "redo" not in sent:
                    await ws.send(json.dumps({"type": "redo", "take": 1}))  # mid-take
                    sent.add("redo")
                if target and target["id"] == 3 and target["path"] and "drop" not in sent:
                    await ws.send(json.dumps({"type": "drop", "take": 3}))  # just finished
                    sent.add("drop")
                if msg["phase"] == "review" and target["id"] == 4 and "last" not in sent:
                    await ws.send(json.dumps({"type": "drop", "take": 4}))  # the last take, after the plan
                    sent.add("last")

    try:
        end = asyncio.run(page())
    finally:
        recorder.stop()
    summary = recorder.summary()
    assert summary.complete and "kept 1 of 4 takes (1 redone, 2 dropped)" in end["summary"][0]
    assert [(t.id, t.label, t.frames) for t in summary.takes] == [(2, "kick/front", 20)]
    # Kept: countdowns 1 and 2, take 2, countdowns 3 and 4 (flushed as takes 3 and 4 began): 10+10+20+10+10.
    rows = (dataset / "annotations.csv").read_text().splitlines()
    assert rows == ["video,start,end,label", "recordings/alice_001.mp4,0.800,1.600,kick/front"]
    assert len(read_all(dataset / "recordings" / "alice_001.mp4")) == 60
    assert_valid(dataset)


def drop_grabs(recorder, dropped, messages):
    """Have the recorder's grabber (a real one, reading the video file) drop the frames at the source
    indices ``dropped``, as it does for a slow consumer, and the page send ``messages[i]`` along with frame
    ``i``: a file read without real-time pacing makes both land on the same frames every run."""
    grabber, next_frame = recorder.grabber, recorder.grabber.next_frame

    def next_kept(timeout):
        frame = next_frame(timeout)
        while frame is not None and frame.index in dropped:
            grabber.dropped += 1
            frame = next_frame(timeout)
        if frame is not None and frame.index in messages:
            recorder.bridge.on_message(messages[frame.index])
        return frame

    grabber.next_frame = next_kept


@pytest.mark.parametrize("continuous", [False, True])
def test_dropped_grabs_keep_their_place_on_the_source_clock(tmp_path, sparring, continuous):
    """The websocket test's session, with frames dropped at the edges of takes that are then cut: each keeps
    its slot on the source clock, holding the previous picture, so nothing moves across a cut."""
    video, _, source = sparring
    dataset = tmp_path / "me"
    opts = options(dataset, video, moves=("kick/front",), reps=2, countdown=0.4, take_seconds=0.8,
                   continuous=continuous)
    recorder = Recorder(opts, log=lambda line: None)
    # Source frames (25 fps): countdown 1 is 0-9, take 1 from 10, redone at 15; countdown 2 15-24, take 2
    # 25-44, countdown 3 45-54, take 3 55-74 (dropped at 80), countdown 4 75-84, take 4 85-104, its review
    # to 114 (dropped at 110). Drops: the last countdown frame before each take, the frame before the redo,
    # two in a row inside take 2.
    dropped = {9, 14, 24, 30, 31, 54, 84}
    drop_grabs(recorder, dropped, {15: {"type": "redo", "take": 1}, 80: {"type": "drop", "take": 3},
                                   110: {"type": "drop", "take": 4}})
    recorder.start()
    try:
        assert recorder.wait(timeout=30), "the recording did not end"
    finally:
        recorder.stop()
    assert recorder.error is None and recorder.grabber.dropped == len(dropped)
    summary = recorder.summary()
    assert summary.complete and (summary.redone, summary.dropped) == (1, 2)
    assert [(t.id, t.label, t.frames) for t in summary.takes] == [(2, "kick/front", 20)]

    # Each slot of the clock holds its own frame, or the one before it when it was dropped.
    def held(indices):
        return [max(i for i in range(j + 1) if i not in dropped) for j in indices]

    take2 = held(range(25, 45))
    if continuous:
        rows = (dataset / "annotations.csv").read_text().splitlines()
        assert rows == ["video,start,end,label", "recordings/alice_001.mp4,0.800,1.600,kick/front"]
        expected = held(range(0, 10)) + held(range(15, 25)) + take2 + held(range(45, 55)) + held(range(75, 85))
        written = read_all(dataset / "recordings" / "alice_001.mp4")
    else:
        expected, written = take2, read_all(dataset / summary.takes[0].path)
    assert len(written) == len(expected) == (60 if continuous else 20)
    # Where the person moves (take 2 from frame 26), each written frame is nearest to the source frame it
    # holds: frame 29 three times over, where 30 and 31 were dropped, then 32 (mp4 is lossy: nearest only).
    first = expected.index(25)
    for k, i in list(enumerate(expected))[first + 4:first + 8]:
        err = [np.abs(written[k].astype(int) - source[j].astype(int)).mean() for j in range(i - 2, i + 3)]
        assert int(np.argmin(err)) == 2, (k, i, err)
    assert_valid(dataset)


def test_a_take_the_disk_cannot_hold_is_not_committed(tmp_path):
    """The recorder's own writer counts the frames before the rename too (issue 11)."""
    from conftest import EXERCISE_AVI, source_frames

    from actionrec.live.record.sinks import _VideoFile
    from small_disk import small_disk

    frames = source_frames(EXERCISE_AVI, 0, 200)[..., ::-1]  # real footage, 384x288: MBs as mp4v
    with small_disk(tmp_path / "disk") as disk:
        path = disk / "punch" / "me_001.mp4"
        video = _VideoFile(disk, path, FPS)
        for bgr in frames:
            video.write(np.ascontiguousarray(bgr))
        with pytest.raises(ActionrecError) as err:
            video.commit()
        assert str(err.value).startswith(f"{path}: the disk is full")
        assert not path.exists() and leftover_temp_files(disk) == []
        small = _VideoFile(disk, path, FPS)
        for bgr in frames[:5]:
            small.write(np.ascontiguousarray(bgr[:48, :64]))
        small.commit()
        assert cv2.VideoCapture(str(path)).get(cv2.CAP_PROP_FRAME_COUNT) == 5

"""Streaming pieces: ring-buffer window sampling, the capture thread, sources that die mid-stream."""

import functools
import http.server
import threading
import time

import numpy as np
import pytest

from conftest import EXERCISE_AVI, source_frames, write_clip

from actionrec.errors import ActionrecError
from actionrec.live.camera import FrameGrabber, parse_source
from actionrec.data.clock import ModelClock
from actionrec.live.stream import RingBuffer, StreamClassifier, ring_capacity, stream_steps
from actionrec.events.trigger import TriggerPolicy
from actionrec.data.video import FrameSpec


def index_embedding(i, dim=8):
    """An 'embedding' that says which frame it came from."""
    return np.full(dim, i, np.float32)


def window_frames(buffer):
    return buffer.window_array()[:, 0].astype(int).tolist()


def test_window_samples_a_30fps_stream_at_the_model_rate():
    buf = RingBuffer(window=4, model_fps=10.0, capacity=ring_capacity(4, 10.0, 30.0), dim=8)
    for i in range(30):
        buf.push(i / 30, index_embedding(i))
    # Ticks 0.667, 0.767, 0.867, 0.967 s end at the newest frame, 100 ms apart: every third frame.
    assert window_frames(buf) == [20, 23, 26, 29]
    buf.push(30 / 30, index_embedding(30))
    assert window_frames(buf) == [21, 24, 27, 30]


def test_window_at_stream_start_repeats_the_first_frame():
    buf = RingBuffer(window=4, model_fps=10.0, capacity=20, dim=8)
    buf.push(0.0, index_embedding(0))
    assert window_frames(buf) == [0, 0, 0, 0]
    for i in range(1, 5):
        buf.push(i / 30, index_embedding(i))
    assert window_frames(buf) == [0, 0, 1, 4]


def test_window_takes_latest_frame_at_or_before_each_tick_with_irregular_frames():
    buf = RingBuffer(window=3, model_fps=10.0, capacity=10, dim=8)
    for i, t in enumerate([0.0, 0.05, 0.21, 0.25, 0.40]):  # a camera that dropped some frames
        buf.push(t, index_embedding(i))
    assert window_frames(buf) == [1, 3, 4]  # ticks 0.2, 0.3, 0.4


def test_capacity_is_fixed_and_covers_the_window():
    n, cap = 16, ring_capacity(16, 10.0, 30.0)
    assert cap >= 15 * 3 + 1  # 1.5 s of a 30 fps stream plus the newest frame
    buf = RingBuffer(window=n, model_fps=10.0, capacity=cap, dim=8)
    for i in range(1000):
        buf.push(i / 30, index_embedding(i))
    assert len(buf) == cap and buf._embs.shape == (cap, 8)
    assert window_frames(buf) == list(range(999 - 45, 1000, 3))


def test_model_rate_zero_takes_the_last_n_frames():
    buf = RingBuffer(window=3, model_fps=0.0, capacity=3, dim=8)
    for i in range(7):
        buf.push(i / 30, index_embedding(i))
    assert window_frames(buf) == [4, 5, 6]


@pytest.mark.parametrize("rate, jitter", [(25.0, 0.0), (24.0, 0.0), (30.0, 0.004), (60.0, 0.004)])
def test_ticks_only_windows_are_the_model_frames_training_saw(rate, jitter):
    """Pose features run on the model's frames (the first at or after each tick) and are held between.
    Sampled by time, a 25 fps or jittery camera's window often took the frame before a tick, holding the
    previous pose twice and missing one; kept by tick, it is the last n model frames, as in training."""
    rng = np.random.default_rng(0)
    times = np.sort(np.arange(120) / rate + rng.uniform(-jitter, jitter, 120))
    clock = ModelClock(10.0)
    kept = RingBuffer(window=4, model_fps=10.0, capacity=ring_capacity(4, 10.0, rate), dim=8, ticks_only=True)
    sampled = RingBuffer(window=4, model_fps=10.0, capacity=ring_capacity(4, 10.0, rate), dim=8)
    model_frames, wrong = [], 0
    for i, t in enumerate(times):
        tick = clock.ticks(t)
        model_frames += [i] if tick else []
        held = index_embedding(model_frames[-1])  # what LiveFeatures gives: the latest model frame's pose
        kept.push(t, held, tick)
        sampled.push(t, held)
        expected = ([model_frames[0]] * 4 + model_frames)[-4:]
        assert window_frames(kept) == expected
        wrong += sampled.holds_full_window() and window_frames(sampled) != expected
    assert model_frames == ModelClock(10.0).keep(times)
    assert kept.holds_full_window() and kept.seconds() == pytest.approx(times[-1] - times[0])
    assert wrong > 10  # how often sampling by time got it wrong


def test_ring_buffer_rejects_bad_sizes():
    with pytest.raises(ActionrecError):
        RingBuffer(window=5, model_fps=10.0, capacity=4)
    with pytest.raises(ActionrecError, match="empty"):
        RingBuffer(window=2, model_fps=10.0, capacity=4).window_indices()


def test_parse_source():
    assert parse_source("0") == 0 and parse_source(" 2 ") == 2
    assert parse_source("clip.mp4") == "clip.mp4" and parse_source("rtsp://cam/1") == "rtsp://cam/1"


@pytest.fixture(scope="module")
def short_30fps_video(tmp_path_factory):
    """30 frames of the real exercise clip written as a 1 s, 30 fps video."""
    path = tmp_path_factory.mktemp("video") / "short30.avi"
    return write_clip(path, source_frames(EXERCISE_AVI, 0, 30), fps=30)


def test_classifier_embeds_each_frame_once_and_predicts_every_frame(embedder, short_30fps_video):
    calls = []

    def counting_embed(rgb):
        calls.append(rgb.shape)
        return embedder.embed_one(rgb)

    windows = []

    def predict(window):  # the model seam: record the windows it is given
        windows.append(window.copy())
        return np.array([0.1, 0.8, 0.1])

    spec = FrameSpec()
    buffer = RingBuffer(window=5, model_fps=spec.fps, capacity=ring_capacity(5, spec.fps, 30.0))
    clf = StreamClassifier(counting_embed, predict, spec, buffer)
    policy = TriggerPolicy(["kick", "other", "punch"])
    steps = list(stream_steps(FrameGrabber(str(short_30fps_video), realtime=False), clf, policy))
    assert len(steps) == 30 and len(calls) == 30  # one embedding per frame, never more
    assert calls[0] == (spec.height, spec.width, 3)
    assert all(s.probs.shape == (3,) and not s.events for s in steps)
    assert [s.frame.t for s in steps] == pytest.approx([i / 30 for i in range(30)])
    # The last window is frames 17, 20, 23, 26, 29: the very embeddings computed for those frames.
    last = windows[-1]
    for k, i in enumerate([17, 20, 23, 26, 29]):
        np.testing.assert_array_equal(last[k], windows[i][-1])


def test_realtime_grabber_drops_stale_frames_for_a_slow_consumer(short_30fps_video):
    grabber = FrameGrabber(str(short_30fps_video), realtime=True).start()
    got = []
    while (frame := grabber.next_frame(timeout=2.0)) is not None:
        got.append(frame.index)
        time.sleep(0.1)  # a consumer at 10 fps behind a 30 fps source
    assert grabber.read == 30 and not grabber.failed
    assert len(got) + grabber.dropped == 30 and grabber.dropped >= 15
    assert got == sorted(got) and got[-1] == 29  # always the newest frame, up to the last one


def test_replay_grabber_hands_over_every_frame(short_30fps_video):
    grabber = FrameGrabber(str(short_30fps_video), realtime=False).start()
    got = []
    while (frame := grabber.next_frame(timeout=2.0)) is not None:
        got.append(frame.index)
    assert got == list(range(30)) and grabber.dropped == 0
    assert grabber.message.endswith("end of video after 30 frames") and not grabber.failed


@pytest.fixture(scope="module")
def truncated_avi(tmp_path_factory):
    """The real exercise clip cut in half, as a download or a full disk would leave it."""
    data = EXERCISE_AVI.read_bytes()
    path = tmp_path_factory.mktemp("broken") / "truncated.avi"
    path.write_bytes(data[: len(data) // 2])
    return path


def _drain(source, realtime=False):
    grabber = FrameGrabber(source, realtime=realtime)
    n = sum(1 for _ in iter(functools.partial(grabber.start().next_frame, 5.0), None))
    return grabber, n


def test_truncated_file_stops_the_stream_with_a_message(truncated_avi):
    grabber, n = _drain(str(truncated_avi))
    assert 100 < n < 393 and grabber.read == n
    assert grabber.failed and "ended early" in grabber.message and f"{n} of 393" in grabber.message


def test_stream_url_that_dies_mid_stream_stops_cleanly(truncated_avi):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(truncated_avi.parent))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        grabber, n = _drain(f"http://127.0.0.1:{server.server_address[1]}/{truncated_avi.name}", realtime=True)
    finally:
        server.shutdown()
    assert n > 0 and grabber.failed
    assert "stopped delivering frames" in grabber.message


def test_stalled_source_is_reported(short_30fps_video):
    grabber = FrameGrabber(str(short_30fps_video), realtime=False)  # never started: nothing arrives
    assert grabber.next_frame(timeout=0.2) is None
    assert grabber.failed and "stalled" in grabber.message


def test_missing_source_is_a_clear_error(tmp_path):
    with pytest.raises(ActionrecError, match="no such video file"):
        FrameGrabber(str(tmp_path / "nope.mp4"))
    with pytest.raises(ActionrecError, match="is a folder; expected a camera index, a video file"):
        FrameGrabber(str(tmp_path))
    with pytest.raises(ActionrecError, match="camera 97"):
        FrameGrabber(97)

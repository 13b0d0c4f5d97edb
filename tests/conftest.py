"""Shared fixtures: the real MobileNet weights, the real fixture clips, and tiny datasets built from them.

Every test runs against real parts: the ImageNet weights in ../shared/weights and the clips in
../shared/fixtures/real. Datasets are built fresh in a tmp dir per test (both layouts), from short cuts of
the real clips so that embedding them takes a second or two.
"""

from __future__ import annotations

import functools
import os
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from actionrec.data.video import write_video
from actionrec.features.pose.assets import ENV_VAR as POSE_ENV

SHARED = Path(__file__).resolve().parents[2] / "shared"
REAL = SHARED / "fixtures" / "real"
PUNCH_AVI = REAL / "ucf101_punch_g03_c01.avi"  # 108 frames, 320x240, 25 fps
EXERCISE_AVI = REAL / "exercise_other.avi"  # 393 frames, 384x288, 10 fps
# Debian's Chromium, started with the product's own flags (tools/bench/stream.py); never a downloaded browser.
CHROMIUM = Path("/usr/bin/chromium")

# Set at import time (before any test imports keras) so every test and subprocess sees the weights.
WEIGHTS = Path(os.environ.setdefault("ACTIONREC_MOBILENET_WEIGHTS", str(SHARED / "weights" / "mobilenet_1_0_224_tf_no_top.h5")))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@functools.lru_cache(maxsize=None)
def _source_frames(path: Path) -> np.ndarray:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    cap.release()
    assert frames, f"cannot decode fixture {path}"
    arr = np.stack(frames)
    arr.setflags(write=False)
    return arr


def source_frames(path: Path, start: int = 0, count: int | None = None) -> np.ndarray:
    """RGB frames (N, H, W, 3) of a real fixture clip at its own size and rate (decoded once per session)."""
    frames = _source_frames(Path(path))
    return frames[start : None if count is None else start + count]


def write_clip(path: Path, frames: np.ndarray, fps: float = 25.0) -> Path:
    """Write RGB frames as a video (.avi = MJPG, .mp4 = mp4v) through actionrec's own writer."""
    write_video(path, frames, fps)
    return path


def write_variable_rate(path, frames, times):
    """An H.264 MP4 whose frames sit at ``times`` (seconds), as a phone writes one (PyAV: OpenCV's writer has
    one rate). Time base 1/600, the one phones use, so every time below is exact."""
    import fractions

    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.codec_context.time_base = fractions.Fraction(1, 600)
        for rgb, t in zip(frames, times):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            frame.pts, frame.time_base = round(t * 600), fractions.Fraction(1, 600)
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


def write_frame_folder(folder: Path, frames: np.ndarray, ext: str = ".jpg") -> Path:
    """Write RGB frames as numbered images 1.jpg, 2.jpg, ... (unpadded on purpose: tests natural order)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(frames, start=1):
        assert cv2.imwrite(str(folder / f"{i}{ext}"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    return folder


def build_class_dataset(root: Path, frames: int = 20) -> Path:
    """Layout 1, both clip kinds, nested fine labels, and groups.csv; ``frames`` source frames per clip.

    root/punch/jab/p1.avi            (punch fixture, frames 0..)      group alice
    root/punch/hook/p2/1.jpg ...     (punch fixture, a frame folder)  group bob
    root/other/o1.avi                (exercise fixture)               group alice
    root/other/o2/1.jpg ...          (exercise fixture, frame folder) group bob
    Labels: other, punch/hook, punch/jab.
    """
    punch, exercise = source_frames(PUNCH_AVI), source_frames(EXERCISE_AVI)
    write_clip(root / "punch" / "jab" / "p1.avi", punch[:frames], fps=25)
    write_frame_folder(root / "punch" / "hook" / "p2", punch[40 : 40 + frames])
    write_clip(root / "other" / "o1.avi", exercise[:frames], fps=10)
    write_frame_folder(root / "other" / "o2", exercise[200 : 200 + frames])
    (root / "groups.csv").write_text(
        "clip,group\npunch/jab/p1.avi,alice\npunch/hook/p2,bob\nother/o1.avi,alice\nother/o2,bob\n"
    )
    return root


def build_annotated_dataset(root: Path, frames: int = 60) -> Path:
    """Layout 2: two 10 fps videos of the exercise fixture with annotations.csv and groups.csv.

    videos/a.avi: punch 1.0-2.0 s, kick 3.0-4.0 s, the rest ``other``; videos/b.avi: punch 0.5-1.5 s.
    """
    exercise = source_frames(EXERCISE_AVI)
    write_clip(root / "videos" / "a.avi", exercise[:frames], fps=10)
    write_clip(root / "videos" / "b.avi", exercise[100 : 100 + frames], fps=10)
    (root / "annotations.csv").write_text(
        "video,start,end,label\n"
        "videos/a.avi,1.0,2.0,punch\n"
        "videos/a.avi,3.0,4.0,kick\n"
        "videos/b.avi,0.5,1.5,punch\n"
    )
    (root / "groups.csv").write_text("clip,group\nvideos/a.avi,alice\nvideos/b.avi,bob\n")
    return root


ORDER_PEOPLE = ["ann", "bob", "cat", "dan"]
# The evaluation of ``order_report``: 2 folds, 8-frame windows.
ORDER_OPTIONS = dict(folds=2, window=8, stride=1, epochs=40, seed=1)


def disc_frames(rng: np.random.Generator, n: int = 20) -> np.ndarray:
    """A disc crossing a noisy background left to right, at 100x56 (people differ only a little in colour)."""
    bg = rng.integers(90, 150, 3)
    color = tuple(int(v) for v in rng.integers(0, 50, 3) + np.array([200, 30, 30]))
    y = int(rng.integers(18, 38))
    frames = []
    for x in np.linspace(12, 88, n):
        f = np.empty((56, 100, 3), np.uint8)
        f[:] = bg
        f = np.clip(f + rng.normal(0, 6, f.shape), 0, 255).astype(np.uint8)
        cv2.circle(f, (int(x), y), 10, color, -1)
        frames.append(f)
    return np.stack(frames)


def build_order_dataset(root, clips_per_class: int = 4, seed: int = 0):
    """``slide/left`` and ``slide/right`` clips are the same frames of a disc crossing the picture, played in
    opposite orders (a frame model cannot tell them apart, an LSTM can), and ``still/idle``; 4 people."""
    rng = np.random.default_rng(seed)
    rows = []
    for person in ORDER_PEOPLE:
        for i in range(clips_per_class):
            frames = disc_frames(rng)
            for label, seq in (("slide/right", frames), ("slide/left", frames[::-1])):
                rel = f"{label}/{person}_{i}.avi"
                write_video(root / rel, seq, fps=10)
                rows.append(f"{rel},{person}")
            still = np.repeat(frames[int(rng.integers(0, len(frames)))][None], len(frames), axis=0)
            rel = f"still/idle/{person}_{i}.avi"
            write_video(root / rel, still, fps=10)
            rows.append(f"{rel},{person}")
    (root / "groups.csv").write_text("clip,group\n" + "\n".join(rows) + "\n")
    return root


@pytest.fixture(scope="session")
def order_data(tmp_path_factory, weights_path):
    from actionrec.data.video import FrameSpec
    from actionrec.learn.embedded import embed_dataset_dir

    root = build_order_dataset(tmp_path_factory.mktemp("order"))
    return embed_dataset_dir(root, FrameSpec(), weights=weights_path, show_progress=False)


@pytest.fixture(scope="session")
def order_report(order_data, tmp_path_factory):
    """(folder, report) of the serial evaluation with ``ORDER_OPTIONS``."""
    from actionrec.learn.evaluate import evaluate, evaluate_options

    out = tmp_path_factory.mktemp("report")
    options = evaluate_options(**ORDER_OPTIONS)
    return out, evaluate(order_data, out, options, log=lambda *_: None)


@pytest.fixture(scope="module")
def ray_cluster():
    """A local 2-CPU Ray cluster for one module's Ray tests (skipped where the ray extra is not installed).

    Per module, not per session: a cluster's idle workers kept using a quarter of a core through every
    later test."""
    ray = pytest.importorskip("ray", reason="the optional ray extra is not installed: pip install 'actionrec[ray]'")
    from actionrec.util.ray_cluster import NAMESPACE

    ray.init(num_cpus=2, namespace=NAMESPACE, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def weights_path() -> Path:
    """Path of the real MobileNet v1 no-top ImageNet weights (.h5)."""
    if not WEIGHTS.is_file():
        pytest.skip(f"MobileNet weights not found at {WEIGHTS}")
    return WEIGHTS


@pytest.fixture(scope="session")
def pose_models_dir() -> Path:
    """The folder of BlazePose's two TFLite files: $ACTIONREC_POSE_MODELS, else ../shared/weights/pose."""
    folder = Path(os.environ.get(POSE_ENV, SHARED / "weights" / "pose"))
    if not (folder / "pose_detection.tflite").is_file():
        pytest.skip(f"BlazePose models not in {folder} (set {POSE_ENV})")
    return folder


@pytest.fixture(scope="module")
def pose_models_env(pose_models_dir):
    """Point the product's own search ($ACTIONREC_POSE_MODELS) at the shared models for one test module."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(POSE_ENV, str(pose_models_dir))
        yield pose_models_dir


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium per test module."""
    from playwright.sync_api import sync_playwright

    from actionrec.tools.bench.stream import CHROMIUM_ARGS

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS))
        yield b
        b.close()


@pytest.fixture(scope="session")
def punch_avi() -> Path:
    """The real UCF101 punch clip (108 frames, 320x240, 25 fps)."""
    return PUNCH_AVI


@pytest.fixture(scope="session")
def exercise_avi() -> Path:
    """The real calisthenics clip, class "other" (393 frames, 384x288, 10 fps)."""
    return EXERCISE_AVI


@pytest.fixture(scope="session")
def embedder(weights_path):
    """One real ``Embedder`` (100x56, 10 fps, RGB, batch 32) loaded once; ``embedder.for_spec(spec)`` for
    another rate or grayscale shares its model."""
    from actionrec.features.mobilenet import Embedder

    return Embedder(weights=weights_path)


@pytest.fixture
def class_dataset(tmp_path) -> Path:
    """A fresh layout-1 dataset (see ``build_class_dataset``) in a tmp dir."""
    return build_class_dataset(tmp_path / "classes")


@pytest.fixture
def annotated_dataset(tmp_path) -> Path:
    """A fresh layout-2 dataset (see ``build_annotated_dataset``) in a tmp dir."""
    return build_annotated_dataset(tmp_path / "annotated")


@pytest.fixture(scope="session")
def sparring(tmp_path_factory, weights_path):
    """Synthetic sparring (2 people, 15 s each) and an LSTM trained on all of it, sparring included,
    saved and exported to TFLite: the live loop runs the production fast path (LiteRT). Returns
    (dataset root, InferenceSession); the browser tests of the practice page and of the real MK.js share it.

    Training on the played video is deliberate: these tests check the live plumbing end to end, not how
    well the model generalizes (replay metrics on held-out people measure that). 160x90 frames: at
    100x56 the synthetic poses are too close for even a memorizing model to fire cleanly.
    """
    from actionrec.data.video import FrameSpec
    from actionrec.features.mobilenet import Embedder
    from actionrec.learn.embedded import embed_dataset_dir
    from actionrec.learn.models import LSTMOptions, TrainOptions
    from actionrec.learn.train import TrainSpec, fit
    from actionrec.live.export import export_model
    from actionrec.live.runtime import InferenceSession, SessionOptions
    from actionrec.synth.dataset import synthesize

    root = tmp_path_factory.mktemp("synth") / "data"
    synthesize(root, people=2, clips_per_class=2, seed=3, sparring_per_person=1, sparring_seconds=15)
    embedder = Embedder(FrameSpec(width=160, height=90), weights_path)
    data = embed_dataset_dir(root, embedder.config.frame_spec, embedder=embedder, show_progress=False)
    spec = TrainSpec(kind="lstm", lstm=LSTMOptions(window=8),
                     train=TrainOptions(epochs=40, val_fraction=0.0, seed=0))
    model_dir = fit(data, spec).save(root.parent / "model")
    export_model(model_dir, weights=weights_path)
    session = InferenceSession(SessionOptions(model_dir))
    assert session.backend == "litert", session.reason
    return root, session


def play_on_practice_page(page, inference, video, timeout: float, until: str | None = None):
    """Play ``video`` live (``LiveSession``) on the practice page open in ``page`` until the source ends, then
    until the page's ``until`` condition (JavaScript) holds. Returns (session, its log lines)."""
    from actionrec.live.game import LiveOptions, LiveSession

    lines: list[str] = []
    session = LiveSession(inference, LiveOptions(source=str(video), port=0, wait_for_page=True, linger=0.5),
                          log=lines.append)
    url = session.start()
    try:
        page.goto(url)
        assert session.wait(timeout=timeout), f"the stream of {video} did not end"
        if until:
            page.wait_for_function(until)
    finally:
        session.stop()
    return session, lines


def wait_until(predicate, timeout=10.0, what="condition"):
    """Poll ``predicate`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def leftover_temp_files(root: Path) -> list[Path]:
    """Files or folders under ``root`` that an atomic write left behind (``.NAME.<pid>.xxxx.actionrec-tmp...``)."""
    from actionrec.util.atomic import is_temp_name

    return [p for p in Path(root).rglob(".*") if is_temp_name(p.name)]

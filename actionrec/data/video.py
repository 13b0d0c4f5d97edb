"""Video in and out: decode clips (video files or folders of numbered images) into RGB frames.

Frames are resampled to a target rate by their timestamps (default 10 fps, the article's 100 ms), resized
to the model input (default 100x56) and optionally turned to grayscale replicated to 3 channels (the
article's browser path). Everything downstream sees RGB ``uint8`` arrays of shape (H, W, 3).
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Iterator

import cv2
import numpy as np

from actionrec.data.clock import ModelClock
from actionrec.data.keypoints import is_keypoint_clip, keypoint_info
from actionrec.errors import ActionrecError
from actionrec.util.atomic import atomic_path

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
# Containers whose header holds an exact frame count (used to detect truncated files).
EXACT_COUNT_EXTENSIONS = (".avi", ".mp4", ".mov")


def header_count_slack(claimed: int) -> int:
    """How many frames a complete video may fall short of the count its header states.

    Many real containers overstate it by a few frames (edit lists, B-frame delay: a phone's MP4 said 600
    and decoded 597); a truncated or half-downloaded file falls far shorter.
    """
    return max(5, claimed // 50)

# A folder of images has no rate of its own; this is what we assume unless told otherwise.
IMAGE_FOLDER_FPS = 30.0
# What a container (or camera) that reports no usable frame rate is taken to run at: most webcams and phones.
FALLBACK_FPS = 30.0
# Above this a reported rate is a container's time base, not a camera's (MPEG-TS reports 90000; phones'
# slow motion tops out at 960): taken as unknown. Believed, 90000 made a 4 s clip last 4 ms of model time
# (no window, no event), and 10 million asked the live ring buffer for 27 GiB.
MAX_FPS = 1000.0


def usable_fps(fps: float | None) -> float:
    """OpenCV's CAP_PROP_FPS when it is a real rate, else ``FALLBACK_FPS`` (it reports 0 or nan when unknown,
    and a time base such as 90000 for some containers)."""
    return float(fps) if fps and math.isfinite(fps) and 0 < fps <= MAX_FPS else FALLBACK_FPS


class FrameTimes:
    """Each decoded frame's time, in seconds from the first frame: the container's own timestamp
    (``CAP_PROP_POS_MSEC``), so that a variable-rate video keeps its real timing. Phones write those in dim
    light (30 fps dropping to 12): timed as index / rate, the 30 fps half of such a clip played 1.4 times
    too slowly and the 12 fps half 1.8 times too fast. The calisthenics clip so written fired 0 of the 11
    attacks of its constant-rate copy within 0.1 s of their time (1 within 0.3 s), and 10 at its own
    timestamps. A timestamp that is missing, does not move forward by at least
    1 / ``MAX_FPS`` or jumps more than ``MAX_GAP`` is replaced by the previous frame's time + 1 / rate. On every
    real constant-rate clip here (the two clips, survfight-dev's 150) the two rules give the same times."""

    MAX_GAP = 1.0  # seconds; a longer step between two frames is a broken timestamp, not a recording

    def __init__(self, fps: float) -> None:
        self.step = 1.0 / fps
        self._origin: float | None = None  # the first frame's timestamp
        self._last = 0.0

    def next(self, msec: float) -> float:
        """The time of the frame just grabbed, given the container's ``CAP_PROP_POS_MSEC`` for it."""
        stamp = msec / 1000.0 if math.isfinite(msec) else math.nan
        if self._origin is None:
            self._origin = stamp if math.isfinite(stamp) else 0.0
            return 0.0
        t = stamp - self._origin
        # nan fails too; steps under 1 / MAX_FPS come from a time base taken for the rate (AVI's 90000).
        if not self._last + 1.0 / MAX_FPS <= t <= self._last + max(self.MAX_GAP, 2 * self.step):
            t = self._last + self.step
        self._last = t
        return t


@dataclass(frozen=True)
class FrameSpec:
    """How frames are sampled and shaped before they reach the embedder."""

    fps: float = 10.0  # resample to this rate; 0 keeps every source frame
    width: int = 100
    height: int = 56
    grayscale: bool = False

    def __post_init__(self) -> None:
        # Normalize types so FrameSpec(fps=10) and FrameSpec(fps=10.0) give one cache key and one JSON form.
        for name, kind in (("fps", float), ("width", int), ("height", int), ("grayscale", bool)):
            object.__setattr__(self, name, kind(getattr(self, name)))
        if self.fps < 0 or not math.isfinite(self.fps):
            raise ActionrecError(f"frame rate must be >= 0 (0 keeps every frame), got {self.fps}")
        if self.width < 32 or self.height < 32:
            raise ActionrecError(f"frame size must be at least 32x32 for MobileNet, got {self.width}x{self.height}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    frames: int
    fps: float
    width: int
    height: int

    @property
    def duration(self) -> float:
        return self.frames / self.fps if self.fps > 0 else 0.0


def is_clip(path: Path) -> bool:
    """A clip is a video file or a folder holding images."""
    if path.is_file():
        return path.suffix.lower() in VIDEO_EXTENSIONS
    return path.is_dir() and any(p.suffix.lower() in IMAGE_EXTENSIONS for p in path.iterdir())


def image_files(folder: Path) -> list[Path]:
    """The numbered images of a frame folder in numeric order (2.jpg before 10.jpg)."""
    files = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")]
    others = [p for p in files if p.suffix.lower() not in IMAGE_EXTENSIONS]
    if others:
        raise ActionrecError(
            f"{folder}: frame folder holds non-image file(s) {', '.join(p.name for p in others[:3])}; "
            f"expected only {'/'.join(IMAGE_EXTENSIONS)} images"
        )
    if not files:
        raise ActionrecError(f"{folder}: frame folder has no images")
    # The name breaks ties (7.jpg, 007.jpg): otherwise their order would be the directory's, which differs
    # between filesystems. ``inspect`` warns about such folders.
    return sorted(files, key=lambda p: (_natural_key(p), p.name))


def _natural_key(path: Path) -> list:
    return [int(tok) if tok.isdigit() else tok for tok in re.split(r"(\d+)", path.name)]


def probe(path: str | os.PathLike) -> VideoInfo:
    """Frame count, rate and size of a clip, without decoding it all."""
    path = Path(path)
    if is_keypoint_clip(path):  # no pixels: size 0 x 0
        frames, fps = keypoint_info(path)
        return VideoInfo(path, frames, fps, 0, 0)
    if path.is_dir():
        files = image_files(path)
        first = _read_image(files[0])
        return VideoInfo(path, len(files), IMAGE_FOLDER_FPS, first.shape[1], first.shape[0])
    cap = _open(path)
    try:
        fps = cap.get(cv2.CAP_PROP_FPS)
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    finally:
        cap.release()
    fps = usable_fps(fps)
    if n <= 0 or w <= 0:
        raise ActionrecError(f"{path}: video has zero readable frames; expected at least one (corrupt or unsupported file?)")
    return VideoInfo(path, n, float(fps), w, h)


def opencv_name(path: str | os.PathLike) -> str:
    """The name to give OpenCV's video reader or writer for a local file: its absolute path. FFmpeg reads a
    relative name with a colon before any slash ("take:1.avi", "10:30.avi") as a protocol and cannot open it."""
    return str(Path(path).absolute())


def _open(path: Path, threads: int = 0) -> cv2.VideoCapture:
    """Open a video; ``threads`` > 0 caps FFmpeg's decoding threads (0: OpenCV's default, all cores)."""
    if not path.exists():
        raise ActionrecError(f"{path}: no such video file")
    if path.is_dir():
        raise ActionrecError(f"{path}: is a folder; expected a video file")
    if is_keypoint_clip(path):
        raise ActionrecError(f"{path}: a keypoint clip, no pixels; expected a video here (keypoint clips train, "
                             "evaluate and score as dataset clips)")
    if not os.access(path, os.R_OK):
        raise ActionrecError(f"{path}: cannot read the video: permission denied")
    name = opencv_name(path)
    cap = cv2.VideoCapture(name, cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, threads]) if threads else None
    if cap is None or not cap.isOpened():
        cap = cv2.VideoCapture(name)
    if not cap.isOpened():
        raise ActionrecError(f"{path}: OpenCV cannot open it as a video (corrupt file or unsupported codec?)")
    return cap


def _read_image(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise ActionrecError(f"{path}: not a readable image")
    return img


def prepare(bgr: np.ndarray, spec: FrameSpec) -> np.ndarray:
    """One decoded BGR frame -> resized RGB uint8 (H, W, 3), gray replicated if asked."""
    h, w = bgr.shape[:2]
    tw, th = spec.width, spec.height
    if w > tw or h > th:
        # Shrink with little aliasing, cheaply. OpenCV's area resize is fast only when it halves both axes
        # (at other factors it took 64 of the 80 us of preparing a 320x240 frame, time the decode thread
        # must keep well below the model's): so halve while the frame is 4x the target, bilinear (by a
        # factor under 2, where it barely aliases) to exactly twice the target, and halve once more. A
        # frame under twice the target is scaled up to twice it first, so every path ends in that halving.
        while w >= 4 * tw and h >= 4 * th:
            bgr = cv2.resize(bgr[: h - h % 2, : w - w % 2], (w // 2, h // 2), interpolation=cv2.INTER_AREA)
            h, w = bgr.shape[:2]
        bgr = cv2.resize(bgr, (2 * tw, 2 * th), interpolation=cv2.INTER_LINEAR)
        bgr = cv2.resize(bgr, (tw, th), interpolation=cv2.INTER_AREA)
    elif (w, h) != (tw, th):
        bgr = cv2.resize(bgr, (tw, th), interpolation=cv2.INTER_AREA)
    if spec.grayscale:
        gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        return np.repeat(gray[:, :, None], 3, axis=2)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def iter_source_frames(
    path: str | os.PathLike, spec: FrameSpec, decode_threads: int = 0
) -> Iterator[tuple[float, np.ndarray]]:
    """Yield ``(timestamp_seconds, rgb_frame)`` resampled to ``spec.fps`` and resized (``prepare``)."""
    for t, bgr in iter_decoded_frames(path, spec, decode_threads):
        yield t, prepare(bgr, spec)


def frame_difference(previous: np.ndarray | None, frame: np.ndarray) -> np.ndarray:
    """|frame - previous| per pixel and channel (uint8), the motion stream's image: what moved shows, a still
    background is black. No previous frame (a stream's first): all black."""
    return np.zeros_like(frame) if previous is None else cv2.absdiff(frame, previous)


def iter_differences(frames: Iterable[tuple[float, np.ndarray]]) -> Iterator[tuple[float, np.ndarray]]:
    """``(t, frame_difference(previous, frame))`` of a stream of prepared frames, at the frames' own times."""
    previous = None
    for t, frame in frames:
        yield t, frame_difference(previous, frame)
        previous = frame


def iter_decoded_frames(
    path: str | os.PathLike, spec: FrameSpec, decode_threads: int = 0
) -> Iterator[tuple[float, np.ndarray]]:
    """Yield ``(timestamp_seconds, bgr_source_frame)`` resampled to ``spec.fps``, at the source's own size.

    ``iter_source_frames`` prepares these for MobileNet; the pose feature needs the source's pixels.
    Resampling keeps the first source frame at or after each tick of the target clock, so a 25 fps clip
    at 10 fps yields frames at 0.0, 0.12, 0.2, ... s (timestamps are the source frames' own). Frames that
    are skipped are only grabbed, not converted to pixels, which is most of the decode speed.
    ``decode_threads`` > 0 caps FFmpeg's threads (the embedder uses 1: the model already fills the cores).
    """
    path = Path(path)
    if path.is_dir():
        files = image_files(path)
        src_times = [i / IMAGE_FOLDER_FPS for i in range(len(files))]
        for i in ModelClock(spec.fps).keep(src_times):
            yield src_times[i], _read_image(files[i])
        return
    cap = _open(path, decode_threads)
    try:
        times = FrameTimes(usable_fps(cap.get(cv2.CAP_PROP_FPS)))
        clock = ModelClock(spec.fps)
        i = 0
        while True:
            if not cap.grab():
                break
            t = times.next(cap.get(cv2.CAP_PROP_POS_MSEC))
            i += 1
            if not clock.ticks(t):
                continue
            ok, bgr = cap.retrieve()
            if not ok or bgr is None:
                raise ActionrecError(f"{path}: frame {i - 1} could not be decoded (corrupt video?)")
            yield t, bgr
        _require_complete(path, cap, decoded=i)
    finally:
        cap.release()


def _require_complete(path: Path, cap: cv2.VideoCapture, decoded: int) -> None:
    """Fail on a truncated file: OpenCV just stops early, so compare with the frame count of the header.

    Only containers with a frame index (AVI, MP4, MOV) state an exact count; MKV/WebM counts are estimates.
    """
    if path.suffix.lower() not in EXACT_COUNT_EXTENSIONS:
        return
    claimed = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    if decoded and claimed > 0 and decoded < claimed - header_count_slack(claimed):
        raise ActionrecError(
            f"{path}: decoding stopped at frame {decoded} of the {claimed} its header lists; "
            "expected a complete video (truncated or corrupt file?)"
        )


def check_clip(path: str | os.PathLike) -> VideoInfo:
    """``probe`` plus cheap integrity checks for ``inspect``: every image of a frame folder has an image
    header, and a video's last frame can be reached (a truncated file cannot), without decoding it all.
    """
    path = Path(path)
    info = probe(path)
    if path.is_dir():
        bad = [f.name for f in image_files(path) if not cv2.haveImageReader(str(f))]
        if bad:
            raise ActionrecError(f"{path}: {', '.join(bad[:3])} not readable as images; expected only image files")
        return info
    if path.suffix.lower() in EXACT_COUNT_EXTENSIONS:
        cap = _open(path)
        try:
            # Near the end rather than the very last frame: headers that overstate the count are common.
            last = max(0, info.frames - 1 - header_count_slack(info.frames))
            cap.set(cv2.CAP_PROP_POS_FRAMES, last)
            if not cap.grab():
                raise ActionrecError(
                    f"{path}: frame {last} (near the last of the {info.frames} its header lists) cannot be read; "
                    "expected a complete video (truncated or corrupt file?)"
                )
        finally:
            cap.release()
    return info


def read_clip(path: str | os.PathLike, spec: FrameSpec) -> tuple[np.ndarray, np.ndarray]:
    """All frames of a clip: ``(frames (N, H, W, 3) uint8, timestamps (N,) float64)``."""
    times, frames = [], []
    for t, frame in iter_source_frames(path, spec):
        times.append(t)
        frames.append(frame)
    if not frames:
        raise ActionrecError(f"{path}: clip has zero frames")
    return np.stack(frames), np.asarray(times, dtype=np.float64)


def write_video(path: str | os.PathLike, frames: np.ndarray | list[np.ndarray], fps: float) -> None:
    """Write RGB uint8 frames to a video file atomically (mp4v in .mp4, MJPG in .avi).

    The temp file is reopened and its frames counted before the rename: OpenCV's writer reports no failed
    write (on a full disk it leaves an .mp4 without its index, the moov atom, that nothing can open), so a
    file appears at ``path`` only when it holds every frame.
    """
    path = Path(path)
    frames = list(frames)
    if not frames:
        raise ActionrecError(f"{path}: refusing to write a video with zero frames")
    h, w = frames[0].shape[:2]
    fourcc = cv2.VideoWriter_fourcc(*("MJPG" if path.suffix.lower() == ".avi" else "mp4v"))
    try:
        with atomic_path(path) as tmp, quiet_opencv():
            writer = cv2.VideoWriter(opencv_name(tmp), fourcc, float(fps), (w, h))
            if not writer.isOpened():
                raise ActionrecError(write_failure(path, tmp, "OpenCV cannot write this video format"))
            try:
                for frame in frames:
                    writer.write(cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2BGR))
            finally:
                writer.release()
            check_written(path, tmp, len(frames))
    except OSError as exc:  # the temp file itself, its fsync or the rename
        raise ActionrecError(_disk_message(path, exc)) from None


def check_written(path: Path, tmp: Path, expected: int) -> None:
    """Raise unless the just-written ``tmp`` (to become ``path``) decodes to ``expected`` frames."""
    found = count_frames(tmp)
    if found != expected:
        raise ActionrecError(
            write_failure(path, tmp, f"the written video holds {found} of its {expected} frames (OpenCV's writer failed)")
        )


def count_frames(path: str | os.PathLike) -> int:
    """Frames that actually decode (0 if OpenCV cannot open the file): the header's count is not proof.

    Counting decodes every frame; for an .mp4 at 384x288 that took 11 % of the time writing it took.
    """
    with quiet_opencv():
        cap = cv2.VideoCapture(opencv_name(path))
        try:
            n = 0
            while cap.isOpened() and cap.grab():
                n += 1
            return n
        finally:
            cap.release()


def is_complete_video(path: str | os.PathLike) -> bool:
    """For resuming: a video left by an earlier run opens, decodes, and holds the frames its header lists."""
    path = Path(path)
    if not path.is_file():
        return False
    with quiet_opencv():
        cap = cv2.VideoCapture(opencv_name(path))
        claimed = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else 0
        cap.release()
    return claimed > 0 and count_frames(path) == claimed


def write_failure(path: Path, tmp: Path, otherwise: str) -> str:
    """Why writing failed: the file system's error if it has one (full disk, quota, read-only), else ``otherwise``.

    OpenCV keeps the real errno to itself, so ask the file system directly: append 1 MiB to the temp file
    (deleted right after). A disk OpenCV just filled cannot take it.
    """
    try:
        with open(tmp, "ab") as fh:
            fh.write(bytes(1 << 20))
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        return _disk_message(path, exc)
    return f"{path}: {otherwise}"


def _disk_message(path: Path, exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return f"{path}: the disk is full (no space left on device); free some space and rerun, finished files are kept"
    if exc.errno == errno.EDQUOT:
        return f"{path}: disk quota exceeded; free some space and rerun, finished files are kept"
    return f"{path}: cannot write the video ({exc.strerror or exc})"


@contextlib.contextmanager
def quiet_opencv() -> Iterator[None]:
    """Silence OpenCV's log (and FFmpeg's through it): a failing writer prints a WARN line per frame, a moov-less
    file another, and each failed camera probe several. Only the log level changes, and is restored:
    OPENCV_LOG_LEVEL is read once at import, so setting the variable here would do nothing."""
    logging = cv2.utils.logging
    before = logging.getLogLevel()
    logging.setLogLevel(logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        logging.setLogLevel(before)

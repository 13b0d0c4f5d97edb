"""PoseEstimator: BlazePose on a video stream, one person, tracked from frame to frame.

The detector runs on the first frame and whenever the pose is lost; otherwise the crop for the next
frame comes from this frame's auxiliary landmarks 33 (body centre) and 34 (size/rotation point), as in
MediaPipe's pose graph, so a tracked frame costs one landmark-model run. When the tracked crop's
pose-present score falls below ``min_pose_score`` the detector runs again on the same frame (MediaPipe
waits for the next frame; re-detecting at once keeps frames that tracking alone would drop). Once a second
the detector also looks for a larger person elsewhere: the player (``PoseOptions.player_check_s``).
When the whole picture shows the detector nobody, it also looks at one zoomed square of it per frame
(``PoseOptions.zoom_search``), so that a person small in the picture is found; small people's crops come
from the finer source pixels (``image.PoseImage``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from actionrec.errors import ActionrecError
from actionrec.features.pose.assets import find_pose_models
from actionrec.features.pose.detector import INPUT_SIZE as DETECTOR_INPUT, Detection, PoseDetector
from actionrec.features.pose.filter import OneEuroFilter
from actionrec.features.pose.image import FINE_BELOW, PoseImage, cap_long_side
from actionrec.features.pose.landmarks import LandmarkModel, LandmarkResult, Roi, roi_from_points

MIN_ROI_PX = 8.0  # a crop smaller than this holds no person: treat as lost
LARGER = 1.15  # a person this much larger than the tracked one, elsewhere, is the player
CHECKS_TO_SWITCH = 2  # player checks in a row that must see that larger person
# A zoomed square's detection is a small person only if its crop is at most this share of the square: the
# whole picture's search finds the larger ones. On 393 frames of a real park with nobody in it, the
# zoomed detections' crops were 1.2-5 times the square (4 false poses), those of a real person 7-30 % of
# the picture's height 0.1-0.4 times it.
ZOOMED_CROP = 0.5


def _type_expected(default, value) -> str | None:
    """What an option whose default is ``default`` takes, when ``value`` is not that; else None."""
    if isinstance(default, bool):
        return None if isinstance(value, bool) else "true or false"
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, int):
        return None if number and isinstance(value, int) else "a whole number"
    if isinstance(default, float):
        return None if number and math.isfinite(value) else "a number"
    return None


@dataclass(frozen=True)
class PoseOptions:
    models: str | Path | None = None  # folder with the two .tflite files; None: $ACTIONREC_POSE_MODELS, cache
    num_threads: int = 1  # per interpreter; the live loop runs MobileNet and the LSTM beside it
    # MediaPipe's legacy graph for these files: detector at 0.2, the landmark model's pose-present score
    # gates what it lets through. Measured: boxing clip 101 vs 80 of 108 frames with a pose and 19 vs 42
    # detector runs; a synthetic idle fighter scored 0.22-0.34 (missed at 0.5); false poses on 19
    # person-free pictures 1 at both.
    min_detection_score: float = 0.2
    nms_threshold: float = 0.3
    min_pose_score: float = 0.5  # pose-present score below this: the track is lost
    # Crop side / (2 * hip-to-body-point distance). MediaPipe Tasks uses 1.25, its legacy graph 1.5. Measured
    # here: on 1675 synthetic frames the median joint error was 3.2 % of body height at 1.25, 6.2 % at 1.5;
    # on the boxing clip 1.5 kept a "pose" in 105 of 108 frames but the crop grew over both boxers.
    roi_scale: float = 1.25
    refine_with_heatmap: bool = True
    redetect_on_loss: bool = True  # run the detector on the frame where tracking lost the pose
    # The player is the largest person in the picture (the one nearest the camera). Tracking alone never
    # looks again, so whoever the first frame's detector found was followed for good: on the real
    # calisthenics clip (three people) the side exerciser found at 0.2 on frame 0, never the larger one in
    # the centre. While tracking, the detector runs every ``player_check_s`` seconds (0: never), and the
    # track moves to a person 1.15 times its size elsewhere once two checks in a row have seen one, so a
    # passer-by does not take over in one frame.
    player_check_s: float = 1.0
    # The detector finds people down to about a quarter of the picture's height (it sees the whole picture
    # at 224x224): the calisthenics clip's centre exerciser placed in a 1280x720 picture was found in 376
    # of 393 frames at 30 % of its height and in none at 20 %. When the whole picture finds nobody, one
    # square of it per frame is searched too (its height, then half of it, overlapping, in turn): found in
    # 312-393 of 393 frames from 30 % down to 7 %, none at 5 %.
    zoom_search: bool = True
    smooth: bool = True  # one-euro filter on landmarks (and, heavier, on the crop's points)
    fps: float = 30.0  # time stamps for the filter when process() is given none
    min_cutoff: float = 0.1
    beta: float = 40.0
    d_cutoff: float = 1.0
    roi_min_cutoff: float = 0.01
    roi_beta: float = 1.0

    def __post_init__(self):
        for f in fields(self):  # e.g. a hand-edited model config.json: its value named, not a traceback later
            expected = _type_expected(f.default, getattr(self, f.name))
            if expected:
                raise ActionrecError(f"pose option {f.name}={getattr(self, f.name)!r}: expected {expected}")
        for name in ("min_detection_score", "nms_threshold", "min_pose_score"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ActionrecError(f"pose option {name}={getattr(self, name)}: expected a value in [0, 1]")
        if self.num_threads < 1:
            raise ActionrecError(f"pose option num_threads={self.num_threads}: expected >= 1")
        if self.roi_scale <= 0 or self.fps <= 0:
            raise ActionrecError("pose options roi_scale and fps: expected > 0")
        if not self.player_check_s >= 0:
            raise ActionrecError(f"pose option player_check_s={self.player_check_s}: expected seconds >= 0")


@dataclass(frozen=True)
class Pose:
    """One person's pose in one frame, in that frame's pixels (0 at the image's left/top edge)."""

    landmarks: np.ndarray  # (33, 5): x, y, z (px scale, smaller = nearer the camera), visibility, presence
    world: np.ndarray  # (33, 3) metres, origin between the hips (unfiltered)
    score: float  # pose-present score of the crop
    roi: Roi  # the crop these landmarks came from
    image_size: tuple[int, int]  # (width, height)
    detected: bool  # True when the crop came from the detector on this frame, False when tracked
    timestamp: float


@dataclass
class PoseCounts:
    frames: int = 0
    poses: int = 0
    detector_runs: int = 0
    landmark_runs: int = 0
    lost: int = 0  # tracked crops whose pose-present score fell below the threshold
    switched: int = 0  # tracks given up for a larger person elsewhere (``player_check_s``)
    zoomed: int = 0  # detector runs on a zoomed square of the picture (``zoom_search``), also in detector_runs

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class _Track:
    roi: Roi | None = None
    landmarks: OneEuroFilter = field(default_factory=OneEuroFilter)
    aux: OneEuroFilter = field(default_factory=OneEuroFilter)
    checked: float = -math.inf  # stream time of the last player check (or of finding this person)
    rivals: int = 0  # player checks in a row that saw a larger person elsewhere


class PoseEstimator:
    """``process(frame_bgr) -> Pose | None`` per frame of one stream, in order; ``clear()`` between streams."""

    def __init__(self, options: PoseOptions = PoseOptions()):
        self.options = o = options
        paths = find_pose_models(o.models)
        self.detector = PoseDetector(paths.detector, o.num_threads, o.min_detection_score, o.nms_threshold)
        self.landmarker = LandmarkModel(paths.landmarker, o.num_threads, o.refine_with_heatmap)
        self.counts = PoseCounts()
        self._track = self._new_track()
        self._index = 0
        self._square = 0  # the next zoomed square to search

    def _new_track(self) -> _Track:
        o = self.options
        return _Track(None, OneEuroFilter(o.min_cutoff, o.beta, o.d_cutoff),
                      OneEuroFilter(o.roi_min_cutoff, o.roi_beta, o.d_cutoff))

    def clear(self) -> None:
        """Start a new stream: forget the crop and the filters (counts are kept; reset them yourself)."""
        self._track = self._new_track()
        self._index = 0
        self._square = 0

    @property
    def tracking(self) -> bool:
        return self._track.roi is not None

    def process(self, frame_bgr: np.ndarray | PoseImage, timestamp: float | None = None) -> Pose | None:
        """The pose in this frame (BGR uint8, H x W x 3, or a ``PoseImage`` with finer pixels beside it), or
        None when no person is found. Coordinates are the frame's (a PoseImage's ``frame``).

        ``timestamp`` in seconds drives the filter; without one, frames are taken ``1 / fps`` apart.
        """
        image = frame_bgr if isinstance(frame_bgr, PoseImage) else PoseImage(frame_bgr)
        frame_bgr = image.frame
        if not (isinstance(frame_bgr, np.ndarray) and frame_bgr.dtype == np.uint8 and frame_bgr.ndim == 3
                and frame_bgr.shape[2] == 3 and min(frame_bgr.shape[:2]) > 0):
            got = getattr(frame_bgr, "shape", type(frame_bgr).__name__)
            raise ActionrecError(f"pose frame {got}: expected an H x W x 3 uint8 BGR image")
        t = float(timestamp) if timestamp is not None else self._index / self.options.fps
        self._index += 1
        self.counts.frames += 1
        result, detected = None, False
        if self._track.roi is not None:
            player = self._larger_person_elsewhere(image, t)
            if player is not None:  # follow them from this frame, with fresh filters
                self.counts.switched += 1
                self._track = self._new_track()
                self._track.roi, self._track.checked = player, t
        tracked = self._track.roi is not None
        if tracked:
            result = self._landmarks(image, self._track.roi)
            if result is None:
                self.counts.lost += 1
                self._track = self._new_track()  # a new person may be found: no smoothing across
        if result is None and (not tracked or self.options.redetect_on_loss):
            result, detected = self._detect(image), True
        if result is None:
            self._track = self._new_track()
            return None
        return self._accept(result, t, detected, frame_bgr.shape)

    def _landmarks(self, image: PoseImage, roi: Roi) -> LandmarkResult | None:
        if not roi.size >= MIN_ROI_PX:
            return None
        self.counts.landmark_runs += 1
        fine, k = image.fine() if roi.size < FINE_BELOW else (image.frame, 1.0)
        if k > 1.0:  # a small person: their crop from the finer pixels, the result in the frame's
            result = self.landmarker.run(fine, roi.scaled(k)).scaled(1.0 / k, roi)
        else:
            result = self.landmarker.run(image.frame, roi)
        return result if result.score >= self.options.min_pose_score else None

    def _detect(self, image: PoseImage) -> LandmarkResult | None:
        self.counts.detector_runs += 1
        found = self.detector.detect(image.frame)
        if not found and self.options.zoom_search:
            found = self._detect_zoomed(image)
        if not found:
            return None
        return self._landmarks(image, self._detection_crop(found[0]))  # best score first

    def _detect_zoomed(self, image: PoseImage) -> list[Detection]:
        """The detector on the next zoomed square of the picture, its detections in frame pixels. The square
        is cut from the finer pixels: cut from the capped frame and upscaled, it misplaced a person 25 px tall
        there (7 % of a 720-row source), whose poses were then about 2 torso lengths wrong."""
        squares = zoom_squares(image.frame.shape[1], image.frame.shape[0])
        x, y, side = squares[self._square % len(squares)]
        self._square += 1
        self.counts.detector_runs += 1
        self.counts.zoomed += 1
        fine, k = image.fine()
        x0, y0, n = round(x * k), round(y * k), round(side * k)
        square = cap_long_side(fine[y0:y0 + n, x0:x0 + n], 2 * DETECTOR_INPUT)  # no aliasing in the letterbox
        to_frame = n / square.shape[1] / k
        shift = np.array([x0, y0], np.float64) / k
        found = [Detection(d.box * to_frame + np.tile(shift, 2), d.keypoints * to_frame + shift, d.score)
                 for d in self.detector.detect(square)]
        return [d for d in found if self._detection_crop(d).size <= ZOOMED_CROP * side]

    def _detection_crop(self, detection) -> Roi:
        kp = detection.keypoints  # 0 mid-hip, 1 full-body size/rotation point
        return roi_from_points(kp[0], kp[1], self.options.roi_scale)

    def _landmark_crop(self, points: np.ndarray) -> Roi:
        """The crop for the next frame from this one's landmarks 33 (body centre) and 34 (size/rotation)."""
        return roi_from_points(points[33, :2], points[34, :2], self.options.roi_scale)

    def _larger_person_elsewhere(self, image: PoseImage, t: float) -> Roi | None:
        """At each player check: the crop of a person larger than the tracked one, elsewhere in the frame,
        once ``CHECKS_TO_SWITCH`` checks in a row have seen one; else None. Sizes are compared as the
        landmark model measures them (one more landmark run): the detector's boxes for the centre exerciser of
        the calisthenics clip ranged over 144-185 px between frames, more than the two people differ."""
        track, every = self._track, self.options.player_check_s
        if every <= 0 or t - track.checked < every - 1e-6:
            return None
        track.checked = t
        self.counts.detector_runs += 1
        roi = track.roi
        others = [c for c in map(self._detection_crop, self.detector.detect(image.frame))
                  if math.hypot(c.cx - roi.cx, c.cy - roi.cy) > 0.5 * roi.size]
        larger = None
        if others:
            result = self._landmarks(image, max(others, key=lambda c: c.size))
            if result is not None:
                seen = self._landmark_crop(result.points)
                larger = seen if seen.size > LARGER * roi.size else None
        track.rivals = track.rivals + 1 if larger is not None else 0
        return larger if track.rivals >= CHECKS_TO_SWITCH else None

    def _accept(self, result: LandmarkResult, t: float, detected: bool, shape: tuple[int, ...]) -> Pose:
        pts = result.points.copy()
        if self.options.smooth:
            # Speed in body sizes per second (MediaPipe: mean of the landmarks' bounding-box sides).
            span = pts[:33, :2].max(axis=0) - pts[:33, :2].min(axis=0)
            scale = max(float(span.mean()), 1.0)
            pts[:33, :3] = self._track.landmarks(t, pts[:33, :3], 1.0 / scale)
            pts[33:35, :3] = self._track.aux(t, pts[33:35, :3], 1.0 / scale)
        if self._track.roi is None:  # found now: the first player check is a period from here
            self._track.checked = t
        self._track.roi = self._landmark_crop(pts)
        self.counts.poses += 1
        return Pose(pts[:33], result.world, result.score, result.roi, (shape[1], shape[0]), detected, t)


def zoom_squares(width: int, height: int) -> list[tuple[int, int, int]]:
    """(x, y, side) of the squares a zoomed search looks at in turn: the picture's short side, then half of it,
    each row and column of them overlapping by at least a quarter, so a person at a seam is whole in one."""
    out = []
    for side in (min(width, height), min(width, height) // 2):
        if side < 1:
            continue
        spots = []
        for extent in (width, height):
            n = max(1, math.ceil((extent - side) / (0.75 * side)) + 1)
            spots.append([round(i * (extent - side) / (n - 1)) if n > 1 else 0 for i in range(n)])
        out += [(x, y, side) for y in spots[1] for x in spots[0]]
    return out

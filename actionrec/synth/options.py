"""What a synthetic dataset is made of: its classes, the renderer's options and the dataset's counts."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from actionrec import __version__
from actionrec.errors import ActionrecError
from actionrec.synth.camera import CameraRanges

CLASSES: tuple[str, ...] = (
    "other/idle", "other/walk", "punch/jab", "punch/cross", "kick/front", "kick/roundhouse", "kick/back",
)
MOVES: tuple[str, ...] = CLASSES[2:]
# Moves a dataset may add (``RenderOptions.extra_moves``): after the seven, so the others keep their streams.
EXTRA_MOVES: tuple[str, ...] = ("kick/side",)
# Stream tags that keep the per-person, per-clip and per-sparring random streams apart (class streams use
# the class index 0..6). Numpy treats trailing zeros of a seed list as absent, hence no tag 0 here.
_PERSON_STREAM, _SPARRING_STREAM = 1000, 2000


# --------------------------------------------------------------------------------------------- options


@dataclass(frozen=True)
class RenderOptions:
    """Knobs of the renderer that are not counts. All part of the cached config."""

    width: int = 320
    height: int = 180
    clip_seconds: tuple[float, float] = (2.0, 2.6)  # class clips; windows of 16 frames at 10 fps need >= 2 s
    fps: tuple[int, int] = (20, 30)  # source frame rate, drawn per video
    # True: each kick returns along the other kick's approach, making roundhouse and back kick time
    # reverses of each other (no single frame separates them). False: each returns the way it came.
    mirrored_kick_returns: bool = True
    figure_height: tuple[float, float] = (0.8, 0.92)  # standing fighter's height / frame height, drawn per video
    camera: CameraRanges = CameraRanges()  # where the camera stands, drawn per video (default: the side view)
    # People beyond the keyframed fighters, drawn per video (defaults: none). Real people move slower than
    # the synthetic fighters' snappy moves, often from a relaxed stance with the hands low, and skeletons
    # from other tools put the hips elsewhere (a Kinect's hip joints sit higher: its legs measure about 2.3
    # torso lengths where the figure's are 1.5).
    tempo_scale: tuple[float, float] = (1.0, 1.0)  # multiplies every move's durations
    relaxed: float = 0.0  # probability of a relaxed stance (hands low, square to the front) instead of a guard
    torso_scale: tuple[float, float] = (1.0, 1.0)  # the torso's length (pelvis to neck) times this
    extra_moves: tuple[str, ...] = ()  # from EXTRA_MOVES: kick/side (the side kick of self-defence classes)
    gestures: float = 0.0  # share of idle clips (half of it, of sparring pauses) with a stretch, wave or squat
    # Each punch's own timing, drawn per punch: its reach and return take ``punch_pace`` times as long, and the
    # fist stays out ``punch_hold`` seconds longer. The keyframed punches are a boxer's (out in 0.12 s, back
    # at once); the real people of PRECOG took 0.3-0.4 s from 20 % to 80 % of the reach, and often held it.
    punch_pace: tuple[float, float] = (1.0, 1.0)
    punch_hold: tuple[float, float] = (0.0, 0.0)
    # True: write each video's exact 2-D joints as a keypoint clip (.kp.npz) instead of its pixels: the pose
    # features of thousands of clips in seconds, for pose models (the starter model).
    keypoints: bool = False
    # Jitter of the keypoints, as a multiple of BlazePose's error on rendered frames (synth/keypoints.py); 0 = exact.
    # 0.3: that error is BlazePose's on cartoon figures, whose idea of a shoulder is not a person's; the starter
    # model scored on PRECOG's real people (coarse macro-F1, yaw 0 / 45) 0.543 / 0.548 exact, 0.576 / 0.572 at
    # 0.3 and 0.527 / - at the full error.
    keypoint_noise: float = 0.3

    def __post_init__(self) -> None:
        if self.width < 64 or self.height < 36:
            raise ActionrecError(f"synthetic video size must be at least 64x36, got {self.width}x{self.height}")
        lo, hi = self.clip_seconds
        if not 2.0 <= lo <= hi:
            raise ActionrecError(f"clip_seconds must satisfy 2.0 <= low <= high, got {self.clip_seconds}")
        if not 5 <= self.fps[0] <= self.fps[1]:
            raise ActionrecError(f"fps range must satisfy 5 <= low <= high, got {self.fps}")
        for name in ("tempo_scale", "torso_scale", "punch_pace"):
            lo, hi = getattr(self, name)
            if not 0.2 <= lo <= hi <= 5.0:
                raise ActionrecError(f"{name} {lo}..{hi}: expected 0.2 <= low <= high <= 5")
        unknown = [m for m in self.extra_moves if m not in EXTRA_MOVES]
        if unknown:
            raise ActionrecError(f"extra moves {unknown}: expected any of {', '.join(EXTRA_MOVES)}")
        for name in ("relaxed", "gestures"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ActionrecError(f"{name} {getattr(self, name)}: expected a probability 0..1")
        if not 0.0 <= self.punch_hold[0] <= self.punch_hold[1] <= 3.0:
            raise ActionrecError(f"punch_hold {self.punch_hold[0]}..{self.punch_hold[1]}: expected 0 <= low <= high <= 3 seconds")
        if not 0.0 <= self.keypoint_noise <= 10.0:
            raise ActionrecError(f"keypoint noise {self.keypoint_noise}: expected 0 (exact) .. 10")

    @property
    def classes(self) -> tuple[str, ...]:
        """This dataset's classes: the seven, then its extra moves."""
        return CLASSES + tuple(m for m in EXTRA_MOVES if m in self.extra_moves)

    @property
    def moves(self) -> tuple[str, ...]:
        return self.classes[2:]

    @property
    def extension(self) -> str:
        return ".kp.npz" if self.keypoints else ".mp4"


MAX_SPARRING_SECONDS = 3600.0  # an hour per video; 1e9 s grew to 900 MB before the first frame


@dataclass(frozen=True)
class SynthConfig:
    """Everything that determines the output folder's content."""

    seed: int = 0
    people: int = 6
    clips_per_class: int = 6
    sparring_per_person: int = 1
    sparring_seconds: float = 40.0
    options: RenderOptions = field(default_factory=RenderOptions)

    def __post_init__(self) -> None:
        if self.seed < 0:
            raise ActionrecError(f"seed must be >= 0, got {self.seed}")
        if self.people < 1 or self.people > 100:
            raise ActionrecError(f"people must be 1..100, got {self.people}")
        if self.clips_per_class < 1:
            raise ActionrecError(f"clips per class must be >= 1, got {self.clips_per_class}")
        if self.sparring_per_person < 0:
            raise ActionrecError(f"sparring videos per person must be >= 0, got {self.sparring_per_person}")
        if self.sparring_per_person and not 10.0 <= self.sparring_seconds <= MAX_SPARRING_SECONDS:  # nan too
            raise ActionrecError(f"--sparring-seconds {self.sparring_seconds}: expected 10 to {MAX_SPARRING_SECONDS:g} s "
                                 "(a video is planned and held whole)")

    def to_dict(self) -> dict:
        d = json.loads(json.dumps(asdict(self)))  # tuples as lists, as synth.json reads back
        # Options added later are left out at their defaults, so folders made before them stay valid.
        for name, default in _LATER_DEFAULTS.items():
            if d["options"][name] == default:
                del d["options"][name]
        return {"actionrec_version": __version__, **d}


_LATER_DEFAULTS = {"camera": json.loads(json.dumps(asdict(CameraRanges()))), "keypoints": False, "keypoint_noise": 0.3,
                   "tempo_scale": [1.0, 1.0], "relaxed": 0.0, "torso_scale": [1.0, 1.0], "extra_moves": [],
                   "gestures": 0.0, "punch_pace": [1.0, 1.0], "punch_hold": [0.0, 0.0]}


def webcam_options(**changes) -> RenderOptions:
    """The starter model's synthetic people: every camera of a player facing a laptop, slower and relaxed
    people as well as fighters, varied proportions, punches from a boxer's to a beginner's.

    Punches each 1-3 times as slow, held out up to 0.8 s longer: PRECOG zero-shot coarse macro-F1 (yaw 0 /
    45, seeds 0, 1, 2) 0.691 / 0.698, 0.692 / 0.705 and 0.692 / 0.704 against 0.662 / 0.678, 0.647 / 0.673
    and 0.682 / 0.691 with the boxer's punches alone; 1-2 and 0.5 s gave 0.676 / 0.699 and 0.681 / 0.692, 1-4 and 1.2 s 0.678 / 0.700
    and 0.685 / 0.696."""
    return RenderOptions(**{"camera": CameraRanges.webcam(), "tempo_scale": (0.9, 2.0), "relaxed": 0.4,
                            "torso_scale": (0.65, 1.05), "extra_moves": EXTRA_MOVES, "punch_pace": (1.0, 3.0),
                            "punch_hold": (0.0, 0.8), **changes})



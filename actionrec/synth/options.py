"""What a synthetic dataset is made of: its classes, the renderer's options and the dataset's counts."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from actionrec import __version__
from actionrec.errors import ActionrecError

CLASSES: tuple[str, ...] = (
    "other/idle", "other/walk", "punch/jab", "punch/cross", "kick/front", "kick/roundhouse", "kick/back",
)
MOVES: tuple[str, ...] = CLASSES[2:]
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

    def __post_init__(self) -> None:
        if self.width < 64 or self.height < 36:
            raise ActionrecError(f"synthetic video size must be at least 64x36, got {self.width}x{self.height}")
        lo, hi = self.clip_seconds
        if not 2.0 <= lo <= hi:
            raise ActionrecError(f"clip_seconds must satisfy 2.0 <= low <= high, got {self.clip_seconds}")
        if not 5 <= self.fps[0] <= self.fps[1]:
            raise ActionrecError(f"fps range must satisfy 5 <= low <= high, got {self.fps}")


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
        if self.sparring_per_person and self.sparring_seconds < 10.0:
            raise ActionrecError(f"sparring videos must last >= 10 s, got {self.sparring_seconds}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["options"] = {k: list(v) if isinstance(v, tuple) else v for k, v in d["options"].items()}
        return {"actionrec_version": __version__, **d}



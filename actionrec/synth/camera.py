"""Where the camera stands: the synthetic fighter seen from any side, height and distance, or mirrored.

The figure's world (``figure.py``): x towards the opponent, y up, z towards the classic side camera, which
sees x to the right. A ``CameraPose`` turns world points into
*camera-aligned* points, in the same convention the side camera had (x right in the image, y up, z towards
the camera), so the orthographic painter and ``View`` draw any viewpoint unchanged, and the exact joints
come out already seen from that camera.

``yaw`` is where the camera stands round the fighter, in degrees from the direction the fighter fights in:
0 is in front (the player facing the laptop, punches coming at the lens), 90 the side view of the game's
fighters (the opponent to the image's right), 180 behind. ``pitch`` tilts the camera down (a laptop on a
desk looks up: negative), about the fighter's chest. ``distance`` in metres adds perspective (0 = none:
orthographic, the old renderer): near parts look larger, as from a webcam 1.5-3 m away. ``mirror`` flips
the picture, which turns the orthodox fighter into a southpaw (left-handed stance) seen from the mirrored
side. Framing (full body or waist up) is the scene's choice of scale (``scene.py``), not the camera's.

The default pose is the old side camera exactly (yaw 90, no pitch, no perspective, no mirror): datasets
synthesized before cameras existed come out byte for byte the same.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from actionrec.errors import ActionrecError

CHEST_HEIGHT = 1.3  # m: the point the camera aims at and turns about (pitch)


@dataclass(frozen=True)
class CameraPose:
    yaw: float = 90.0
    pitch: float = 0.0
    distance: float = 0.0  # metres from the fighter's home spot; 0 = orthographic
    mirror: bool = False

    def __post_init__(self) -> None:
        if not all(math.isfinite(v) for v in (self.yaw, self.pitch, self.distance)):
            raise ActionrecError(f"camera {self}: expected finite angles and distance")
        if not -60.0 <= self.pitch <= 60.0:
            raise ActionrecError(f"camera pitch {self.pitch}: expected -60..60 degrees")
        if self.distance and self.distance < 1.0:
            raise ActionrecError(f"camera distance {self.distance} m: expected 0 (orthographic) or at least 1 m")

    @property
    def is_side_view(self) -> bool:
        """The old renderer's camera: nothing to transform."""
        return self == CameraPose()

    def _axes(self) -> np.ndarray:
        """(3, 3) rows: the image-right, up and towards-camera directions in world coordinates."""
        a, p = math.radians(self.yaw), math.radians(self.pitch)
        toward = np.array([math.cos(a), 0.0, math.sin(a)])  # from the fighter to the camera, level
        right = np.array([toward[2], 0.0, -toward[0]])  # up x toward
        up = np.array([0.0, 1.0, 0.0])
        # Pitching down turns the line of sight about the image-right axis: up tips away from the camera.
        up, toward = up * math.cos(p) - toward * math.sin(p), toward * math.cos(p) + up * math.sin(p)
        return np.stack([right * (-1.0 if self.mirror else 1.0), up, toward])

    def points(self, world: np.ndarray) -> np.ndarray:
        """(..., 3) world points -> camera-aligned points (x right, y up, z towards the camera), with the
        perspective of ``distance`` folded into x and y so an orthographic view of them is the pinhole's."""
        world = np.asarray(world, np.float64)
        if self.is_side_view:
            return world
        centre = np.array([0.0, CHEST_HEIGHT, 0.0])
        rel = (world - centre) @ self._axes().T
        if self.distance:
            # A pinhole at `distance` from the centre: x, y scale by distance / depth (1 at the centre's depth).
            depth = np.maximum(self.distance - rel[..., 2], 0.2)
            rel[..., :2] *= (self.distance / depth)[..., None]
        return rel + centre

    def directions(self, world: np.ndarray) -> np.ndarray:
        """(..., 3) world directions (the chest's) in camera-aligned axes (no perspective, no shift)."""
        world = np.asarray(world, np.float64)
        return world if self.is_side_view else world @ self._axes().T


@dataclass(frozen=True)
class CameraRanges:
    """What ``synth`` draws cameras from, per video. Each range is (low, high); equal ends fix the value.

    The defaults are the old side camera. ``webcam()`` is the starter model's: a player facing a laptop,
    give or take a turn to the side (the whole frontal half: yaw 0..90 on either side, through mirror).
    """

    yaw: tuple[float, float] = (90.0, 90.0)
    pitch: tuple[float, float] = (0.0, 0.0)
    distance: tuple[float, float] = (0.0, 0.0)
    mirror: float = 0.0  # probability of a mirrored (southpaw) video
    waist_up: float = 0.0  # probability of a waist-up framing instead of the full body

    def __post_init__(self) -> None:
        for name in ("yaw", "pitch", "distance"):
            lo, hi = getattr(self, name)
            if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
                raise ActionrecError(f"camera {name} range {lo}..{hi}: expected finite low <= high")
        for name in ("mirror", "waist_up"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ActionrecError(f"camera {name} {getattr(self, name)}: expected a probability 0..1")
        CameraPose(pitch=self.pitch[0], distance=self.distance[0])  # validates the ends
        CameraPose(pitch=self.pitch[1], distance=self.distance[1])

    @classmethod
    def webcam(cls) -> "CameraRanges":
        return cls(yaw=(0.0, 100.0), pitch=(-15.0, 20.0), distance=(1.8, 4.0), mirror=0.5, waist_up=0.25)

    @property
    def fixed(self) -> bool:
        return self == CameraRanges()

    def draw(self, rng: np.random.Generator) -> tuple[CameraPose, bool]:
        """A camera and whether the video is framed waist up. The default ranges draw nothing."""
        if self.fixed:
            return CameraPose(), False
        u = rng.uniform(size=5)
        pose = CameraPose(
            yaw=float(self.yaw[0] + u[0] * (self.yaw[1] - self.yaw[0])),
            pitch=float(self.pitch[0] + u[1] * (self.pitch[1] - self.pitch[0])),
            distance=float(self.distance[0] + u[2] * (self.distance[1] - self.distance[0])),
            mirror=bool(u[3] < self.mirror),
        )
        return pose, bool(u[4] < self.waist_up)


def parse_range(text: str, name: str) -> tuple[float, float]:
    """``"LO,HI"`` or ``"V"`` (a fixed value) -> (low, high)."""
    try:
        parts = [float(x) for x in text.split(",")]
    except ValueError:
        parts = []
    if len(parts) not in (1, 2):
        raise ActionrecError(f"--{name} {text!r}: expected LO,HI or one number")
    return (parts[0], parts[-1])


def camera_ranges(webcam: bool = False, **given) -> CameraRanges:
    """The side view, or the webcam preset, with any of yaw, pitch, distance ("LO,HI"), mirror, waist_up given."""
    base = CameraRanges.webcam() if webcam else CameraRanges()
    changes = {}
    for name, value in given.items():
        if value is None:
            continue
        changes[name] = parse_range(value, f"camera-{name}") if isinstance(value, str) else float(value)
    return replace(base, **changes)

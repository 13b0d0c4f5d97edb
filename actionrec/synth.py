"""Synthetic fighters: labelled videos of moves where the truth is known.

Each synthetic person (a *group*: its own body, clothes, tempo and style) performs keyframed moves in front
of a webcam: close enough that the standing fighter fills most of the frame height, in a room that is
dimmer and out of focus behind them. At the model's 100x56 pixels MobileNet must see the fighter, not the
room: a small figure in front of a busy, sharp backdrop made the moves unlearnable. Two kinds of output, in
the folder layout the dataset loader reads::

    OUT/<coarse>/<fine>/pNN_cMM.mp4   one move per clip (2-2.6 s), e.g. OUT/kick/back/p03_c02.mp4
    OUT/sparring/pNN_sMM.mp4          a long video of moves separated by idling and walking
    OUT/annotations.csv               video,start,end,label: segments tiling every sparring video
    OUT/groups.csv                    clip,group: the person in every video (for grouped folds)
    OUT/preview.png                   contact sheet: a row per class, key moments of a few people
    OUT/synth.json                    the config, written last: its presence means "complete"

The roundhouse and the back kick share their fully extended pose exactly; they differ only in how they
get there (the roundhouse chambers to the side and sweeps round, turning its back to the camera; the back
kick turns away with the knee drawn in, passing the chest past the camera, and drives straight back). By
default each kick returns to guard along the *other* kick's path, so the two are time reverses of each
other: every frame of one appears in the other and only the order tells them apart (the article's point).

Everything random derives from ``np.random.default_rng([seed, person, class, index])``, so a killed run
resumes to the same bytes a fresh run writes, and each clip is written atomically.
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from . import __version__
from .atomic import write_bytes, write_json, write_text
from .errors import ActionrecError
from .figure import (
    ANGLE_FIELDS, POSE_INDEX, Body, FighterPainter, Look, Pose, Skeletons, View, forward_kinematics,
)
from .video import write_video

CLASSES: tuple[str, ...] = (
    "other/idle", "other/walk", "punch/jab", "punch/cross", "kick/front", "kick/roundhouse", "kick/back",
)
MOVES: tuple[str, ...] = CLASSES[2:]
# Stream tags that keep the per-person, per-clip and per-sparring random streams apart (class streams use
# the class index 0..6). Numpy treats trailing zeros of a seed list as absent, hence no tag 0 here.
_PERSON_STREAM, _SPARRING_STREAM = 1000, 2000


# --------------------------------------------------------------------------------------------- options


@dataclass(frozen=True)
class SynthOptions:
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
    options: SynthOptions = field(default_factory=SynthOptions)

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


@dataclass(frozen=True)
class SynthSummary:
    out: Path
    clips: int  # class-folder clips
    sparring: int  # sparring videos
    rendered: int  # videos written by this call (0 when the folder was already complete)
    seconds: float  # wall time of this call
    class_counts: dict[str, int]
    groups_csv: Path
    annotations_csv: Path
    preview: Path
    config_json: Path


# --------------------------------------------------------------------------------------------- people


@dataclass(frozen=True)
class Person:
    """One synthetic person: a group of clips that must never be split between train and test."""

    index: int
    body: Body
    look: Look
    guard: Pose  # fighting stance every move starts from and returns to
    tempo: float  # multiplies every move's durations (> 1 is slower)
    amplitude: float  # scales how far every move's joint angles go from the guard
    kick_height: float  # degrees above (+) or below (-) horizontal at full kick extension
    bounce: float  # metres of the boxer's bounce while in guard
    bounce_hz: float
    step: float  # walking stride, metres
    step_seconds: float

    @property
    def pid(self) -> str:
        """The group name used in file names and groups.csv, e.g. "p03"."""
        return f"p{self.index:02d}"


_SKIN_TONES = np.array([
    (255, 224, 196), (241, 194, 125), (224, 172, 105), (198, 134, 66), (141, 85, 36), (92, 58, 30),
])
_HAIR = [(20, 16, 14), (60, 40, 25), (110, 75, 40), (200, 170, 110), (150, 60, 30), (150, 150, 150)]


def make_person(seed: int, index: int) -> Person:
    """Person ``index`` of a dataset: the same seed and index always give the same person."""
    rng = np.random.default_rng([seed, index, _PERSON_STREAM])
    body = Body.random(rng)
    guard = Pose(
        yaw=rng.uniform(20, 40), lean=rng.uniform(4, 12), twist=rng.uniform(-15, -5),
        lead_shoulder=rng.uniform(35, 55), lead_arm_out=rng.uniform(5, 15), lead_elbow=rng.uniform(110, 135),
        rear_shoulder=rng.uniform(20, 40), rear_arm_out=rng.uniform(10, 20), rear_elbow=rng.uniform(125, 145),
        lead_hip=rng.uniform(12, 22), lead_leg_out=rng.uniform(2, 8), lead_knee=rng.uniform(10, 22),
        rear_hip=-rng.uniform(12, 22), rear_leg_out=rng.uniform(2, 8), rear_knee=rng.uniform(10, 22),
        rear_ankle=rng.uniform(0, 15),
    )
    return Person(
        index=index, body=body, look=_random_look(rng), guard=guard,
        tempo=rng.uniform(0.8, 1.25), amplitude=rng.uniform(0.88, 1.08), kick_height=rng.uniform(-15, 8),
        bounce=rng.choice([0.0, rng.uniform(0.005, 0.03)]), bounce_hz=rng.uniform(1.4, 2.2),
        step=rng.uniform(0.35, 0.5), step_seconds=rng.uniform(0.42, 0.6),
    )


def _random_color(rng: np.random.Generator, sat: tuple[float, float],
                  val: tuple[float, float]) -> tuple[int, int, int]:
    """Any hue, saturation and brightness drawn from the given ranges (0..1)."""
    hsv = np.uint8([[[rng.integers(0, 180), rng.uniform(*sat) * 255, rng.uniform(*val) * 255]]])
    return tuple(int(c) for c in cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0])


def _random_look(rng: np.random.Generator) -> Look:
    k = rng.uniform(0, len(_SKIN_TONES) - 1)
    lo = int(k)
    skin = _SKIN_TONES[lo] + (k - lo) * (_SKIN_TONES[min(lo + 1, len(_SKIN_TONES) - 1)] - _SKIN_TONES[lo])
    shirt = _random_color(rng, (0.1, 0.9), (0.25, 0.95))
    # The chest stripe contrasts with the shirt so the side facing the camera is readable.
    front = (235, 235, 230) if sum(shirt) < 400 else (25, 25, 30)
    gloves = [(200, 30, 30), (30, 60, 190), (20, 20, 20), (230, 230, 230), _random_color(rng, (0.5, 1), (0.4, 1))]
    return Look(
        skin=tuple(int(c) for c in skin), hair=_HAIR[rng.integers(len(_HAIR))], shirt=shirt, shirt_front=front,
        pants=_random_color(rng, (0.0, 0.6), (0.1, 0.6)), gloves=gloves[rng.integers(len(gloves))],
        shoes=None if rng.random() < 0.5 else _random_color(rng, (0.0, 0.5), (0.1, 0.9)),
        long_sleeves=bool(rng.random() < 0.3), shorts=bool(rng.random() < 0.4),
    )


# --------------------------------------------------------------------------------------------- moves


@dataclass(frozen=True)
class Key:
    """A keyframe: reach ``pose`` ``dt`` seconds after the previous key, with this easing."""

    dt: float
    pose: Pose
    ease: str = "inout"  # inout | in | out | linear


_REVERSED_EASE = {"in": "out", "out": "in", "inout": "inout", "linear": "linear"}


def _reverse(start: Pose, path: list[Key], yaw_shift: float) -> list[Key]:
    """The keys that play ``start -> path`` backwards, turned by ``yaw_shift`` degrees (whole turns)."""
    poses = [start] + [k.pose for k in path]
    return [
        Key(path[i].dt, replace(poses[i], yaw=poses[i].yaw + yaw_shift), _REVERSED_EASE[path[i].ease])
        for i in range(len(path) - 1, -1, -1)
    ]


def _aim(pose: Pose) -> float:
    """How far a straight arm must swing out (to the fighter's left) from the chest's forward direction
    to point at the opponent: the chest faces ``yaw - twist`` degrees off the opponent."""
    return pose.yaw - pose.twist


def jab(p: Person) -> list[Key]:
    """Lead hand straight out with a small turn of the shoulders, and back."""
    g = p.guard
    out = replace(g, yaw=g.yaw - 8, twist=g.twist - 18, lean=g.lean + 6,
                  lead_shoulder=88, lead_elbow=3, rear_elbow=g.rear_elbow + 5)
    out = replace(out, lead_arm_out=_aim(out))
    return [Key(0.12, out, "out"), Key(0.1, out, "linear"), Key(0.2, g)]


def cross(p: Person) -> list[Key]:
    """Rear hand, driven by turning the hips and shoulders and lifting the rear heel."""
    g = p.guard
    out = replace(g, yaw=g.yaw - 45, twist=g.twist + 35, lean=g.lean + 14,
                  rear_shoulder=88, rear_elbow=3, rear_knee=g.rear_knee + 20, rear_ankle=45,
                  lead_shoulder=35, lead_elbow=140)
    out = replace(out, rear_arm_out=-_aim(out))
    return [Key(0.16, out, "out"), Key(0.08, out, "linear"), Key(0.26, g)]


def front_kick(p: Person) -> list[Key]:
    """Rear knee up in front, snap the foot forward, re-chamber, step back down."""
    g = p.guard
    chamber = replace(g, yaw=g.yaw - 15, lean=g.lean - 6, rear_hip=80, rear_leg_out=4, rear_knee=115,
                      rear_ankle=25, lead_hip=5, lead_knee=g.lead_knee + 6, lead_elbow=g.lead_elbow + 10)
    extended = replace(chamber, lean=-12, rear_hip=84 + p.kick_height / 2, rear_knee=4, rear_ankle=35)
    return [Key(0.22, chamber), Key(0.12, extended, "out"), Key(0.1, extended, "linear"),
            Key(0.14, chamber), Key(0.22, g)]


def kick_extension(p: Person) -> Pose:
    """The fully extended pose both the roundhouse and the back kick reach: back to the opponent, torso
    leaning away, rear leg horizontal towards the opponent. One frame of it cannot tell the kicks apart."""
    g = p.guard
    return replace(g, yaw=180.0, lean=35, twist=0, lift=0.0, rear_hip=-(90 + p.kick_height), rear_leg_out=0,
                   rear_knee=4, rear_ankle=15, lead_hip=6, lead_leg_out=0, lead_knee=12, lead_ankle=0)


def _side_path(p: Person) -> list[Key]:
    """Roundhouse approach: pivot away from the camera with the knee chambered out to the side and
    pointing at the opponent, then the hips turn over while the shin sweeps round horizontally."""
    g = p.guard
    chamber = replace(g, yaw=g.yaw - 90, lean=g.lean + 5, twist=0, lift=0.02, rear_hip=50, rear_leg_out=80,
                      rear_knee=115, rear_ankle=30, lead_hip=4, lead_knee=g.lead_knee + 4)
    ext = kick_extension(p)
    sweep = replace(ext, yaw=g.yaw - 150, lean=25, rear_hip=-40, rear_leg_out=85, rear_knee=50, rear_ankle=30)
    return [Key(0.22, chamber), Key(0.1, sweep, "linear"), Key(0.1, replace(ext, yaw=ext.yaw - 360), "out")]


def _tuck_path(p: Person) -> list[Key]:
    """Back-kick approach: turn the other way (chest past the camera) with the knee drawn in, then drive
    the foot straight back from the hip."""
    g = p.guard
    tuck = replace(g, yaw=150, lean=25, twist=0, lift=0.02, rear_hip=105, rear_leg_out=0, rear_knee=140,
                   rear_ankle=0, lead_hip=8, lead_knee=g.lead_knee + 8)
    cocked = replace(tuck, yaw=170, lean=32, rear_hip=25, rear_knee=135)
    return [Key(0.22, tuck), Key(0.1, cocked, "linear"), Key(0.12, kick_extension(p), "out")]


def roundhouse(p: Person, mirrored_return: bool = True) -> list[Key]:
    side = _side_path(p)
    hold = Key(0.1, side[-1].pose, "linear")
    back = _reverse(p.guard, _tuck_path(p), -360) if mirrored_return else _reverse(p.guard, side, 0)
    return side + [hold] + back


def back_kick(p: Person, mirrored_return: bool = True) -> list[Key]:
    tuck = _tuck_path(p)
    hold = Key(0.1, tuck[-1].pose, "linear")
    back = _reverse(p.guard, _side_path(p), 360) if mirrored_return else _reverse(p.guard, tuck, 0)
    return tuck + [hold] + back


def walk(p: Person, steps: int, forward: bool, swing_arms: bool) -> list[Key]:
    """An even number of alternating steps (so the stance ends as it began), forward or backward.

    The stance foot stays put: the root moves by the leg's swing, half a stride per key.
    """
    g = p.guard
    leg = p.body.thigh + p.body.shin
    theta = math.degrees(math.asin(p.step / 2 / leg))
    half = p.step / 2
    arms = {} if not swing_arms else dict(lead_shoulder=5, lead_arm_out=8, lead_elbow=25, rear_shoulder=5,
                                          rear_arm_out=8, rear_elbow=25)
    base = replace(g, yaw=g.yaw * (0.5 if swing_arms else 1.0), lean=3 if swing_arms else g.lean, **arms)

    def contact(lead_front: bool, x: float) -> Pose:
        s = theta if lead_front else -theta
        swing = 15 if swing_arms else 0
        return replace(base, x=x, lead_hip=s, rear_hip=-s, lead_knee=6, rear_knee=6, rear_ankle=0,
                       lead_shoulder=base.lead_shoulder - (swing if lead_front else -swing),
                       rear_shoulder=base.rear_shoulder + (swing if lead_front else -swing))

    def passing(lead_swings: bool, x: float) -> Pose:
        lifted = dict(lead_hip=10, lead_knee=45) if lead_swings else dict(rear_hip=10, rear_knee=45)
        planted = dict(rear_hip=-2, rear_knee=6) if lead_swings else dict(lead_hip=-2, lead_knee=6)
        return replace(base, x=x, rear_ankle=0, **lifted, **planted)

    # Forward gait from "lead foot in front": the rear leg swings through first.
    gait = [contact(True, 0.0)]
    for i in range(steps):
        x = i * p.step
        gait += [passing(lead_swings=i % 2 == 1, x=x + half), contact(lead_front=i % 2 == 1, x=x + p.step)]
    if not forward:  # walking backward is the forward gait played in reverse
        gait = [replace(q, x=q.x - gait[-1].x) for q in reversed(gait)]
    dt = p.step_seconds / 2
    return [Key(0.2, gait[0])] + [Key(dt, q, "linear") for q in gait[1:]] + [Key(0.25, g)]


def idle(p: Person, seconds: float, rng: np.random.Generator) -> list[Key]:
    """Guard held for ``seconds`` with a few small fidgets (weight shift, guard adjust), back in guard."""
    g = p.guard
    n = int(rng.integers(0, 1 + int(seconds / 1.2)))
    times = np.sort(rng.uniform(0.2, max(0.3, seconds - 0.3), n))
    keys, t = [], 0.0
    for ti in times:
        shift = replace(g, lean=g.lean + rng.uniform(-3, 3), twist=g.twist + rng.uniform(-5, 5),
                        lead_elbow=g.lead_elbow + rng.uniform(-10, 10),
                        rear_elbow=g.rear_elbow + rng.uniform(-10, 10),
                        lead_knee=g.lead_knee + rng.uniform(-4, 4), rear_knee=g.rear_knee + rng.uniform(-4, 4))
        keys.append(Key(ti - t, shift))
        t = ti
    keys.append(Key(seconds - t, g))
    return keys


def move_keys(label: str, p: Person, options: SynthOptions) -> list[Key]:
    """Keyframes of one move (a label from MOVES), starting and ending in guard."""
    if label == "punch/jab":
        return jab(p)
    if label == "punch/cross":
        return cross(p)
    if label == "kick/front":
        return front_kick(p)
    if label == "kick/roundhouse":
        return roundhouse(p, options.mirrored_kick_returns)
    if label == "kick/back":
        return back_kick(p, options.mirrored_kick_returns)
    raise ActionrecError(f"{label}: not a synthetic move; expected one of {', '.join(MOVES)}")


def _styled(keys: list[Key], p: Person, tempo: float, amplitude: float) -> list[Key]:
    """Apply a person's (and clip's) speed and amplitude: durations scale, angles move less or more."""
    g = p.guard.vector()
    angles = [POSE_INDEX[n] for n in ANGLE_FIELDS]
    out = []
    for k in keys:
        v = k.pose.vector()
        v[angles] = g[angles] + amplitude * (v[angles] - g[angles])
        out.append(Key(k.dt * tempo, Pose.from_vector(v), k.ease))
    return out


# --------------------------------------------------------------------------------------------- timeline


@dataclass(frozen=True)
class Segment:
    label: str
    start: float
    end: float


@dataclass
class Timeline:
    """Keyframed poses of a whole video and the labelled segments they form.

    Segments are appended in order; each starts where the previous ended. A segment's keys are written
    relative to the guard standing at x = 0 facing the opponent; the timeline carries on from wherever the
    previous segment left the fighter (walked along, or turned round a whole turn by a spinning kick).
    """

    guard: Pose
    times: list[float] = field(init=False)  # key times, seconds; key 0 is the guard at t = 0
    poses: list[np.ndarray] = field(init=False)  # pose vectors of the keys
    eases: list[str] = field(init=False)  # easing of the interval that ends at each key
    segments: list[Segment] = field(init=False)

    def __post_init__(self) -> None:
        self.times, self.poses, self.eases, self.segments = [0.0], [self.guard.vector()], ["linear"], []

    @property
    def end(self) -> float:
        return self.times[-1]

    def add(self, label: str, keys: list[Key]) -> None:
        """Append a labelled segment made of ``keys`` (which start and end in guard)."""
        start = self.end
        carry = np.zeros(len(POSE_INDEX))
        for name in ("x", "yaw"):
            i = POSE_INDEX[name]
            carry[i] = self.poses[-1][i] - self.guard.vector()[i]
        for k in keys:
            self.times.append(self.end + k.dt)
            self.poses.append(k.pose.vector() + carry)
            self.eases.append(k.ease)
        if self.segments and self.segments[-1].label == label == "other/idle":
            start = self.segments.pop().start  # idle after idle is one segment
        self.segments.append(Segment(label, start, self.end))

    def poses_at(self, t: np.ndarray) -> np.ndarray:
        """(N, len(POSE_FIELDS)) poses at times t, eased between keys; held after the last key."""
        times = np.asarray(self.times)
        values = np.stack(self.poses)
        i = np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(times) - 2)
        w = np.clip((t - times[i]) / np.maximum(times[i + 1] - times[i], 1e-9), 0.0, 1.0)
        eases = np.asarray(self.eases)[i + 1]
        w = np.select(
            [eases == "inout", eases == "in", eases == "out"],
            [w * w * (3 - 2 * w), w * w, 1 - (1 - w) ** 2],
            w,
        )
        return values[i] + w[:, None] * (values[i + 1] - values[i])


def _performance(p: Person, timeline: Timeline, life_phase: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Pose vectors at times t: the keyframed timeline plus the person's never-quite-still motion."""
    return timeline.poses_at(t) + _alive(p, t, life_phase)


def _alive(p: Person, t: np.ndarray, phase: np.ndarray) -> np.ndarray:
    """Small continuous motion added to every pose: bounce, breathing, hands that never stay still."""
    d = np.zeros((len(t), len(POSE_INDEX)))
    d[:, POSE_INDEX["lift"]] = p.bounce * (0.5 - 0.5 * np.cos(2 * math.pi * p.bounce_hz * t + phase[0]))
    d[:, POSE_INDEX["lean"]] = 1.5 * np.sin(2 * math.pi * 0.25 * t + phase[1])
    d[:, POSE_INDEX["x"]] = 0.015 * np.sin(2 * math.pi * 0.2 * t + phase[2])
    d[:, POSE_INDEX["lead_elbow"]] = 4 * np.sin(2 * math.pi * 0.4 * t + phase[3])
    d[:, POSE_INDEX["rear_elbow"]] = 4 * np.sin(2 * math.pi * 0.33 * t + phase[4])
    return d


# --------------------------------------------------------------------------------------------- scenes


@dataclass(frozen=True)
class Scene:
    """Everything about a video that is not the fighter: backdrop, camera and image degradations."""

    width: int
    height: int
    background_seed: int
    horizon: float  # image row of the wall/floor edge before the roll
    view: View
    pad: int  # backdrop pixels beyond each side of the frame, room for the shake
    shake: float  # handheld camera wobble, pixels
    shake_phase: tuple[float, float, float, float]
    blur: float  # Gaussian sigma, pixels (0 = sharp)
    noise: float  # sensor noise sigma, grey levels
    gain: tuple[float, float, float]  # per-channel gain: brightness and white balance
    bias: float
    gamma: float
    defocus: float  # Gaussian sigma of the out-of-focus room, pixels
    backdrop_light: float  # the room's brightness relative to the player
    backdrop_contrast: float


def _random_scene(rng: np.random.Generator, opts: SynthOptions, skel: Skeletons, body_height: float) -> Scene:
    """A fixed webcam close to the player: the standing fighter fills most of the frame height, the whole
    performance (every joint over the clip) stays inside the frame, near the middle give or take a little.

    The camera always sees the fighter's left side (the opponent to the right, as in the game), so the
    image is never mirrored: a mirrored fighter would be a second look of every move to learn.
    """
    w, h = opts.width, opts.height
    reach = 0.12  # limb radius and hands/feet beyond the joint centres
    xmin, xmax = skel.points[..., 0].min() - reach, skel.points[..., 0].max() + reach
    top = skel.points[..., 1].max() + reach + 0.05
    ground = h * rng.uniform(0.9, 0.98)
    scale = h * rng.uniform(*opts.figure_height) / body_height
    scale = min(scale, (w - 12) / (xmax - xmin), (ground - 3) / top)
    lo, hi = 6 - scale * xmin, w - 6 - scale * xmax  # origins that keep [xmin, xmax] inside the frame
    centred = w * (0.5 + rng.uniform(-0.06, 0.06)) - scale * (xmin + xmax) / 2
    origin = (float(np.clip(centred, lo, hi)) if hi > lo else (lo + hi) / 2, ground)
    light_angle = rng.uniform(-0.6, 0.6)
    view = View(scale=scale, origin=origin, roll=rng.uniform(-2.0, 2.0),
                light=(math.sin(light_angle), -math.cos(light_angle)))
    shake = float(rng.choice([0.0, rng.uniform(0.3, 1.2)]))
    return Scene(
        width=w, height=h, background_seed=int(rng.integers(2**31)),
        horizon=ground - rng.uniform(8, 0.45 * ground), view=view, pad=math.ceil(1.5 * shake) + 1,
        shake=shake, shake_phase=tuple(rng.uniform(0, 2 * math.pi, 4)),
        blur=float(rng.choice([0.0, rng.uniform(0.3, 0.7)])), noise=rng.uniform(0, 3),
        gain=tuple(rng.uniform(0.94, 1.06, 3) * rng.uniform(0.85, 1.12)), bias=rng.uniform(-10, 10),
        gamma=rng.uniform(0.85, 1.2), defocus=h * rng.uniform(0.015, 0.03),
        backdrop_light=rng.uniform(0.55, 0.9), backdrop_contrast=rng.uniform(0.25, 0.5),
    )


def _background(scene: Scene) -> np.ndarray:
    """The room behind the player: wall and floor in soft gradients, faint texture, furniture and uneven
    light, dimmer and flatter than the player and out of focus (a webcam focuses on the near player, who
    sits in the screen's light). Rolled like the camera."""
    rng = np.random.default_rng(scene.background_seed)
    pad = scene.pad
    w, h = scene.width + 2 * pad, scene.height + 2 * pad
    horizon = int(scene.horizon) + pad
    wall = np.array(_random_color(rng, (0.0, 0.4), (0.35, 0.9)), np.float32)
    floor = np.array(_random_color(rng, (0.0, 0.5), (0.2, 0.7)), np.float32)
    img = np.zeros((h, w, 3), np.float32)
    img[:horizon] = _gradient(rng, wall, horizon, w)
    img[horizon:] = _gradient(rng, floor, h - horizon, w)
    _texture(img, rng, horizon)
    for _ in range(int(rng.integers(2, 7)) * w // scene.width):
        _furniture(img, rng, horizon, wall, scene.view.scale)
    # Uneven light: a coarse grid of random values smoothly enlarged.
    grid = rng.normal(0, rng.uniform(2, 8), (int(rng.integers(3, 7)), int(rng.integers(4, 10)), 3))
    img += cv2.resize(grid.astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    mean = img.reshape(-1, 3).mean(axis=0)
    img = (mean + scene.backdrop_contrast * (img - mean)) * scene.backdrop_light
    img = cv2.GaussianBlur(img, (0, 0), scene.defocus)
    img = np.clip(img, 0, 255).astype(np.uint8)
    ox, oy = scene.view.origin
    rot = cv2.getRotationMatrix2D((ox + pad, oy + pad), -scene.view.roll, 1.0)
    return cv2.warpAffine(img, rot, (w, h), borderMode=cv2.BORDER_REFLECT)


def _gradient(rng: np.random.Generator, color: np.ndarray, h: int, w: int) -> np.ndarray:
    """A vertical ramp from ``color`` to a nearby shade: painted walls, mats, floors."""
    other = color * rng.uniform(0.75, 1.2) + rng.uniform(-12, 12, 3)
    ramp = np.linspace(0, 1, max(h, 1), dtype=np.float32)[:, None, None]
    return np.broadcast_to(color + ramp * (other - color), (h, w, 3)).astype(np.float32)


def _texture(img: np.ndarray, rng: np.random.Generator, horizon: int) -> None:
    """Faint regular structure on the wall (stripes, bricks, tiles) and the floor (boards)."""
    h, w = img.shape[:2]
    kind = rng.choice(["none", "stripes", "bricks", "tiles"])
    ink = rng.uniform(-15, 15)
    step = int(rng.integers(12, 40))
    if kind == "stripes":
        if rng.random() < 0.5:
            img[:horizon, ::step] += ink
        else:
            img[:horizon:step] += ink
    elif kind in ("bricks", "tiles"):
        for row, y in enumerate(range(0, horizon, step)):
            img[y, :] += ink
            shift = step // 2 if kind == "bricks" and row % 2 else 0
            img[y:y + step, shift::step * (2 if kind == "bricks" else 1)] += ink
    # Floor boards: lines that get further apart towards the camera.
    if rng.random() < 0.6:
        y, gap = float(horizon), rng.uniform(3, 6)
        while y < h:
            img[int(y)] += rng.uniform(-12, 12)
            y += gap
            gap *= 1.35


def _furniture(img: np.ndarray, rng: np.random.Generator, horizon: int, wall: np.ndarray, scale: float) -> None:
    """One thing in the room, sized in metres (``scale`` pixels per metre at the player's distance;
    the room is further away, hence smaller): a door, window, picture, shelf, cabinet or lamp."""
    h, w = img.shape[:2]
    m = scale * rng.uniform(0.5, 0.8)
    # Tinted towards the wall: things in a room contrast with it, but moderately.
    color = wall + rng.uniform(0.3, 0.7) * (np.array(_random_color(rng, (0.0, 0.7), (0.1, 1.0))) - wall)
    c = tuple(float(v) for v in color)
    x = int(rng.integers(-int(0.3 * m), w))
    kind = rng.choice(["door", "window", "picture", "shelf", "cabinet", "lamp"])
    if kind == "door":
        top = int(horizon - 2.0 * m)
        cv2.rectangle(img, (x, top), (x + int(0.85 * m), horizon), c, -1)
        cv2.circle(img, (x + int(0.75 * m), int(horizon - m)), max(1, int(0.03 * m)), tuple(v * 0.6 for v in c), -1)
    elif kind == "window":
        y = int(horizon - rng.uniform(1.2, 2.0) * m)
        ww, wh = int(rng.uniform(0.6, 1.4) * m), int(rng.uniform(0.6, 1.0) * m)
        sky = tuple(float(v) for v in wall + 0.6 * (np.array([225.0, 230, 235]) - wall))
        cv2.rectangle(img, (x, y), (x + ww, y + wh), sky, -1)
        cv2.rectangle(img, (x, y), (x + ww, y + wh), c, max(1, int(0.05 * m)))
        cv2.line(img, (x + ww // 2, y), (x + ww // 2, y + wh), c, max(1, int(0.04 * m)))
    elif kind == "picture":
        y = int(horizon - rng.uniform(1.3, 1.9) * m)
        cv2.rectangle(img, (x, y), (x + int(rng.uniform(0.3, 0.8) * m), y + int(rng.uniform(0.3, 0.6) * m)), c, -1)
    elif kind == "shelf":
        y = int(horizon - rng.uniform(1.0, 1.6) * m)
        length = int(rng.uniform(0.6, 1.5) * m)
        cv2.rectangle(img, (x, y), (x + length, y + max(1, int(0.04 * m))), c, -1)
        for bx in np.sort(rng.uniform(x, x + length, int(rng.integers(1, 5)))):
            bw, bh = rng.uniform(0.05, 0.2) * m, rng.uniform(0.1, 0.3) * m
            tone = tuple(float(v) for v in color * rng.uniform(0.7, 1.3))
            cv2.rectangle(img, (int(bx), int(y - bh)), (int(bx + bw), y), tone, -1)
    elif kind == "cabinet":
        height = rng.uniform(0.4, 1.0) * m
        cv2.rectangle(img, (x, int(horizon - height)), (x + int(rng.uniform(0.5, 1.5) * m), horizon + 1), c, -1)
    else:
        stem = int(horizon - rng.uniform(1.2, 1.6) * m)
        cv2.line(img, (x, horizon), (x, stem), c, max(1, int(0.02 * m)))
        cv2.circle(img, (x, stem), max(2, int(0.15 * m)), tuple(float(v) for v in wall + 0.5 * (255 - wall)), -1)


class _Camera:
    """Turns a drawn frame into what a cheap camera would record: shake, blur, exposure, colour, noise.

    Exposure and colour balance are a lookup table applied once to the backdrop and to the fighter's
    clothes and skin (not per frame): the same picture for a fraction of the cost.
    """

    def __init__(self, scene: Scene):
        self.scene = scene
        gain = np.asarray(scene.gain)[None, :]
        levels = (np.arange(256, dtype=np.float32)[:, None] / 255.0) ** scene.gamma * 255.0
        self.lut = np.clip(levels * gain + scene.bias, 0, 255).astype(np.uint8).reshape(256, 1, 3)
        self.background = cv2.LUT(_background(scene), self.lut)
        rng = np.random.default_rng(scene.background_seed + 1)
        # Two noise frames used in turn: fresh noise per frame costs more than drawing the fighter.
        noise = rng.standard_normal((2, scene.height, scene.width, 3), dtype=np.float32) * scene.noise
        self.noise_up = np.clip(noise, 0, 255).astype(np.uint8)
        self.noise_down = np.clip(-noise, 0, 255).astype(np.uint8)

    def graded(self, look: Look) -> Look:
        """The look as this camera records it."""
        def grade(rgb: tuple[int, int, int] | None) -> tuple[int, int, int] | None:
            return None if rgb is None else tuple(int(self.lut[c, 0, i]) for i, c in enumerate(rgb))

        return replace(look, skin=grade(look.skin), hair=grade(look.hair), shirt=grade(look.shirt),
                       shirt_front=grade(look.shirt_front), pants=grade(look.pants), gloves=grade(look.gloves),
                       shoes=grade(look.shoes))

    def shifts(self, t: np.ndarray) -> np.ndarray:
        """(N, 2) whole-pixel image offsets at times t: the camera's wobble (a laptop on a desk, a table
        someone bumps)."""
        sc = self.scene
        s, ph = sc.shake, sc.shake_phase
        w = 2 * math.pi * t
        dx = s * (np.sin(1.3 * w + ph[0]) + 0.5 * np.sin(3.1 * w + ph[1]))
        dy = s * (np.sin(0.9 * w + ph[2]) + 0.5 * np.sin(2.3 * w + ph[3]))
        return np.round(np.stack([dx, dy], axis=1))

    def frame(self, shift: np.ndarray, k: int, draw: Callable[[np.ndarray], None]) -> np.ndarray:
        """Crop the backdrop for this shift, let ``draw(img)`` paint the fighter, then degrade frame k."""
        sc = self.scene
        # The camera moving right moves the scene left: crop further right.
        x0 = int(np.clip(sc.pad - shift[0], 0, 2 * sc.pad))
        y0 = int(np.clip(sc.pad - shift[1], 0, 2 * sc.pad))
        img = self.background[y0:y0 + sc.height, x0:x0 + sc.width].copy()
        draw(img)
        if sc.blur > 0:
            img = cv2.GaussianBlur(img, (0, 0), sc.blur)
        i = k % len(self.noise_up)
        return cv2.subtract(cv2.add(img, self.noise_up[i]), self.noise_down[i])


# --------------------------------------------------------------------------------------------- clips


@dataclass(frozen=True)
class ClipPlan:
    """Everything needed to render one video, decided before drawing a pixel (cheap to recompute)."""

    path: str  # relative to OUT, forward slashes
    label: str  # a class label, or "sparring"
    person: Person
    fps: float
    frames: int
    timeline: Timeline
    life_phase: np.ndarray
    scene: Scene

    @property
    def duration(self) -> float:
        return self.frames / self.fps

    @property
    def times(self) -> np.ndarray:
        return np.arange(self.frames) / self.fps

    def skeletons(self, t: np.ndarray | None = None) -> Skeletons:
        """Joint positions at times t (default: every frame of the video)."""
        t = self.times if t is None else np.asarray(t, dtype=np.float64)
        return forward_kinematics(self.person.body, _performance(self.person, self.timeline, self.life_phase, t))

    def segments(self) -> list[Segment]:
        """Labelled segments tiling [0, duration]."""
        segs = [s for s in self.timeline.segments if s.start < self.duration - 1e-9]
        segs[-1] = replace(segs[-1], end=self.duration)
        return segs


def _finish_plan(path: str, label: str, person: Person, fps: int, frames: int, timeline: Timeline,
                 rng: np.random.Generator, opts: SynthOptions) -> ClipPlan:
    """Pad the timeline with guard to the video's end and choose a camera that frames all of it."""
    if timeline.end < frames / fps:
        timeline.add("other/idle", idle(person, frames / fps - timeline.end + 1e-6, rng))
    life_phase = rng.uniform(0, 2 * math.pi, 5)
    skel = forward_kinematics(person.body, _performance(person, timeline, life_phase, np.arange(frames) / fps))
    b = person.body
    height = b.torso + b.neck + 2 * b.head_r + b.thigh + b.shin
    return ClipPlan(path, label, person, float(fps), frames, timeline, life_phase,
                    _random_scene(rng, opts, skel, height))


def plan_class_clip(seed: int, person: Person, class_idx: int, index: int, opts: SynthOptions) -> ClipPlan:
    """Clip ``index`` of class ``CLASSES[class_idx]`` for ``person``: 2-2.6 s, the move starting by 0.3 s and
    repeated to the end."""
    label = CLASSES[class_idx]
    rng = np.random.default_rng([seed, person.index, class_idx, index])
    fps = int(rng.integers(opts.fps[0], opts.fps[1] + 1))
    frames = math.ceil(rng.uniform(*opts.clip_seconds) * fps)
    seconds = frames / fps
    tempo, amplitude = person.tempo * rng.uniform(0.9, 1.1), person.amplitude * rng.uniform(0.95, 1.05)
    tl = Timeline(person.guard)
    if label == "other/idle":
        tl.add(label, idle(person, seconds, rng))
    elif label == "other/walk":
        # Stepping in and out, as a player in front of a webcam does, until the clip is full.
        tl.add("other/idle", idle(person, rng.uniform(0.1, 0.3), rng))
        forward, swing_arms = bool(rng.random() < 0.5), bool(rng.random() < 0.5)
        while tl.end < seconds:
            tl.add(label, _styled(walk(person, 2, forward, swing_arms), person, tempo, 1.0))
            forward = not forward
    else:
        # A short lead-in, then the move again and again with brief pauses: every 16-frame window
        # (1.6 s at 10 fps) of the clip holds most of a move, not guard. Jabs, the smallest move, come in
        # quicker succession.
        longest_pause = 0.2 if label == "punch/jab" else 0.35
        tl.add("other/idle", idle(person, rng.uniform(0.1, 0.3), rng))
        while tl.end < seconds:
            tl.add(label, _styled(move_keys(label, person, opts), person, tempo, amplitude))
            tl.add("other/idle", idle(person, rng.uniform(0.05, longest_pause), rng))
    name = f"{label}/{person.pid}_c{index:02d}.mp4"
    return _finish_plan(name, label, person, fps, frames, tl, rng, opts)


def plan_sparring(seed: int, person: Person, index: int, seconds: float, opts: SynthOptions) -> ClipPlan:
    """A long video: every move in turn (shuffled), separated by idling and walking back and forth."""
    rng = np.random.default_rng([seed, person.index, _SPARRING_STREAM, index])
    fps = int(rng.integers(opts.fps[0], opts.fps[1] + 1))
    frames = int(round(seconds * fps))
    duration = frames / fps
    tl = Timeline(person.guard)
    tl.add("other/idle", idle(person, rng.uniform(0.6, 2.0), rng))
    bag: list[str] = []
    while True:
        x = tl.poses[-1][POSE_INDEX["x"]]
        tempo = person.tempo * rng.uniform(0.9, 1.1)
        # Walk now and then, back towards the middle when away from it, two steps at a time.
        forward = x < -0.3 or (x < 0.3 and rng.random() < 0.5)
        if rng.random() < 0.25 and abs(x + (1 if forward else -1) * 2 * person.step) < 1.0:
            label = "other/walk"
            keys = _styled(walk(person, 2, forward, swing_arms=False), person, tempo, 1.0)
        else:
            if not bag:
                bag = list(rng.permutation(MOVES))  # every move once per round, in random order
            label = bag.pop()
            amplitude = person.amplitude * rng.uniform(0.95, 1.05)
            keys = _styled(move_keys(label, person, opts), person, tempo, amplitude)
        if tl.end + sum(k.dt for k in keys) + 0.5 > duration:
            break  # no room left for this and a breather: idle to the end
        tl.add(label, keys)
        tl.add("other/idle", idle(person, min(rng.uniform(0.4, 1.6), duration - tl.end), rng))
    tl.add("other/idle", idle(person, duration - tl.end + 1e-6, rng))
    return _finish_plan(f"sparring/{person.pid}_s{index:02d}.mp4", "sparring", person, fps, frames, tl, rng, opts)


def render(plan: ClipPlan, times: np.ndarray | None = None) -> tuple[np.ndarray, Skeletons]:
    """Frames (N, H, W, 3) RGB uint8 of a plan at ``times`` (default: every frame) and their skeletons."""
    t = plan.times if times is None else np.asarray(times, dtype=np.float64)
    skel = plan.skeletons(t)
    camera = _Camera(plan.scene)
    shifts = camera.shifts(t)
    painter = FighterPainter(plan.person.body, camera.graded(plan.person.look), skel, plan.scene.view, shifts)
    frames = np.empty((len(t), plan.scene.height, plan.scene.width, 3), np.uint8)
    for k in range(len(t)):
        frames[k] = camera.frame(shifts[k], int(round(t[k] * plan.fps)), lambda img: painter.paint(img, k))
    return frames, skel


# --------------------------------------------------------------------------------------------- dataset


def plan_dataset(config: SynthConfig) -> list[ClipPlan]:
    """Plans of every video of a dataset, class clips first; cheap (no pixels)."""
    people = [make_person(config.seed, i) for i in range(config.people)]
    plans = [
        plan_class_clip(config.seed, person, c, i, config.options)
        for person in people for c in range(len(CLASSES)) for i in range(config.clips_per_class)
    ]
    plans += [
        plan_sparring(config.seed, person, i, config.sparring_seconds, config.options)
        for person in people for i in range(config.sparring_per_person)
    ]
    return plans


_CONFIG_NAME = "synth.json"
_PENDING_NAME = ".synth-pending.json"  # the config of an unfinished run, so a resume can check it


def synthesize(out: str | Path, people: int = 6, clips_per_class: int = 6, seed: int = 0,
               sparring_per_person: int = 1, sparring_seconds: float = 40.0,
               options: SynthOptions | None = None) -> SynthSummary:
    """Render a synthetic dataset into ``out`` (see the module docstring for the layout).

    Cached: a complete folder with the same config is left alone. Resumable: videos already written by
    an interrupted run with the same config are kept. A folder made with another config is refused.
    """
    started = time.perf_counter()
    out = Path(out)
    config = SynthConfig(seed, people, clips_per_class, sparring_per_person, sparring_seconds,
                         options or SynthOptions())
    wanted = config.to_dict()
    _check_folder(out, wanted)
    plans = plan_dataset(config)
    if not (out / _CONFIG_NAME).exists():
        out.mkdir(parents=True, exist_ok=True)
        _remove_stale_temp_files(out)
        write_json(out / _PENDING_NAME, wanted)
    rendered = 0
    for plan in plans:
        if not (out / plan.path).exists():  # every video is written atomically: present means complete
            frames, _ = render(plan)
            write_video(out / plan.path, frames, plan.fps)
            rendered += 1
    if rendered or not (out / _CONFIG_NAME).exists():
        write_text(out / "groups.csv", _groups_csv(plans))
        write_text(out / "annotations.csv", _annotations_csv(plans))
        write_preview(out, config, plans)
        write_json(out / _CONFIG_NAME, {**wanted, "counts": _counts(plans)})
        (out / _PENDING_NAME).unlink(missing_ok=True)
    clips = [p for p in plans if p.label != "sparring"]
    return SynthSummary(
        out=out, clips=len(clips), sparring=len(plans) - len(clips), rendered=rendered,
        seconds=time.perf_counter() - started, class_counts=_counts(plans)["classes"],
        groups_csv=out / "groups.csv", annotations_csv=out / "annotations.csv",
        preview=out / "preview.png", config_json=out / _CONFIG_NAME,
    )


def _remove_stale_temp_files(out: Path) -> None:
    """Drop the temp files a killed run left behind (atomic writes name them ``.<name>.<random>.tmp<ext>``)."""
    for tmp in out.rglob(".*.tmp*"):
        if tmp.is_file():
            tmp.unlink()


def _check_folder(out: Path, wanted: dict) -> None:
    """Refuse a folder holding another dataset (or anything else); accept an empty or matching one."""
    if not out.exists():
        return
    if not out.is_dir():
        raise ActionrecError(f"{out}: exists and is not a folder; expected a folder for the synthetic dataset")
    for name in (_CONFIG_NAME, _PENDING_NAME):
        marker = out / name
        if marker.exists():
            try:
                found = json.loads(marker.read_text())
            except (OSError, ValueError) as e:
                raise ActionrecError(f"{marker}: unreadable ({e}); expected the JSON that synthesize writes") from e
            found.pop("counts", None)
            if found != wanted:
                diff = sorted(k for k in set(found) | set(wanted) if found.get(k) != wanted.get(k))
                raise ActionrecError(
                    f"{out}: holds a synthetic dataset made with a different config (differs in "
                    f"{', '.join(diff)}: {', '.join(f'{k}={found.get(k)!r}' for k in diff)}); "
                    f"delete it or choose another folder"
                )
            return
    if any(out.iterdir()):
        raise ActionrecError(
            f"{out}: folder is not empty and holds no {_CONFIG_NAME}; expected an empty or new folder"
        )


def _counts(plans: list[ClipPlan]) -> dict:
    classes = {c: sum(p.label == c for p in plans) for c in CLASSES}
    segments = [s for p in plans if p.label == "sparring" for s in p.segments()]
    return {
        "people": len({p.person.pid for p in plans}), "clips": sum(classes.values()), "classes": classes,
        "sparring_videos": sum(p.label == "sparring" for p in plans),
        "sparring_segments": {c: sum(s.label == c for s in segments) for c in CLASSES},
    }


def _csv(header: list[str], rows: list[list]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def _groups_csv(plans: list[ClipPlan]) -> str:
    return _csv(["clip", "group"], [[p.path, p.person.pid] for p in plans])


def _annotations_csv(plans: list[ClipPlan]) -> str:
    rows = [[p.path, f"{s.start:.3f}", f"{s.end:.3f}", s.label]
            for p in plans if p.label == "sparring" for s in p.segments()]
    return _csv(["video", "start", "end", "label"], rows)


# --------------------------------------------------------------------------------------------- preview

_THUMB = (160, 90)
_LABEL_W = 140


def key_moments(plan: ClipPlan) -> list[float]:
    """Three telling times of a class clip: approach, peak and return of its (first) move."""
    segs = [s for s in plan.segments() if s.label == plan.label] or [Segment(plan.label, 0.0, plan.duration)]
    s = segs[0]
    return [s.start + f * (s.end - s.start) for f in (0.22, 0.45, 0.75)]


def write_preview(out: str | Path, config: SynthConfig, plans: list[ClipPlan] | None = None) -> Path:
    """``out/preview.png``: a row per class, columns = key moments of the first clip of up to 3 people."""
    plans = plan_dataset(config) if plans is None else plans
    people = sorted({p.person.pid for p in plans})[:3]
    tw, th = _THUMB
    sheet = np.full((20 + th * len(CLASSES), _LABEL_W + 3 * tw * len(people), 3), 255, np.uint8)
    for col, pid in enumerate(people):
        _text(sheet, pid, (_LABEL_W + col * 3 * tw + 4, 14))
    for row, label in enumerate(CLASSES):
        y = 20 + row * th
        _text(sheet, label, (4, y + th // 2))
        for col, pid in enumerate(people):
            plan = next(p for p in plans if p.label == label and p.person.pid == pid)
            frames, _ = render(plan, np.array(key_moments(plan)))
            for j, frame in enumerate(frames):
                x = _LABEL_W + (col * 3 + j) * tw
                sheet[y:y + th, x:x + tw] = cv2.resize(frame, _THUMB, interpolation=cv2.INTER_AREA)
    ok, png = cv2.imencode(".png", cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ActionrecError(f"{out}: could not encode the preview image")
    path = Path(out) / "preview.png"
    write_bytes(path, png.tobytes())
    return path


def _text(img: np.ndarray, text: str, at: tuple[int, int]) -> None:
    cv2.putText(img, text, at, cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)

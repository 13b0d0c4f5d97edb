"""Synthetic people: each one a group with its own body, clothes, stance, tempo and style."""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from actionrec.synth.figure import Body, Look, Pose
from actionrec.synth.options import _PERSON_STREAM

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




def varied(person: Person, tempo_scale: tuple[float, float], relaxed: float, torso_scale: tuple[float, float],
           rng: np.random.Generator) -> tuple[Person, float]:
    """This person for one video, and a factor on its moves' durations (``RenderOptions``' variety).
    Draws nothing when every option is at its default, so older datasets keep their bytes."""
    if tempo_scale == (1.0, 1.0) and relaxed == 0.0 and torso_scale == (1.0, 1.0):
        return person, 1.0
    u = rng.uniform(size=3)
    k = torso_scale[0] + u[0] * (torso_scale[1] - torso_scale[0])
    body = replace(person.body, torso=person.body.torso * k)
    guard = relaxed_stance(rng) if u[1] < relaxed else person.guard
    return replace(person, body=body, guard=guard), float(tempo_scale[0] + u[2] * (tempo_scale[1] - tempo_scale[0]))


def relaxed_stance(rng: np.random.Generator) -> Pose:
    """Standing nearly square to the front, hands low or at the belly, knees soft: how people wait between
    moves when nobody taught them a guard."""
    return Pose(
        yaw=rng.uniform(0, 15), lean=rng.uniform(0, 5), twist=rng.uniform(-5, 5),
        lead_shoulder=rng.uniform(0, 30), lead_arm_out=rng.uniform(0, 15), lead_elbow=rng.uniform(10, 100),
        rear_shoulder=rng.uniform(0, 30), rear_arm_out=rng.uniform(0, 15), rear_elbow=rng.uniform(10, 100),
        lead_hip=rng.uniform(0, 8), lead_leg_out=rng.uniform(4, 12), lead_knee=rng.uniform(0, 10),
        rear_hip=-rng.uniform(0, 8), rear_leg_out=rng.uniform(4, 12), rear_knee=rng.uniform(0, 10),
    )

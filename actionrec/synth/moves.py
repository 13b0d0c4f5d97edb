"""The moves as keyframes of joint angles: jab, cross, front, roundhouse and back kicks, walking, idling."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from actionrec.errors import ActionrecError
from actionrec.synth.figure import ANGLE_FIELDS, POSE_INDEX, Pose
from actionrec.synth.options import EXTRA_MOVES, MOVES, RenderOptions
from actionrec.synth.people import Person

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


def side_kick(p: Person) -> list[Key]:
    """Turn side-on (the rear hip towards the opponent), chamber the rear knee across the body, drive the
    foot out sideways along the line to the opponent with the torso leaning away, re-chamber, back down.
    The arms come up and out for balance, as untrained people's do."""
    g = p.guard
    arms = dict(lead_shoulder=g.lead_shoulder + 15, lead_arm_out=g.lead_arm_out + 25,
                rear_shoulder=g.rear_shoulder + 20, rear_arm_out=g.rear_arm_out + 20)
    chamber = replace(g, yaw=-60.0, lean=g.lean + 5, twist=0, rear_hip=65, rear_leg_out=45, rear_knee=120,
                      rear_ankle=10, lead_knee=g.lead_knee + 8, **arms)
    extended = replace(chamber, yaw=-90.0, lean=-20, rear_hip=5, rear_leg_out=80 + p.kick_height / 2,
                       rear_knee=5, rear_ankle=0)
    return [Key(0.26, chamber), Key(0.14, extended, "out"), Key(0.12, extended, "linear"),
            Key(0.16, chamber), Key(0.26, g)]


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


GESTURES = ("arms_up", "wave", "arms_out", "squat", "reach")


def gesture(p: Person, rng: np.random.Generator) -> list[Key]:
    """A movement that is no strike: both arms overhead, a wave, arms out to the sides, a squat, a reach
    across. Between moves in front of a webcam people stretch, wave and bend, and a model that only saw
    guard and walking takes any arm that moves for a punch."""
    g = p.guard
    kind = GESTURES[int(rng.integers(len(GESTURES)))]
    if kind == "arms_up":
        peak = replace(g, lead_shoulder=170, rear_shoulder=170, lead_elbow=10, rear_elbow=10,
                       lead_arm_out=20, rear_arm_out=20, lean=0)
        keys = [Key(rng.uniform(0.4, 0.8), peak), Key(rng.uniform(0.1, 0.4), peak, "linear")]
    elif kind == "wave":
        up = replace(g, rear_shoulder=130, rear_arm_out=40, rear_elbow=30)
        keys = [Key(0.4, up)]
        for _ in range(int(rng.integers(2, 5))):
            keys += [Key(0.18, replace(up, rear_elbow=80)), Key(0.18, up)]
    elif kind == "arms_out":
        peak = replace(g, lead_shoulder=80, rear_shoulder=80, lead_arm_out=85, rear_arm_out=85,
                       lead_elbow=5, rear_elbow=5, twist=0)
        keys = [Key(rng.uniform(0.4, 0.8), peak), Key(rng.uniform(0.1, 0.5), peak, "linear")]
    elif kind == "squat":
        low = replace(g, lead_hip=75, rear_hip=75, lead_knee=115, rear_knee=115, lean=25,
                      lead_shoulder=70, rear_shoulder=70, lead_elbow=20, rear_elbow=20)
        keys = [Key(rng.uniform(0.5, 0.9), low), Key(rng.uniform(0.1, 0.3), low, "linear")]
    else:  # reach across, as for something on a desk
        far = replace(g, lead_shoulder=60, lead_arm_out=-30, lead_elbow=40, twist=-20, lean=g.lean + 15)
        keys = [Key(rng.uniform(0.5, 0.8), far), Key(rng.uniform(0.2, 0.5), far, "linear")]
    return keys + [Key(rng.uniform(0.4, 0.8), g)]


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


def move_keys(label: str, p: Person, options: RenderOptions) -> list[Key]:
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
    if label == "kick/side":
        return side_kick(p)
    raise ActionrecError(f"{label}: not a synthetic move; expected one of {', '.join(MOVES + EXTRA_MOVES)}")


def punch_timing(keys: list[Key], pace: float, hold: float) -> list[Key]:
    """A punch's keys (reach, hold, return) with the reach and return ``pace`` times as long and the fist held
    ``hold`` seconds longer at full reach."""
    reach, held, back = keys
    return [replace(reach, dt=reach.dt * pace), replace(held, dt=held.dt + hold), replace(back, dt=back.dt * pace)]


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



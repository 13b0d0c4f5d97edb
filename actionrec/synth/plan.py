"""Timelines and clip plans: which moves a clip holds, when, in which scene, from a seed alone (nothing rendered)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from actionrec.data.datasets import Segment
from actionrec.synth.camera import CameraPose
from actionrec.synth.figure import POSE_INDEX, Pose, Skeletons, forward_kinematics
from actionrec.synth.moves import Key, _styled, gesture, idle, move_keys, punch_timing, walk
from actionrec.synth.options import _SPARRING_STREAM, SynthConfig, RenderOptions
from actionrec.synth.people import Person, make_person, varied
from actionrec.synth.scene import Scene, _random_scene

# --------------------------------------------------------------------------------------------- timeline


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
        self.segments.append(Segment(start, self.end, label))

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
    camera: CameraPose = CameraPose()
    floor: float = 0.0  # lifts the camera-aligned skeleton so its lowest point over the clip is at y = 0

    @property
    def duration(self) -> float:
        return self.frames / self.fps

    @property
    def times(self) -> np.ndarray:
        return np.arange(self.frames) / self.fps

    def skeletons(self, t: np.ndarray | None = None) -> Skeletons:
        """Joint positions at times t (default: every frame of the video), as this clip's camera sees them."""
        t = self.times if t is None else np.asarray(t, dtype=np.float64)
        world = forward_kinematics(self.person.body, _performance(self.person, self.timeline, self.life_phase, t))
        return _seen(world, self.camera, self.floor)

    def segments(self) -> list[Segment]:
        """Labelled segments tiling [0, duration]."""
        segs = [s for s in self.timeline.segments if s.start < self.duration - 1e-9]
        segs[-1] = replace(segs[-1], end=self.duration)
        return segs


def _finish_plan(path: str, label: str, person: Person, fps: int, frames: int, timeline: Timeline,
                 rng: np.random.Generator, opts: RenderOptions) -> ClipPlan:
    """Pad the timeline with guard to the video's end and choose a camera that frames all of it."""
    if timeline.end < frames / fps:
        timeline.add("other/idle", idle(person, frames / fps - timeline.end + 1e-6, rng))
    life_phase = rng.uniform(0, 2 * math.pi, 5)
    # The camera from a stream of its own: the scene's draws below stay those of the side-view renderer.
    camera, waist_up = opts.camera.draw(rng.spawn(1)[0])
    skel = forward_kinematics(person.body, _performance(person, timeline, life_phase, np.arange(frames) / fps))
    floor = 0.0 if camera.is_side_view else float(-camera.points(skel.points)[..., 1].min())
    skel = _seen(skel, camera, floor)
    b = person.body
    height = b.torso + b.neck + 2 * b.head_r + b.thigh + b.shin
    return ClipPlan(path, label, person, float(fps), frames, timeline, life_phase,
                    _random_scene(rng, opts, skel, height, waist_up), camera, floor)


def _seen(world: Skeletons, camera: CameraPose, floor: float) -> Skeletons:
    if camera.is_side_view:
        return world
    points = camera.points(world.points)
    points[..., 1] += floor
    return Skeletons(points, camera.directions(world.chest))


def _move(label: str, person: Person, opts: RenderOptions, tempo: float, amplitude: float,
          variety: np.random.Generator) -> list[Key]:
    """One move's keys at this tempo and amplitude; a punch with its own pace and hold when the options vary
    them (drawn from ``variety``, and only then, so datasets made without them keep their bytes)."""
    keys = _styled(move_keys(label, person, opts), person, tempo, amplitude)
    if label.startswith("punch/") and (opts.punch_pace != (1.0, 1.0) or opts.punch_hold != (0.0, 0.0)):
        keys = punch_timing(keys, variety.uniform(*opts.punch_pace), variety.uniform(*opts.punch_hold))
    return keys


def plan_class_clip(seed: int, person: Person, class_idx: int, index: int, opts: RenderOptions) -> ClipPlan:
    """Clip ``index`` of class ``opts.classes[class_idx]`` for ``person``: 2-2.6 s, the move starting by 0.3 s and
    repeated to the end."""
    label = opts.classes[class_idx]
    rng = np.random.default_rng([seed, person.index, class_idx, index])
    fps = int(rng.integers(opts.fps[0], opts.fps[1] + 1))
    frames = math.ceil(rng.uniform(*opts.clip_seconds) * fps)
    seconds = frames / fps
    variety = rng.spawn(1)[0]
    person, slower = varied(person, opts.tempo_scale, opts.relaxed, opts.torso_scale, variety)
    tempo, amplitude = person.tempo * rng.uniform(0.9, 1.1) * slower, person.amplitude * rng.uniform(0.95, 1.05)
    tl = Timeline(person.guard)
    if label == "other/idle" and opts.gestures and variety.random() < opts.gestures:
        # Not a strike: stretch, wave or bend between stretches of guard, all of it "other/idle".
        while tl.end < seconds:
            tl.add(label, idle(person, variety.uniform(0.1, 0.6), rng))
            tl.add(label, _styled(gesture(person, variety), person, tempo, 1.0))
    elif label == "other/idle":
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
            tl.add(label, _move(label, person, opts, tempo, amplitude, variety))
            tl.add("other/idle", idle(person, rng.uniform(0.05, longest_pause), rng))
    name = f"{label}/{person.pid}_c{index:02d}{opts.extension}"
    return _finish_plan(name, label, person, fps, frames, tl, rng, opts)


def plan_sparring(seed: int, person: Person, index: int, seconds: float, opts: RenderOptions) -> ClipPlan:
    """A long video: every move in turn (shuffled), separated by idling and walking back and forth."""
    rng = np.random.default_rng([seed, person.index, _SPARRING_STREAM, index])
    fps = int(rng.integers(opts.fps[0], opts.fps[1] + 1))
    frames = int(round(seconds * fps))
    duration = frames / fps
    variety = rng.spawn(1)[0]
    person, slower = varied(person, opts.tempo_scale, opts.relaxed, opts.torso_scale, variety)
    tl = Timeline(person.guard)
    tl.add("other/idle", idle(person, rng.uniform(0.6, 2.0), rng))
    bag: list[str] = []
    while True:
        x = tl.poses[-1][POSE_INDEX["x"]]
        tempo = person.tempo * rng.uniform(0.9, 1.1) * slower
        # Walk now and then, back towards the middle when away from it, two steps at a time.
        forward = x < -0.3 or (x < 0.3 and rng.random() < 0.5)
        if rng.random() < 0.25 and abs(x + (1 if forward else -1) * 2 * person.step) < 1.0:
            label = "other/walk"
            keys = _styled(walk(person, 2, forward, swing_arms=False), person, tempo, 1.0)
        else:
            if not bag:
                bag = list(rng.permutation(opts.moves))  # every move once per round, in random order
            label = bag.pop()
            amplitude = person.amplitude * rng.uniform(0.95, 1.05)
            keys = _move(label, person, opts, tempo, amplitude, variety)
        if tl.end + sum(k.dt for k in keys) + 0.5 > duration:
            break  # no room left for this and a breather: idle to the end
        tl.add(label, keys)
        if opts.gestures and variety.random() < opts.gestures / 2:
            stretch = _styled(gesture(person, variety), person, tempo, 1.0)
            if tl.end + sum(k.dt for k in stretch) + 0.5 < duration:
                tl.add("other/idle", stretch)
        tl.add("other/idle", idle(person, min(rng.uniform(0.4, 1.6), duration - tl.end), rng))
    tl.add("other/idle", idle(person, duration - tl.end + 1e-6, rng))
    return _finish_plan(f"sparring/{person.pid}_s{index:02d}{opts.extension}", "sparring", person, fps, frames, tl, rng, opts)


# --------------------------------------------------------------------------------------------- dataset


def plan_dataset(config: SynthConfig) -> list[ClipPlan]:
    """Plans of every video of a dataset, class clips first; cheap (no pixels)."""
    people = [make_person(config.seed, i) for i in range(config.people)]
    plans = [
        plan_class_clip(config.seed, person, c, i, config.options)
        for person in people for c in range(len(config.options.classes)) for i in range(config.clips_per_class)
    ]
    plans += [
        plan_sparring(config.seed, person, i, config.sparring_seconds, config.options)
        for person in people for i in range(config.sparring_per_person)
    ]
    return plans



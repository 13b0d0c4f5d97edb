"""An articulated cartoon fighter: body proportions, joint-angle poses, forward kinematics and drawing.

The figure lives in a 3-D world seen from the side by an orthographic camera: x points right (towards the
opponent), y up, z towards the camera. A ``Pose`` holds joint angles in degrees; ``forward_kinematics``
turns poses into 3-D joint positions; ``FighterPainter`` paints a clip's frames: shaded tapered capsules
for the limbs, far parts first.
Being 3-D matters: a roundhouse and a back kick end in the same side-view silhouette but get there by
turning opposite ways, which shows as the chest (front stripe, face) or the back passing the camera.

The fighter stands orthodox: the left side leads. "lead" limbs are the left ones, "rear" the right ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import cv2
import numpy as np

Color = tuple[int, int, int]  # RGB


@dataclass(frozen=True)
class Body:
    """Segment lengths and limb radii of one person, in metres."""

    thigh: float
    shin: float
    foot: float
    torso: float  # pelvis centre to the base of the neck
    neck: float
    head_r: float
    shoulder_half: float
    hip_half: float
    upper_arm: float
    forearm: float
    hand_r: float
    thigh_r: float
    shin_r: float
    arm_r: float
    torso_r: float

    @staticmethod
    def random(rng: np.random.Generator) -> Body:
        """A plausible adult: height 1.55-1.95 m, each proportion and the build varied by a few percent."""
        h = rng.uniform(1.55, 1.95)
        build = rng.uniform(0.8, 1.3)  # slim .. stocky: scales every radius

        def part(fraction: float) -> float:
            return h * fraction * rng.uniform(0.93, 1.07)

        return Body(
            thigh=part(0.245), shin=part(0.235), foot=part(0.13), torso=part(0.30), neck=part(0.04),
            head_r=part(0.062), shoulder_half=part(0.105) * build ** 0.5, hip_half=part(0.055) * build ** 0.5,
            upper_arm=part(0.17), forearm=part(0.15), hand_r=part(0.032),
            thigh_r=part(0.042) * build, shin_r=part(0.03) * build, arm_r=part(0.025) * build,
            torso_r=part(0.06) * build,
        )


@dataclass(frozen=True)
class Pose:
    """Joint angles in degrees (and two root offsets in metres). Moves are keyframes of these."""

    x: float = 0.0  # root position along the floor (m); walking changes it
    lift: float = 0.0  # whole body raised above the floor (m): bounce, rising on the toes
    yaw: float = 0.0  # facing: 0 = towards the opponent (+x), 90 = towards the camera
    lean: float = 0.0  # torso pitched forward
    twist: float = 0.0  # shoulders turned against the hips; + brings the rear shoulder forward
    lead_shoulder: float = 0.0  # arm raised forward (0 = hanging)
    lead_arm_out: float = 0.0  # raised arm swung outward (negative: across the chest)
    lead_elbow: float = 0.0  # forearm folded forward/up
    rear_shoulder: float = 0.0
    rear_arm_out: float = 0.0
    rear_elbow: float = 0.0
    lead_hip: float = 0.0  # thigh raised forward (negative = backward)
    lead_leg_out: float = 0.0  # thigh raised sideways
    lead_knee: float = 0.0  # shin folded backward
    lead_ankle: float = 0.0  # toes pointed
    rear_hip: float = 0.0
    rear_leg_out: float = 0.0
    rear_knee: float = 0.0
    rear_ankle: float = 0.0

    def vector(self) -> np.ndarray:
        return np.array([getattr(self, name) for name in POSE_FIELDS], dtype=np.float64)

    @staticmethod
    def from_vector(v: np.ndarray) -> Pose:
        return Pose(*(float(a) for a in v))


POSE_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Pose))
# Root offsets and the facing direction are not "amplitudes": a smaller kick still turns all the way round.
ANGLE_FIELDS: tuple[str, ...] = tuple(n for n in POSE_FIELDS if n not in ("x", "lift", "yaw"))

POSE_INDEX = {name: i for i, name in enumerate(POSE_FIELDS)}

JOINTS: tuple[str, ...] = (
    "pelvis", "neck", "head",
    "lead_shoulder", "lead_elbow", "lead_wrist", "lead_hand",
    "rear_shoulder", "rear_elbow", "rear_wrist", "rear_hand",
    "lead_hip", "lead_knee", "lead_ankle", "lead_toe",
    "rear_hip", "rear_knee", "rear_ankle", "rear_toe",
)
JOINT_INDEX = {name: i for i, name in enumerate(JOINTS)}


@dataclass(frozen=True)
class Skeletons:
    """Joint positions of N frames: points (N, len(JOINTS), 3) with the feet on the floor (y = 0)."""

    points: np.ndarray
    chest: np.ndarray  # (N, 3) unit vectors out of the chest (the face looks the same way)

    def joint(self, name: str) -> np.ndarray:
        """(N, 3) positions of one joint over time."""
        return self.points[:, JOINT_INDEX[name]]


def _rot(axis: int, deg: np.ndarray) -> np.ndarray:
    """(N, 3, 3) right-handed rotations about coordinate axis 0 (x), 1 (y) or 2 (z)."""
    rad = np.radians(deg)
    c, s = np.cos(rad), np.sin(rad)
    m = np.zeros(rad.shape + (3, 3))
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    m[:, axis, axis] = 1.0
    m[:, i, i], m[:, i, j], m[:, j, i], m[:, j, j] = c, -s, s, c
    return m


_DOWN = np.array([0.0, -1.0, 0.0])
_UP = np.array([0.0, 1.0, 0.0])
_FORWARD = np.array([1.0, 0.0, 0.0])
_RIGHT = np.array([0.0, 0.0, 1.0])
# Each side's sign along the body's right axis: the lead (left) limbs sit at -1, the rear (right) at +1.
_SIDE = {"lead": -1.0, "rear": 1.0}


def forward_kinematics(body: Body, poses: np.ndarray) -> Skeletons:
    """Joint positions for N pose vectors (N, len(POSE_FIELDS)), lowest foot point on the floor.

    Body coordinates are (forward, up, right). The legs hang from the hips in a frame turned only by
    ``yaw``, so leg angles read the same whatever the torso does ("hip -90" is a leg straight back even
    when the torso leans); the torso adds ``lean`` and ``twist`` and the arms hang from it.
    """
    poses = np.atleast_2d(poses)

    def angle(name: str) -> np.ndarray:
        return poses[:, POSE_INDEX[name]]

    hips = _rot(1, -angle("yaw"))  # yaw turns +x (forward) towards +z (camera)
    torso = hips @ _rot(2, -angle("lean")) @ _rot(1, angle("twist"))
    pelvis = np.zeros((len(poses), 3))
    neck = pelvis + torso @ (_UP * body.torso)
    head = neck + torso @ (_UP * (body.neck + body.head_r))
    p: dict[str, np.ndarray] = {"pelvis": pelvis, "neck": neck, "head": head}

    for side, out in _SIDE.items():
        shoulder = neck + torso @ (_RIGHT * out * body.shoulder_half - _UP * 0.02)
        # arm_out swings the raised arm outward about the torso's vertical: a straight punch can aim at the
        # opponent whichever way the chest faces.
        arm = torso @ _rot(1, -out * angle(f"{side}_arm_out")) @ _rot(2, angle(f"{side}_shoulder"))
        elbow = shoulder + arm @ (_DOWN * body.upper_arm)
        forearm = arm @ _rot(2, angle(f"{side}_elbow"))
        wrist = elbow + forearm @ (_DOWN * body.forearm)
        p[f"{side}_shoulder"], p[f"{side}_elbow"], p[f"{side}_wrist"] = shoulder, elbow, wrist
        p[f"{side}_hand"] = wrist + forearm @ (_DOWN * body.hand_r)

        hip = pelvis + hips @ (_RIGHT * out * body.hip_half)
        thigh = hips @ _rot(0, -out * angle(f"{side}_leg_out")) @ _rot(2, angle(f"{side}_hip"))
        knee = hip + thigh @ (_DOWN * body.thigh)
        shin = thigh @ _rot(2, -angle(f"{side}_knee"))
        ankle = knee + shin @ (_DOWN * body.shin)
        # The foot sits at right angles to the shin; pointing the toes turns it towards the shin's line.
        toe = ankle + shin @ _rot(2, -angle(f"{side}_ankle")) @ (_FORWARD * body.foot)
        p[f"{side}_hip"], p[f"{side}_knee"], p[f"{side}_ankle"], p[f"{side}_toe"] = hip, knee, ankle, toe

    points = np.stack([p[name] for name in JOINTS], axis=1)
    feet = points[:, [JOINT_INDEX[j] for j in ("lead_ankle", "lead_toe", "rear_ankle", "rear_toe")], 1]
    # Stand on the floor: the ankle is a joint centre, so keep it a shin radius above the ground.
    points[:, :, 1] += (angle("lift") + body.shin_r - feet.min(axis=1))[:, None]
    points[:, :, 0] += angle("x")[:, None]
    return Skeletons(points, chest=torso @ _FORWARD)


@dataclass(frozen=True)
class Look:
    """Colours and clothes of one person."""

    skin: Color
    hair: Color
    shirt: Color
    shirt_front: Color  # a stripe down the chest: shows which way the torso faces
    pants: Color
    gloves: Color
    shoes: Color | None  # None = barefoot
    long_sleeves: bool
    shorts: bool


@dataclass(frozen=True)
class View:
    """Orthographic camera: world metres -> image pixels, plus where the light comes from."""

    scale: float  # pixels per metre
    origin: tuple[float, float]  # image position of the world origin (the floor under the home spot)
    roll: float  # camera tilt, degrees
    light: tuple[float, float]  # unit image direction towards the light

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(..., 3) world points -> (..., 2) image points and (...,) depth (larger = nearer the camera)."""
        x, y, z = points[..., 0], points[..., 1], points[..., 2]
        c, s = math.cos(math.radians(self.roll)), math.sin(math.radians(self.roll))
        u, v = x * self.scale, -y * self.scale
        uv = np.stack([c * u - s * v + self.origin[0], s * u + c * v + self.origin[1]], axis=-1)
        return uv, z


# Unit circle samples for capsule ends; 8 per half keeps small limbs round without many vertices.
_HALF = np.linspace(-math.pi / 2, math.pi / 2, 8)
_RING = np.stack([np.cos(np.linspace(0, 2 * math.pi, 12, endpoint=False)),
                  np.sin(np.linspace(0, 2 * math.pi, 12, endpoint=False))], axis=1)
_SUBPIXEL = 4  # cv2 fixed-point shift: sub-pixel vertex positions keep slow motion smooth
# Layers of a shaded part: (offset towards the light, radius) as fractions of its radius, and the
# brightness: a dark rim, the body colour, a small highlight.
_LAYERS = ((0.0, 1.0, 0.6), (0.25, 0.72, 1.0), (0.45, 0.3, 1.18))
_FAR_SHADE = 0.8  # limbs on the far side of the body sit in its shadow: a depth cue at low resolution


def _capsules(a: np.ndarray, b: np.ndarray, ra: np.ndarray, rb: np.ndarray) -> np.ndarray:
    """Outlines (..., 16, 2) of tapered capsules from a (radius ra) to b (radius rb); a, b (..., 2)."""
    d = b - a
    ang = np.arctan2(d[..., 1], d[..., 0])[..., None] + _HALF  # a zero-length capsule is just a disc
    ring = np.stack([np.cos(ang), np.sin(ang)], axis=-1)
    return np.concatenate([b[..., None, :] + rb[..., None, None] * ring,
                           a[..., None, :] - ra[..., None, None] * ring], axis=-2)


def _discs(centres: np.ndarray, r: float) -> np.ndarray:
    """Outlines (..., 12, 2) of discs of radius r around centres (..., 2)."""
    return centres[..., None, :] + r * _RING


def _fixed(outline: np.ndarray) -> np.ndarray:
    """Image coordinates -> cv2's fixed-point int32 vertices."""
    return np.round(outline * (1 << _SUBPIXEL)).astype(np.int32)


def _rgb(color: Color, brightness: float = 1.0) -> tuple[int, int, int]:
    return tuple(min(255, int(c * brightness)) for c in color)


def _fill(img: np.ndarray, outline: np.ndarray, rgb: tuple[int, int, int], smooth: bool = True) -> None:
    """Fill a polygon (fixed-point vertices). Only silhouettes get anti-aliased edges: inner layers are
    hidden by the shrink to 100x56 anyway, and plain fills are twice as fast."""
    cv2.fillPoly(img, [outline], rgb, cv2.LINE_AA if smooth else cv2.LINE_8, _SUBPIXEL)


def _limbs(body: Body, look: Look) -> list[tuple[str, str, float, float, Color]]:
    """(from joint, to joint, radius there, radius here, colour) of every limb segment, both sides."""
    forearm = look.shirt if look.long_sleeves else look.skin
    shin = look.skin if look.shorts else look.pants
    rows = []
    for side in ("lead", "rear"):
        rows += [
            (f"{side}_shoulder", f"{side}_elbow", body.arm_r * 1.15, body.arm_r, look.shirt),
            (f"{side}_elbow", f"{side}_wrist", body.arm_r, body.arm_r * 0.85, forearm),
            (f"{side}_wrist", f"{side}_hand", body.hand_r * 1.1, body.hand_r * 1.25, look.gloves),
            (f"{side}_hip", f"{side}_knee", body.thigh_r, body.shin_r * 1.1, look.pants),
            (f"{side}_knee", f"{side}_ankle", body.shin_r * 1.05, body.shin_r * 0.8, shin),
            (f"{side}_ankle", f"{side}_toe", body.shin_r * 0.8, body.shin_r * 0.6, look.shoes or look.skin),
        ]
    return rows


class FighterPainter:
    """Paints the fighter of a whole clip, frame by frame, onto the frames' backgrounds.

    All geometry (projected outlines of every part in every frame, in cv2's fixed-point format) is
    computed up front with array operations over the frames; painting a frame is then only the polygon
    fills, far parts first (painter's algorithm on each part's mean depth).
    """

    def __init__(self, body: Body, look: Look, skel: Skeletons, view: View, shifts: np.ndarray):
        """``shifts`` (N, 2): per-frame image offset of the camera shake, pixels."""
        self.view = view
        uv, depth = view.project(skel.points)
        uv = uv + shifts[:, None, :]
        self.uv = uv
        j = JOINT_INDEX
        light = np.array(view.light)
        s = view.scale

        limbs = _limbs(body, look)
        ia, ib = [j[a] for a, *_ in limbs], [j[b] for _, b, *_ in limbs]
        ra, rb = np.array([r[2] for r in limbs]) * s, np.array([r[3] for r in limbs]) * s
        a, b = uv[:, ia], uv[:, ib]
        # (layers, N, limbs, 16, 2)
        self.limb_outlines = np.stack([
            _fixed(_capsules(a + light * off * ra[:, None], b + light * off * rb[:, None], ra * k, rb * k))
            for off, k, _ in _LAYERS
        ])
        self.limb_colors = [[[_rgb(color, shade * brightness) for _, _, brightness in _LAYERS]
                             for *_, color in limbs] for shade in (1.0, _FAR_SHADE)]
        # Thin limbs have no room for the highlight (the last layer).
        self.limb_layers = [len(_LAYERS) if r >= 2.5 else len(_LAYERS) - 1 for r in ra]
        limb_depth = (depth[:, ia] + depth[:, ib]) / 2
        centre = depth[:, j["pelvis"]]
        self.limb_far = limb_depth < centre[:, None] - 0.02
        # Draw order per frame over limbs + torso + head.
        part_depth = np.concatenate([limb_depth, centre[:, None], depth[:, [j["head"]]] + 0.01], axis=1)
        self.order = np.argsort(part_depth, axis=1, kind="stable")
        self.n_limbs = len(limbs)

        self.look = look
        self.torso_r = body.torso_r * s
        self.torso_corners = uv[:, [j[n] for n in ("lead_shoulder", "rear_shoulder", "lead_hip", "rear_hip")]]
        facing = skel.chest[:, 2]  # 1 = chest to the camera
        self.facing = facing
        # A stripe down the chest: centred when facing the camera, at the edge in profile, hidden from
        # behind. It is what tells a turn towards the camera from a turn away at low resolution.
        ends = skel.points[:, [j["neck"], j["pelvis"]]] + skel.chest[:, None, :] * body.torso_r
        ends = view.project(ends)[0] + shifts[:, None, :]
        width = np.maximum(1.0, self.torso_r * 0.45 * (0.35 + 0.65 * np.clip(facing, 0.0, None)))
        bottom = ends[:, 1] + (ends[:, 0] - ends[:, 1]) * 0.1
        self.stripe = _fixed(_capsules(ends[:, 0], bottom, width, width))
        belt = np.full(len(uv), self.torso_r * 0.55)
        self.belt = _fixed(_capsules(uv[:, j["lead_hip"]], uv[:, j["rear_hip"]], belt, belt))

        # The head: hair all round, the face shifted towards where the chest points (as far as that
        # direction shows in the image), so profile, front and back read differently.
        head_r = body.head_r * s
        head = uv[:, j["head"]]
        toward = view.project(skel.points[:, j["head"]] + skel.chest * 0.5)[0] + shifts - head
        face = head + toward / (0.5 * s) * head_r * 0.35 + np.array([0.0, head_r * 0.12])
        self.hair = _fixed(_discs(head, head_r))
        self.face = _fixed(_discs(face, head_r * 0.78))
        self.face_lit = _fixed(_discs(face + light * head_r * 0.2, head_r * 0.5))

        # Ground shadow under the feet and pelvis.
        feet_x = skel.points[:, [j["lead_ankle"], j["rear_ankle"], j["pelvis"]], 0].mean(axis=1)
        floor = np.stack([feet_x, np.zeros_like(feet_x), np.zeros_like(feet_x)], axis=1)
        self.shadow_centre = view.project(floor)[0] + shifts

    def paint(self, img: np.ndarray, k: int) -> None:
        """Paint frame k of the clip onto ``img`` (RGB uint8, in place)."""
        self._ground_shadow(img, k)
        for part in self.order[k]:
            if part < self.n_limbs:
                colors = self.limb_colors[int(self.limb_far[k, part])][part]
                for layer in range(self.limb_layers[part]):
                    _fill(img, self.limb_outlines[layer, k, part], colors[layer], smooth=layer == 0)
            elif part == self.n_limbs:
                self._torso(img, k)
            else:
                self._head(img, k)

    def _torso(self, img: np.ndarray, k: int) -> None:
        look, r = self.look, self.torso_r
        corners = self.torso_corners[k]
        lit = corners + np.array(self.view.light) * r * 0.25
        _fill(img, _fixed(_hull(_discs(corners, r))), _rgb(look.shirt, 0.6))
        _fill(img, _fixed(_hull(_discs(lit, r * 0.72))), _rgb(look.shirt), smooth=False)
        if self.facing[k] > -0.15:
            _fill(img, self.stripe[k], _rgb(look.shirt_front), smooth=False)
        _fill(img, self.belt[k], _rgb(look.pants, 0.75), smooth=False)

    def _head(self, img: np.ndarray, k: int) -> None:
        _fill(img, self.hair[k], _rgb(self.look.hair, 0.8))
        if self.facing[k] > -0.4:
            _fill(img, self.face[k], _rgb(self.look.skin, 0.85), smooth=False)
            _fill(img, self.face_lit[k], _rgb(self.look.skin), smooth=False)

    def _ground_shadow(self, img: np.ndarray, k: int) -> None:
        """A soft dark ellipse on the floor under the fighter: anchors the figure to the scene."""
        cx, cy = self.shadow_centre[k]
        half_w, half_h = 0.45 * self.view.scale, 0.06 * self.view.scale
        x0, x1 = int(max(0, cx - half_w - 2)), int(min(img.shape[1], cx + half_w + 2))
        y0, y1 = int(max(0, cy - half_w * 0.3 - 2)), int(min(img.shape[0], cy + half_w * 0.3 + 2))
        if x1 <= x0 or y1 <= y0:
            return
        keep = np.full((y1 - y0, x1 - x0, 3), 255, np.uint8)  # 255 keeps all the light, 166 keeps 65 %
        ellipse = ((cx - x0, cy - y0), (2 * half_w, 2 * half_h), self.view.roll)
        cv2.ellipse(keep, ellipse, (166, 166, 166), -1, cv2.LINE_AA)
        roi = img[y0:y1, x0:x1]
        roi[:] = cv2.multiply(roi, keep, scale=1 / 255)


def _hull(points: np.ndarray) -> np.ndarray:
    """Convex outline of a (..., 2) point cloud: the torso around its shoulder and hip discs."""
    return cv2.convexHull(points.reshape(-1, 2).astype(np.float32))[:, 0, :]

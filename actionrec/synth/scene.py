"""Rooms and cameras: the backdrop, its clutter and light, and the webcam that films the fighter."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable

import cv2
import numpy as np

from actionrec.synth.figure import Look, Skeletons, View
from actionrec.synth.options import RenderOptions
from actionrec.synth.people import _random_color

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


def _random_scene(rng: np.random.Generator, opts: RenderOptions, skel: Skeletons, body_height: float,
                  waist_up: bool = False) -> Scene:
    """A fixed webcam close to the player: the standing fighter fills most of the frame height, the whole
    performance (every joint over the clip) stays inside the frame, near the middle give or take a little.
    ``waist_up``: the frame holds the head down to a little below the hips instead (a webcam on a desk), and
    what reaches further (kicks) leaves the picture.

    ``skel`` is as the clip's camera sees it (``camera.py``); the default camera sees the fighter's left side
    (the opponent to the right, as in the game).
    """
    w, h = opts.width, opts.height
    reach = 0.12  # limb radius and hands/feet beyond the joint centres
    top = skel.points[..., 1].max() + reach + 0.05
    cut = top - 0.62 * body_height if waist_up else -np.inf  # world height of the frame's bottom edge
    shown = skel.points[..., 1] > cut
    xs = skel.points[..., 0][shown] if shown.any() else skel.points[..., 0].ravel()
    xmin, xmax = xs.min() - reach, xs.max() + reach
    ground = h * rng.uniform(0.9, 0.98)
    scale = h * rng.uniform(*opts.figure_height) / body_height
    scale = min(scale, (w - 12) / (xmax - xmin), (ground - 3) / top)
    if waist_up:
        scale = min(h * 0.96 / (top - cut), (w - 12) / (xmax - xmin))
        ground = h * 0.02 + top * scale  # the floor's row, below the picture
    lo, hi = 6 - scale * xmin, w - 6 - scale * xmax  # origins that keep [xmin, xmax] inside the frame
    centred = w * (0.5 + rng.uniform(-0.06, 0.06)) - scale * (xmin + xmax) / 2
    origin = (float(np.clip(centred, lo, hi)) if hi > lo else (lo + hi) / 2, ground)
    light_angle = rng.uniform(-0.6, 0.6)
    view = View(scale=scale, origin=origin, roll=rng.uniform(-2.0, 2.0),
                light=(math.sin(light_angle), -math.cos(light_angle)))
    shake = float(rng.choice([0.0, rng.uniform(0.3, 1.2)]))
    return Scene(
        width=w, height=h, background_seed=int(rng.integers(2**31)),
        horizon=min(ground - rng.uniform(8, 0.45 * ground), 0.97 * h), view=view, pad=math.ceil(1.5 * shake) + 1,
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


def shake_shifts(scene: Scene, t: np.ndarray) -> np.ndarray:
    """(N, 2) whole-pixel image offsets at times t: the camera's wobble (a laptop on a desk, a table someone
    bumps). A function of the scene alone, so the joints of a keypoint clip move with the picture's."""
    s, ph = scene.shake, scene.shake_phase
    w = 2 * math.pi * np.asarray(t, np.float64)
    dx = s * (np.sin(1.3 * w + ph[0]) + 0.5 * np.sin(3.1 * w + ph[1]))
    dy = s * (np.sin(0.9 * w + ph[2]) + 0.5 * np.sin(2.3 * w + ph[3]))
    return np.round(np.stack([dx, dy], axis=1))


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
        return shake_shifts(self.scene, t)

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



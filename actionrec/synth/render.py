"""Rendering: a clip plan to frames (and the exact joints), and the contact-sheet preview."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from actionrec.errors import ActionrecError
from actionrec.synth.figure import FighterPainter, Skeletons
from actionrec.synth.options import SynthConfig
from actionrec.data.datasets import Segment
from actionrec.synth.plan import ClipPlan, plan_dataset
from actionrec.synth.scene import _Camera
from actionrec.util.atomic import write_bytes


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


# --------------------------------------------------------------------------------------------- preview

_THUMB = (160, 90)
_LABEL_W = 140


def key_moments(plan: ClipPlan) -> list[float]:
    """Three telling times of a class clip: approach, peak and return of its (first) move."""
    segs = [s for s in plan.segments() if s.label == plan.label] or [Segment(0.0, plan.duration, plan.label)]
    s = segs[0]
    return [s.start + f * (s.end - s.start) for f in (0.22, 0.45, 0.75)]


def write_preview(out: str | Path, config: SynthConfig, plans: list[ClipPlan] | None = None) -> Path:
    """``out/preview.png``: a row per class, columns = key moments of the first clip of up to 3 people."""
    plans = plan_dataset(config) if plans is None else plans
    people = sorted({p.person.pid for p in plans})[:3]
    tw, th = _THUMB
    classes = config.options.classes
    sheet = np.full((20 + th * len(classes), _LABEL_W + 3 * tw * len(people), 3), 255, np.uint8)
    for col, pid in enumerate(people):
        _text(sheet, pid, (_LABEL_W + col * 3 * tw + 4, 14))
    for row, label in enumerate(classes):
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

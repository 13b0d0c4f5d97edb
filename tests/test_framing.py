"""The framing check's rule (live/framing.py); on a real person cropped waist up it runs in test_game_mkjs."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from actionrec.errors import ActionrecError
from actionrec.features.pose.vector import JOINT
from actionrec.live.framing import ADVICE, FRAMED, NO_LEGS, NOBODY, FramingCheck, FramingOptions, framing_state


def pose(leg_y: float, leg_visibility: float = 0.9, size=(640, 480)):
    """A pose in a 640x480 picture whose knees and ankles are at height ``leg_y`` (px)."""
    landmarks = np.zeros((33, 5))
    landmarks[:, :2] = (320, 200)
    landmarks[:, 3:] = 0.9
    for j in ("left_knee", "right_knee", "left_ankle", "right_ankle"):
        landmarks[JOINT[j]] = (320, leg_y, 0, leg_visibility, leg_visibility)
    return SimpleNamespace(landmarks=landmarks, image_size=size)


def test_legs_count_when_seen_inside_the_picture():
    assert framing_state(pose(400)) == FRAMED
    assert framing_state(pose(560)) == NO_LEGS  # below the picture: BlazePose's guess
    assert framing_state(pose(400, leg_visibility=0.1)) == NO_LEGS  # in it but not seen
    assert framing_state(None) == NOBODY


def test_a_problem_is_said_once_when_it_lasts_and_again_after_being_fixed():
    check = FramingCheck(FramingOptions(seconds=3.0, share=0.8))
    said = []
    timeline = [pose(560)] * 50 + [pose(400)] * 40 + [pose(560)] * 40 + [None] * 40  # 10 poses a second
    for i, p in enumerate(timeline):
        warning = check.update(p, i / 10)
        if warning:
            said.append((i / 10, warning))
    # The first once 2.7 s of poses (0.9 of the 3 s) are there; later ones when 25 of the last 31 poses (0.8)
    # have the problem.
    assert [t for t, _ in said] == pytest.approx([2.7, 11.4, 15.4]), said
    assert ADVICE[NO_LEGS] in said[0][1] and ADVICE[NO_LEGS] in said[1][1] and ADVICE[NOBODY] in said[2][1]


def test_a_short_lapse_is_not_said():
    check = FramingCheck()
    lapses = [check.update(pose(560) if i % 10 < 5 else pose(400), i / 10) for i in range(100)]
    assert not any(lapses)


@pytest.mark.parametrize("options", [dict(seconds=0), dict(share=0), dict(share=1.5), dict(min_visibility=2)])
def test_bad_options_are_one_line(options):
    with pytest.raises(ActionrecError, match="framing options"):
        FramingOptions(**options)

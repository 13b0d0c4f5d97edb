"""Is the player framed for a pose model? Nobody in the picture, or no leg in it, is said once, live.

BlazePose predicts all 33 joints, also those outside the picture, and says so through their visibility.
Framed waist up, a player's knees and ankles are guesses below the picture's edge that jitter: on the real
calisthenics clip cropped to one person (README, the starter model), the unseen ankles moved 2.6 times as
much from frame to frame as seen ones, and the starter fired 21 attacks (6 kicks) in 39 s instead of 11 (1
kick) on the same person full body. So ``live``, ``play`` and ``replay`` say when the legs stay out of
the picture: kicks cannot be seen there, and false attacks are more likely.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from actionrec.errors import ActionrecError
from actionrec.features.pose.vector import JOINT

LEGS = tuple(JOINT[j] for j in ("left_knee", "right_knee", "left_ankle", "right_ankle"))

NOBODY, NO_LEGS, FRAMED = "nobody", "no legs", "framed"
ADVICE = {
    NOBODY: "nobody in the picture: step into it, facing the camera or side-on",
    NO_LEGS: "no knee or ankle in the picture: kicks cannot be seen and false attacks are likelier; "
             "step back until the camera sees your feet",
}


@dataclass(frozen=True)
class FramingOptions:
    seconds: float = 3.0  # how long a problem lasts before it is said
    share: float = 0.8  # of the poses in those seconds
    min_visibility: float = 0.5  # a joint counts as seen at this BlazePose visibility, inside the picture

    def __post_init__(self) -> None:
        if not (self.seconds > 0 and 0 < self.share <= 1 and 0 <= self.min_visibility <= 1):
            raise ActionrecError(f"framing options {self}: expected seconds > 0, share in (0, 1], visibility in [0, 1]")


def framing_state(pose, min_visibility: float = FramingOptions.min_visibility) -> str:
    """NOBODY, NO_LEGS or FRAMED for one tracker ``Pose`` (or None: nobody)."""
    if pose is None:
        return NOBODY
    w, h = pose.image_size
    legs = pose.landmarks[list(LEGS)]
    inside = (legs[:, 0] >= 0) & (legs[:, 0] <= w) & (legs[:, 1] >= 0) & (legs[:, 1] <= h)
    return FRAMED if bool(np.any(inside & (legs[:, 3] >= min_visibility))) else NO_LEGS


class FramingCheck:
    """Feed it each new pose (``update(pose, t)``); it returns a warning the first time a problem has held for
    ``seconds`` (in ``share`` of the poses), and again only after the player was framed that long."""

    def __init__(self, options: FramingOptions | None = None) -> None:
        self.options = options or FramingOptions()
        self.clear()

    def clear(self) -> None:
        self._recent: deque[tuple[float, str]] = deque()
        self._said: set[str] = set()
        self._runs = -1

    def observe(self, features, t: float) -> str | None:
        """``update`` with a ``LiveFeatures``' latest pose, once per pose it runs (camera frames between the
        model's ticks reuse the last one)."""
        if features.pose_runs == self._runs:
            return None
        self._runs = features.pose_runs
        return self.update(features.pose, t)

    def update(self, pose, t: float) -> str | None:
        o = self.options
        self._recent.append((t, framing_state(pose, o.min_visibility)))
        while self._recent[0][0] < t - o.seconds:
            self._recent.popleft()
        if self._recent[-1][0] - self._recent[0][0] < o.seconds * 0.9:
            return None  # not yet seconds of poses to judge by
        states = [s for _, s in self._recent]
        if states.count(FRAMED) >= o.share * len(states):
            self._said.clear()  # framed again: a later problem is worth saying again
            return None
        for problem in (NOBODY, NO_LEGS):
            if problem not in self._said and states.count(problem) >= o.share * len(states):
                self._said.add(problem)
                return f"framing: {ADVICE[problem]} (the last {o.seconds:g} s)"
        return None

"""The model's frame clock: which source frames a model running at ``fps`` sees.

A model trained at 10 fps sees the first source frame at or after each tick of a 10 fps clock: a 25 fps
clip gives frames at 0.0, 0.12, 0.2, ... s, a 30 fps camera every third frame. Clips, keypoint clips, the
live loop's pose and the trigger's count of frames in a row all use this one rule, so that a model
sees the same frames offline and live, at any camera rate.
"""

from __future__ import annotations

import math

import numpy as np

# Timestamps computed as index / fps are not exact multiples of the tick.
SLACK = 1e-6


class ModelClock:
    """``ticks(t)`` is True when the frame at ``t`` (seconds, increasing) is the model's; ``fps`` 0: every frame."""

    def __init__(self, fps: float) -> None:
        self.step = 1.0 / fps if fps > 0 else 0.0
        self.clear()

    def clear(self) -> None:
        """Start over: the next frame is the model's, whatever its time."""
        self._next = -math.inf

    def ticks(self, t: float) -> bool:
        if t + SLACK < self._next:
            return False
        if self.step:
            self._next = (math.floor(t / self.step + SLACK) + 1) * self.step
        return True

    def keep(self, times) -> list[int]:
        """Indices of the model's frames among ``times`` (a fresh clock's view of one source)."""
        self.clear()
        return [i for i, t in enumerate(times) if self.ticks(float(t))]


def timeline_duration(times, step: float) -> float:
    """Seconds of a clip whose frames are at ``times`` (from its start): the last frame's time plus the median
    step between frames (``step`` for a single frame). A constant-rate clip gives frames / its rate, as
    before; a variable-rate phone clip about its real length, where frames / the header's rate is off by
    as much as the header's average misses (a clip at 30 fps then 12 fps, 4.0 s long: 3.95 s, against
    84 frames / 21.8 fps = 3.85 s). Replay counts false triggers per minute over this."""
    if len(times) == 0:
        return 0.0
    steps = np.diff(np.asarray(times, dtype=float))
    return float(times[-1] + (np.median(steps) if len(steps) else step))

"""The one-euro filter (Casiez et al. 2012) on landmark coordinates, driven by time stamps.

An exponential smoother whose cutoff frequency rises with speed: a still joint is smoothed hard (no
jitter), a punching fist is barely smoothed (little lag). As in MediaPipe's LandmarksSmoothingCalculator,
speed is measured in object sizes per second (``value_scale`` = 1 / body size in pixels), so the same
settings hold for a person near the camera and far from it. MediaPipe's pose settings: landmarks
min_cutoff 0.1 Hz, beta 40, derivative cutoff 1 Hz; the crop's auxiliary points 0.01 Hz, beta 1.
"""

from __future__ import annotations

import math

import numpy as np


class OneEuroFilter:
    def __init__(self, min_cutoff: float = 0.1, beta: float = 40.0, d_cutoff: float = 1.0):
        if min_cutoff <= 0 or d_cutoff <= 0 or beta < 0:
            raise ValueError("one-euro filter: cutoffs must be > 0 and beta >= 0")
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.reset()

    def reset(self) -> None:
        """Forget the past: the next value passes through unchanged (after a lost pose or clear())."""
        self._t: float | None = None
        self._x: np.ndarray | None = None  # last filtered value
        self._raw: np.ndarray | None = None  # last raw value
        self._dx: np.ndarray | None = None  # last filtered speed

    @staticmethod
    def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
        tau = 1.0 / (2.0 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / dt)

    def __call__(self, t: float, x: np.ndarray, value_scale: float = 1.0) -> np.ndarray:
        """Filter ``x`` (any shape, fixed across calls) observed at time ``t`` seconds.

        A time stamp not after the previous one returns ``x`` unchanged and leaves the state alone
        (MediaPipe does the same), so a repeated frame cannot divide by zero.
        """
        x = np.asarray(x, np.float64)
        if self._t is None or self._x is None or self._x.shape != x.shape:
            self._t, self._x, self._raw, self._dx = t, x.copy(), x.copy(), np.zeros_like(x)
            return x.copy()
        dt = t - self._t
        if dt <= 0:
            return x.copy()
        dx = (x - self._raw) * value_scale / dt
        self._dx = self._dx + self._alpha(self.d_cutoff, dt) * (dx - self._dx)
        cutoff = self.min_cutoff + self.beta * np.abs(self._dx)
        self._x = self._x + self._alpha(cutoff, dt) * (x - self._x)
        self._t, self._raw = t, x.copy()
        return self._x.copy()

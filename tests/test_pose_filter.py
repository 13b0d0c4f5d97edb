"""The one-euro filter: smooths jitter when still, follows fast moves, size-invariant, resettable."""

from __future__ import annotations

import numpy as np
import pytest

from actionrec.features.pose.filter import OneEuroFilter


def run(f: OneEuroFilter, xs: np.ndarray, fps: float = 30.0, scale: float = 1.0) -> np.ndarray:
    return np.array([f(i / fps, x, scale) for i, x in enumerate(xs)])


def test_first_value_passes_and_a_constant_stays():
    f = OneEuroFilter()
    out = run(f, np.full((10, 3, 2), 7.5))
    np.testing.assert_allclose(out, 7.5)


def test_jitter_on_a_still_joint_is_more_than_halved():
    rng = np.random.default_rng(1)
    xs = 100.0 + rng.normal(0, 1.0, size=(300, 33, 2))  # 1 px jitter on a 200 px body
    out = run(OneEuroFilter(0.1, 40.0), xs, scale=1 / 200)
    assert out[60:].std() < 0.5 * xs[60:].std()  # measured 0.45 with MediaPipe's pose settings


def test_a_fast_move_is_followed_with_little_lag():
    # A fist moving 300 px in 0.2 s (1.5 body sizes): the filter must not hold it back much.
    t = np.arange(30)
    xs = np.where(t < 10, 0.0, np.minimum((t - 10) * 50.0, 300.0))[:, None]
    out = run(OneEuroFilter(0.1, 40.0), xs, scale=1 / 200)
    assert abs(out[20, 0] - 300.0) < 30.0  # within 10 % of the travel 3 frames after arriving
    slow = run(OneEuroFilter(0.1, 0.0), xs, scale=1 / 200)  # beta 0: a plain low-pass lags far behind
    assert slow[20, 0] < 100.0


def test_size_invariant_when_speed_is_in_body_sizes():
    rng = np.random.default_rng(2)
    xs = np.cumsum(rng.normal(0, 2.0, size=(100, 4)), axis=0)
    small = run(OneEuroFilter(), xs, scale=1 / 100)
    big = run(OneEuroFilter(), 3 * xs, scale=1 / 300)
    np.testing.assert_allclose(big, 3 * small, rtol=1e-9, atol=1e-9)


def test_reset_forgets_and_a_repeated_time_stamp_is_passed_through():
    f = OneEuroFilter()
    f(0.0, np.array([0.0]))
    smoothed = f(1 / 30, np.array([10.0]))
    assert 0.0 < smoothed[0] < 10.0
    assert f(1 / 30, np.array([50.0]))[0] == 50.0  # same time stamp: raw value, state untouched
    assert f(2 / 30, np.array([10.0]))[0] < 10.0  # continues from the earlier state, not from 50
    f.reset()
    assert f(3 / 30, np.array([-4.0]))[0] == -4.0


def test_bad_settings_are_refused():
    with pytest.raises(ValueError):
        OneEuroFilter(min_cutoff=0.0)

"""Percentiles as every figure here quotes them: p50 and p95, in milliseconds."""

from __future__ import annotations

from typing import Iterable

import numpy as np


def p50_p95(values: Iterable[float], scale: float = 1.0) -> tuple[float, float]:
    """The median and 95th percentile of ``values`` times ``scale`` (1000 turns seconds into ms); (nan, nan) if empty."""
    a = np.asarray(list(values), np.float64)
    if a.size == 0:
        return float("nan"), float("nan")
    p50, p95 = np.percentile(a * scale, [50, 95])
    return float(p50), float(p95)

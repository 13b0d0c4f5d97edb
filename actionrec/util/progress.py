"""A one-line progress report with items/s, for long loops in library code.

Library functions take an optional ``progress`` callable; the CLI passes a ``Progress`` that redraws one
line on stderr. Kept tiny on purpose: no dependency, no terminal tricks beyond a carriage return.
"""

from __future__ import annotations

import sys
import time
from typing import Callable, TextIO

ProgressFn = Callable[[int], None]  # called with how many items were just finished


class Progress:
    def __init__(self, label: str, total: int | None = None, unit: str = "frames", stream: TextIO | None = None):
        self.label, self.total, self.unit = label, total, unit
        self.stream = stream or sys.stderr
        self.done = 0
        self.start = time.perf_counter()
        self._last_draw = 0.0

    def __call__(self, n: int) -> None:
        self.done += n
        now = time.perf_counter()
        if now - self._last_draw >= 0.25:
            self._last_draw = now
            self._draw(end="")

    @property
    def rate(self) -> float:
        elapsed = time.perf_counter() - self.start
        return self.done / elapsed if elapsed > 0 else 0.0

    def _draw(self, end: str) -> None:
        total = f"/{self.total}" if self.total else ""
        pct = f" {100 * self.done / self.total:5.1f}%" if self.total else ""
        self.stream.write(f"\r{self.label}: {self.done}{total} {self.unit}{pct}  {self.rate:7.1f} {self.unit}/s{end}")
        self.stream.flush()

    def close(self) -> None:
        self._draw(end="\n")

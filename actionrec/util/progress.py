"""A one-line progress report with items/s, for long loops in library code.

Library functions take an optional ``progress`` callable; the CLI passes a ``Progress``. On a terminal it
redraws one line on stderr with a carriage return; redirected to a file (no TTY) it writes a whole line
every ``log_every`` seconds instead, since a file keeps every redraw: a redirected ``actionrec demo`` log
was one 30,000-character line. Kept tiny on purpose: no dependency, no terminal tricks beyond ``\\r``.
"""

from __future__ import annotations

import sys
import time
from typing import Callable, TextIO

ProgressFn = Callable[[int], None]  # called with how many items were just finished

REDRAW_EVERY = 0.25  # seconds between redraws on a terminal
LOG_EVERY = 5.0  # seconds between lines in a log file


def is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class Progress:
    def __init__(self, label: str, total: int | None = None, unit: str = "frames", stream: TextIO | None = None,
                 log_every: float = LOG_EVERY):
        self.label, self.total, self.unit = label, total, unit
        self.stream = stream or sys.stderr
        self.interactive = is_terminal(self.stream)
        self.every = REDRAW_EVERY if self.interactive else log_every
        self.done = 0
        self.start = time.perf_counter()
        self._last_draw = float("-inf")

    def __call__(self, n: int) -> None:
        self.done += n
        now = time.perf_counter()
        if now - self._last_draw >= self.every:
            self._last_draw = now
            self._draw(final=False)

    @property
    def rate(self) -> float:
        elapsed = time.perf_counter() - self.start
        return self.done / elapsed if elapsed > 0 else 0.0

    def _draw(self, final: bool) -> None:
        total = f"/{self.total}" if self.total else ""
        pct = f" {100 * self.done / self.total:5.1f}%" if self.total else ""
        text = f"{self.label}: {self.done}{total} {self.unit}{pct}  {self.rate:7.1f} {self.unit}/s"
        if self.interactive:
            self.stream.write(f"\r{text}" + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        self._draw(final=True)

"""Warnings for the user from library code that carries on: one line on stderr (``warning: ...``).

For what is repaired rather than refused, such as a damaged cache entry that is recomputed: the user should
know (a disk that corrupts files, a copied cache), but there is nothing to stop for.
"""

from __future__ import annotations

import sys


def warn(message: str) -> None:
    # sys.stderr looked up per call: the CLI's test runner swaps it.
    sys.stderr.write(f"warning: {message}\n")
    sys.stderr.flush()

"""The one exception type the user sees.

Library code raises ``ActionrecError`` with a message that names the file or value and what was
expected; the CLI prints just that message and exits with status 2 (no traceback).
"""

from __future__ import annotations

import errno
import os


class ActionrecError(Exception):
    """Bad input or environment, explained in one sentence for the user."""


# The failures a user can act on, in their words; any other errno keeps the OS's own text.
_REASONS = {
    errno.ENOSPC: "the disk is full (no space left on device)",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EISDIR: "is a folder, expected a file",
    errno.ENOENT: "does not exist",
    errno.EEXIST: "already exists",
    errno.ENAMETOOLONG: "file name too long",
    errno.EFBIG: "file too large for this file system",
}


def os_error_reason(exc: OSError) -> str:
    return _REASONS.get(exc.errno) or exc.strerror or str(exc) or type(exc).__name__


def from_os_error(exc: OSError, path: str | os.PathLike | None = None, action: str = "") -> ActionrecError:
    """One line for a failed file operation: the path, what was being done, and the reason.

    ``path`` is the file the user knows (the output, not the temp file beside it); without it, the
    path the OS reported.
    """
    where = path if path is not None else (exc.filename if exc.filename is not None else "(unknown path)")
    doing = f"{action}: " if action else ""
    return ActionrecError(f"{where}: {doing}{os_error_reason(exc)}")

"""Content digests: the identity of a file or a clip (a video or a folder of frames), memoised by size and mtime."""

from __future__ import annotations

import hashlib
from pathlib import Path

from actionrec.data.video import image_files

_HASH_MEMO: dict[tuple[str, int, int], str] = {}


def file_digest(path: Path) -> str:
    """sha256 of a file, memoized on (path, size, mtime) so repeated lookups are free."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _HASH_MEMO:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        _HASH_MEMO[key] = h.hexdigest()
    return _HASH_MEMO[key]


def clip_digest(path: Path) -> str:
    """Content hash of a clip: the video file's bytes, or every image's name and bytes in order."""
    if path.is_dir():
        h = hashlib.sha256()
        for f in image_files(path):
            h.update(f.name.encode() + b"\0" + file_digest(f).encode())
        return h.hexdigest()
    return file_digest(path)



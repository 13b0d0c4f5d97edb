"""Atomic writes: a temp file in the same folder, fsync, then rename.

A killed process leaves either the old file or the new one, never half of one. Every cache, model and
report in actionrec is written through these helpers. Temp names carry the writer's pid and actionrec's own tag,
so the next process writing in a folder removes what a killed writer left there
(``.NAME.<pid>.<random>.actionrec-tmp[.ext]``); that sweep touches only names of that exact form whose writer is
gone, never a user's file. (Until the tag, the form was ``.NAME.<pid>.<random>.tmp``, and a user's
``.notes.2024.draft_v1.tmp`` or ``.photos.old-2019`` beside an output matched it and was swept.) A disk that is full,
read-only or refuses permission gives one ``ActionrecError`` line naming the file being written.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from actionrec.errors import ActionrecError, from_os_error

# Errors of the write itself (as opposed to a bug or a bad input): reported as one line naming the target.
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG}


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temp path beside ``path``; on success rename it over ``path``, on error delete it.

    ``suffix`` keeps the extension libraries look at (Keras wants ``.keras``, OpenCV ``.mp4``).
    """
    path = Path(path)
    suffix = path.suffix if suffix is None else suffix
    with _write_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(path.parent)
        fd, tmp_path = new_temp_file(path, suffix)
        os.close(fd)
    try:
        with _write_errors(path):
            yield tmp_path
            with open(tmp_path, "rb+") as fh:
                os.fsync(fh.fileno())
            os.chmod(tmp_path, 0o666 & ~_UMASK)  # mkstemp makes 0600; artifacts get ordinary permissions
            _replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        raise


@contextlib.contextmanager
def _write_errors(path: Path) -> Iterator[None]:
    """A full disk, a read-only file system or a refused permission while writing ``path``: one line."""
    try:
        yield
    except OSError as exc:
        if exc.errno in _WRITE_ERRNOS:
            raise from_os_error(exc, path, "cannot write") from None
        raise


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def write_npz(path: str | os.PathLike, **arrays: np.ndarray) -> None:
    """Save plain (non-object) arrays; readers load them with ``allow_pickle=False``."""
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)


def with_temp_file(path: str | os.PathLike, write: Callable[[Path], None], suffix: str | None = None) -> None:
    """Run ``write(tmp_path)`` and move the result into place atomically."""
    with atomic_path(path, suffix=suffix) as tmp:
        write(tmp)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Build a whole directory in a temp folder beside ``path``, then swap it in.

    An existing directory at ``path`` is replaced only once the new one is complete; whether it may be
    replaced at all is the caller's question (``outputs.claim_output``). Anything else at ``path`` (a file)
    is refused, never moved aside.
    """
    path = Path(path)
    if path.is_symlink() and path.is_dir():  # the user's link stays: the folder it points to is replaced
        path = path.resolve()
    with _write_errors(path):
        _check_replaceable(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(path.parent)
        tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(path), suffix=f".{TEMP_TAG}", dir=path.parent))
        os.chmod(tmp, 0o777 & ~_UMASK)  # mkdtemp makes 0700; a model folder gets ordinary permissions
    try:
        with _write_errors(path):
            yield tmp
        _check_replaceable(path)  # the caller may have taken a while: look again before moving anything
        old = None
        if path.exists():
            old = path.with_name(f".{path.name}.{OLD_TAG}-{os.getpid()}")
            _replace(path, old, shown=path)
        try:
            _replace(tmp, path)
        except BaseException:
            if old is not None:
                os.replace(old, path)  # the previous one back in place, not left for the stale-temp sweep
            raise
        if old is not None:
            _remove_tree(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _check_replaceable(path: Path) -> None:
    if (path.exists() or path.is_symlink()) and not path.is_dir():  # a file, or a link to nothing
        raise ActionrecError(f"{path}: exists and is not a folder; it is left as it is (choose another path)")


def _remove_tree(folder: Path) -> None:
    if folder.is_symlink():
        folder.unlink()
    else:
        shutil.rmtree(folder, ignore_errors=True)


def _replace(src: Path, dst: Path, shown: Path | None = None) -> None:
    """``os.replace`` with a refusal as one line. Windows refuses to rename over, or move, a file that a program
    has open (a model a running ``actionrec live`` loaded, say), where Linux and macOS let the reader keep the old
    one."""
    if dst.is_dir() and not src.is_dir():
        # A user's folder where a file is to go: os.replace would raise IsADirectoryError; keep the folder.
        raise ActionrecError(f"{shown or dst}: is a folder, not a file; it is left as it is, choose another name")
    try:
        os.replace(src, dst)
    except PermissionError as exc:
        hint = "; close the program that has it open and retry" if sys.platform == "win32" else ""
        raise ActionrecError(f"{shown or dst}: cannot be replaced ({exc.strerror}){hint}") from None


TEMP_TAG = "actionrec-tmp"  # in every temp name: what the sweep deletes is only ever ours
OLD_TAG = "actionrec-old"  # a folder atomic_dir swapped out, until the new one is in place


def temp_prefix(path: Path) -> str:
    """The start of every temp name for ``path``: hidden, the target's name, the writer's pid."""
    return f".{path.name}.{os.getpid()}."


def new_temp_file(path: Path, suffix: str = "") -> tuple[int, Path]:
    """An open, new temp file beside ``path`` named as the sweep knows ours (``suffix``: an extension to keep)."""
    fd, name = tempfile.mkstemp(prefix=temp_prefix(path), suffix=f".{TEMP_TAG}{suffix}", dir=path.parent)
    return fd, Path(name)


# Exactly what ``temp_prefix`` + mkstemp/mkdtemp make (mkstemp's random part is [a-z0-9_]; the suffix is the
# tag plus at most the target's extension), and the ``.NAME.actionrec-old-<pid>`` folder ``atomic_dir`` swaps out.
_TEMP_NAME = re.compile(rf"^\.(?P<name>.+)\.(?P<pid>\d+)\.[a-z0-9_]{{8}}\.{TEMP_TAG}(?:\.[A-Za-z0-9]+)?$")
_OLD_NAME = re.compile(rf"^\.(?P<name>.+)\.{OLD_TAG}-(?P<pid>\d+)$")


def is_temp_name(name: str) -> bool:
    """Whether ``name`` is one actionrec's atomic writes make (a temp file/folder or a swapped-out folder)."""
    return bool(_TEMP_NAME.match(name) or _OLD_NAME.match(name))


_swept: set[Path] = set()  # folders already cleaned by this process


def remove_stale_temps(folder: str | os.PathLike) -> None:
    """Delete temp files/folders in ``folder`` whose writer no longer runs (it was killed mid-write).

    Only names of ``_TEMP_NAME``'s exact form are deleted. A swapped-out ``.NAME.actionrec-old-<pid>`` folder of a
    dead writer is deleted only when ``NAME`` is back in place; when the writer died between its two
    renames, the old folder is put back as ``NAME`` instead (it is the previous output, not a temp).
    Done once per folder and process: a cache folder of thousands of files is not rescanned per write.
    """
    folder = Path(folder).resolve()
    if folder in _swept or not folder.is_dir():
        return
    _swept.add(folder)
    for entry in folder.iterdir():
        if not entry.name.startswith("."):
            continue
        temp, old = _TEMP_NAME.match(entry.name), _OLD_NAME.match(entry.name)
        with contextlib.suppress(OSError):  # best effort: a sweep that cannot delete leaves the entry
            if temp and not _alive(int(temp["pid"])):
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
            elif old and entry.is_dir() and not _alive(int(old["pid"])):
                target = folder / old["name"]
                if target.exists() or target.is_symlink():
                    _remove_tree(entry)
                else:
                    os.replace(entry, target)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` still runs; when unsure, yes (its temp files are kept)."""
    if sys.platform == "win32":
        return _alive_windows(pid)  # os.kill(pid, 0) there is TerminateProcess(pid, 0): it would kill the writer
    try:
        os.kill(pid, 0)  # signal 0: only checks that the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _alive_windows(pid: int) -> bool:
    import ctypes
    from ctypes import wintypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    kernel32.OpenProcess.restype = wintypes.HANDLE
    kernel32.OpenProcess.argtypes = (wintypes.DWORD, wintypes.BOOL, wintypes.DWORD)
    kernel32.GetExitCodeProcess.argtypes = (wintypes.HANDLE, ctypes.POINTER(wintypes.DWORD))
    kernel32.CloseHandle.argtypes = (wintypes.HANDLE,)
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION: may only ask, not kill
    if not handle:
        return ctypes.get_last_error() != 87  # ERROR_INVALID_PARAMETER: no such process; access denied: it exists
    try:
        code = wintypes.DWORD()
        if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
            return True
        return code.value == 259  # STILL_ACTIVE; an exited process whose handle someone still holds is dead
    finally:
        kernel32.CloseHandle(handle)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")

"""TensorFlow's start-up chatter, kept off the command line's stderr.

TensorFlow 2.21 logs its first lines through absl before absl is set up, so ``TF_CPP_MIN_LOG_LEVEL`` does
not reach them: every command that loaded it printed seven lines above its own output ("oneDNN custom
operations are on", "Could not find cuda drivers", twice each, and on a machine with no GPU
"E0000 ... failed call to cuInit: ... UNKNOWN ERROR", which reads like a failure). C++ writes them to file
descriptor 2, so they can only be caught there: while TensorFlow loads and finds its devices, fd 2 goes to a
temporary file, and afterwards every line that is not this chatter (a real warning, a crash's last words)
is passed on. LiteRT prints one more line of its own on every model it loads ("INFO: Created TensorFlow
Lite XNNPACK delegate for CPU.", from ``allocate_tensors``): ``quiet_runtime`` catches that one the same way.
Only the CLI does this; the library leaves a program's stderr alone.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile
import threading
from pathlib import Path

_INFO = re.compile(r"^I\d{4} [\d:. ]+\d+ \S+\.cc:\d+\] ")  # absl's INFO prefix: I0000 00:00:1796.. 22290 port.cc:153]
_CHATTER = (
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "To enable the following instructions: ",  # the second line of cpu_feature_guard's INFO
    "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",  # LiteRT, once per interpreter
)
_NO_GPU = re.compile(r"^E\d{4} .*\] failed call to cuInit: ")


def has_nvidia_driver() -> bool:
    """A failed cuInit is news only where a GPU driver is installed; elsewhere it means "no GPU"."""
    return Path("/proc/driver/nvidia").exists() or Path("/dev/nvidiactl").exists()


def is_chatter(line: str, nvidia: bool = False) -> bool:
    return bool(_INFO.match(line)) or line.startswith(_CHATTER) or (not nvidia and bool(_NO_GPU.match(line)))


# fd 2 is one per process: two threads' blocks, interleaved, would restore it in the wrong order and leave it
# pointing at a closed temporary file. One block at a time; a block inside a block (same thread) nests.
_FD2 = threading.RLock()


@contextlib.contextmanager
def filtered_stderr():
    """Hold what is written to fd 2 in this block, then write it back without TensorFlow's chatter."""
    with _FD2:
        sys.stderr.flush()
        try:
            held = tempfile.TemporaryFile()
        except OSError:  # no writable temp folder: chatter is better than losing a real message
            yield
            return
        saved = os.dup(2)
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            nvidia = has_nvidia_driver()
            kept = [ln for ln in held.read().decode(errors="replace").splitlines(keepends=True)
                    if not is_chatter(ln, nvidia)]
            held.close()
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


class _QuietFirstImport(importlib.abc.MetaPathFinder):
    """Loads ``tensorflow``, the first time anything imports it, inside ``filtered_stderr`` and finds its
    devices there too (where the cuInit line comes from). Commands that never need TensorFlow stay as fast
    as before: nothing is imported ahead of time."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)  # once; also keeps find_spec below from finding this finder again
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        execute = spec.loader.exec_module

        def exec_module(module):
            with filtered_stderr():
                execute(module)
                module.config.list_physical_devices()

        spec.loader.exec_module = exec_module
        return spec


_quiet = False  # set by the CLI (quiet_tensorflow_startup): the library leaves stderr alone


def quiet_runtime():
    """``filtered_stderr()`` where the CLI asked for quiet, else a block that does nothing."""
    return filtered_stderr() if _quiet else contextlib.nullcontext()


def quiet_tensorflow_startup() -> None:
    """From now on, TensorFlow's first import in this process drops its start-up chatter (once is enough),
    and so does every block in ``quiet_runtime``."""
    global _quiet
    _quiet = True
    if "tensorflow" in sys.modules or any(isinstance(f, _QuietFirstImport) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _QuietFirstImport())

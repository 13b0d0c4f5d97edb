"""Atomic writes (actionrec.util.atomic): the old file or the new one, never half; never a user's file lost.

Crashes are real where it matters: a writer subprocess is killed with SIGKILL in the middle of its write
(or between atomic_dir's two renames), and a live writer is a real process still inside its write. Temp
names are taken from what the writers really made, not spelled out here, so these tests hold for any
naming scheme that keeps the contract.
"""

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import leftover_temp_files

from actionrec.errors import ActionrecError
from actionrec.util.atomic import (
    atomic_dir,
    atomic_path,
    remove_stale_temps,
    with_temp_file,
    write_bytes,
    write_json,
    write_npz,
    write_text,
)


def run_python(code: str) -> None:
    """Run ``code`` in a new Python process (a new actionrec process, with its own sweep)."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]


def finished_pid() -> int:
    """The pid of a process that has exited (what a killed writer's pid is)."""
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    return done.pid


def listing(folder: Path) -> dict[str, bytes | None]:
    """Every entry under ``folder`` with its bytes (None for folders)."""
    return {p.relative_to(folder).as_posix(): (None if p.is_dir() else p.read_bytes()) for p in sorted(folder.rglob("*"))}


# --- the writers: replace whole, by rename ------------------------------------------------------------------


@pytest.mark.parametrize("write, read", [
    (lambda p: write_bytes(p, b"\x00new\xff"), lambda p: p.read_bytes() == b"\x00new\xff"),
    (lambda p: write_text(p, "nouveau é\n"), lambda p: p.read_text(encoding="utf-8") == "nouveau é\n"),
    (lambda p: write_json(p, {"n": np.int64(3), "x": np.float32(0.5), "a": np.arange(3), "p": Path("a/b")}),
     lambda p: json.loads(p.read_text()) == {"n": 3, "x": 0.5, "a": [0, 1, 2], "p": "a/b"}),
    (lambda p: write_npz(p, emb=np.ones((2, 3), np.float32), times=np.array([0.0, 0.1])),
     lambda p: np.load(p, allow_pickle=False)["emb"].shape == (2, 3)),
], ids=["bytes", "text", "json", "npz"])
def test_writers_replace_the_old_file_by_rename(tmp_path, write, read):
    target = tmp_path / "out" / "artifact.npz"
    target.parent.mkdir()
    target.write_bytes(b"old contents")
    before = target.stat().st_ino
    with open(target, "rb") as reader:  # someone reading the old file while it is replaced
        write(target)
        assert reader.read() == b"old contents"  # a rename: the reader keeps the whole old file
    assert read(target) and target.stat().st_ino != before
    assert leftover_temp_files(tmp_path) == [] and [p.name for p in target.parent.iterdir()] == ["artifact.npz"]


def test_writers_make_missing_folders(tmp_path):
    write_text(tmp_path / "a" / "b" / "c.txt", "deep")
    assert (tmp_path / "a" / "b" / "c.txt").read_text() == "deep"


def test_a_value_json_cannot_hold_leaves_the_old_file(tmp_path):
    target = tmp_path / "report.json"
    target.write_text('{"old": true}')
    with pytest.raises(TypeError, match="cannot write object to JSON"):
        write_json(target, {"bad": object()})
    assert target.read_text() == '{"old": true}' and listing(tmp_path) == {"report.json": b'{"old": true}'}


# --- an error or a crash in the middle of a write ---------------------------------------------------------------


def test_an_error_inside_the_block_keeps_the_old_file_and_no_temp(tmp_path):
    target = tmp_path / "model.keras"
    target.write_bytes(b"old")
    seen = []

    def half_write(tmp: Path) -> None:
        seen.append(tmp)
        tmp.write_bytes(b"half of the new")
        raise OSError(5, "simulated I/O error")

    with pytest.raises(OSError, match="simulated I/O error"):
        with_temp_file(target, half_write)
    with pytest.raises(KeyboardInterrupt):  # an interrupt too (not only Exception)
        with atomic_path(target) as tmp:
            seen.append(tmp)
            tmp.write_bytes(b"half")
            raise KeyboardInterrupt
    assert target.read_bytes() == b"old"
    assert all(p.parent == tmp_path and p.name.startswith(".") and p.name != target.name for p in seen)
    assert listing(tmp_path) == {"model.keras": b"old"}  # no temp behind, even before any sweep


KILLED_WRITE = """
    import os, signal, sys
    from pathlib import Path
    from actionrec.util.atomic import atomic_path
    target = Path(sys.argv[1])
    with atomic_path(target, suffix={suffix!r}) as tmp:
        tmp.write_bytes(b"half of the new contents")
        print(tmp.name, os.getpid(), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)  # killed mid-write: no cleanup code runs
"""


@pytest.mark.parametrize("name, suffix", [("cache.npz", None), ("clip.mp4", ".mp4"), ("config.json", None)])
def test_a_killed_writer_leaves_the_old_file_and_the_next_sweep_removes_its_temp(tmp_path, name, suffix):
    target = tmp_path / name
    target.write_bytes(b"old")
    user_files = {"notes.txt": b"mine", ".hidden": b"also mine"}
    for n, data in user_files.items():
        (tmp_path / n).write_bytes(data)
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(KILLED_WRITE.format(suffix=suffix)), str(target)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    temp_name, pid = done.stdout.split()
    assert f".{pid}." in temp_name and temp_name.startswith(f".{name}.")  # the temp names its writer
    assert temp_name.endswith(suffix or Path(name).suffix)  # and keeps the extension libraries look at
    assert target.read_bytes() == b"old"  # the crash left the old file whole
    assert (tmp_path / temp_name).read_bytes() == b"half of the new contents"
    remove_stale_temps(tmp_path)
    assert listing(tmp_path) == {name: b"old", **user_files}


def test_temp_names_carry_the_writers_pid(tmp_path):
    with atomic_path(tmp_path / "history.json") as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".history.json.")
        assert f".{os.getpid()}." in tmp.name and tmp.suffix == ".json"
        tmp.write_text("{}")
    with atomic_dir(tmp_path / "model") as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".model.") and f".{os.getpid()}." in tmp.name


LIVE_WRITER = """
    import os, sys
    from pathlib import Path
    from actionrec.util.atomic import atomic_path
    with atomic_path(Path(sys.argv[1])) as tmp:
        tmp.write_bytes(b"still writing")
        print(tmp.name, flush=True)
        sys.stdin.read()  # in the middle of its write until the test closes stdin or kills it
"""


def test_a_live_writers_temp_is_kept_and_a_dead_ones_removed(tmp_path):
    target = tmp_path / "embeddings.npz"
    target.write_bytes(b"old")
    writer = subprocess.Popen([sys.executable, "-c", textwrap.dedent(LIVE_WRITER), str(target)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        temp = tmp_path / writer.stdout.readline().strip()
        assert f".{writer.pid}." in temp.name and temp.is_file()
        remove_stale_temps(tmp_path)  # another process sweeping while the writer is still at work
        write_text(tmp_path / "other.json", "{}")  # ... and writing in the same folder
        assert temp.read_bytes() == b"still writing" and writer.poll() is None
    finally:
        writer.kill()
        writer.wait()
    assert target.read_bytes() == b"old" and temp.exists()
    # The next process that writes in the folder finds the writer gone and removes its temp.
    run_python(f"from actionrec.util.atomic import write_text; write_text({str(tmp_path / 'next.txt')!r}, 'x')")
    assert not temp.exists()
    assert listing(tmp_path) == {"embeddings.npz": b"old", "next.txt": b"x", "other.json": b"{}"}


# Names a user may well have, close to actionrec's temp names but not made by any of its writers ({dead}: the pid
# of a process that has exited, so a liveness check alone would not save them).
USER_NAMES = [
    ".hidden",
    ".report.json.tmp",  # an editor's backup
    ".thesis.{dead}.backup.tmp",  # mkstemp's random part is 8 characters; "backup" is not one
    "notes.txt.{dead}.abcdefgh.tmp",  # not hidden: every temp name starts with a dot
    ".model.old-{dead}",  # a file: atomic_dir only ever moves folders aside
    ".photos.old-{dead}~",
    ".cache/{dead}.npz",  # inside a user's folder: the sweep looks at one folder, not below it
    # Matched the form before actionrec's tag (.NAME.<pid>.<8 of [a-z0-9_]>.tmp, .NAME.old-<pid>): swept then.
    ".notes.2024.draft_v1.tmp",
    ".model.keras.{dead}.ab12cd34.tmp.keras",
    ".photos.old-2019/beach.txt",  # a folder: once deleted, or renamed to "photos"
    ".mail.old-{dead}/letter.txt",
]


@pytest.mark.parametrize("pattern", USER_NAMES)
def test_the_sweep_never_touches_a_users_file(tmp_path, pattern):
    """Only names actionrec's writers make, and only when their writer is gone, are ever deleted."""
    name = pattern.format(dead=finished_pid())
    (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / name).write_bytes(b"the user's")
    before = listing(tmp_path)
    remove_stale_temps(tmp_path)
    write_bytes(tmp_path / "new.bin", b"n")
    with atomic_dir(tmp_path / "model") as tmp:
        (tmp / "config.json").write_text("{}")
    run_python(f"from actionrec.util.atomic import write_text; write_text({str(tmp_path / 'next.txt')!r}, 'x')")
    assert listing(tmp_path) == {**before, "new.bin": b"n", "model": None, "model/config.json": b"{}", "next.txt": b"x"}


# --- atomic_dir: a directory replaced whole ------------------------------------------------------------------


def test_atomic_dir_replaces_a_directory_whole(tmp_path):
    model = tmp_path / "model"
    (model / "savedmodel").mkdir(parents=True)
    (model / "config.json").write_text("old")
    (model / "savedmodel" / "x.pb").write_bytes(b"old")
    with atomic_dir(model) as tmp:
        assert listing(model) == {"config.json": b"old", "savedmodel": None, "savedmodel/x.pb": b"old"}
        (tmp / "config.json").write_text("new")
        (tmp / "model.keras").write_bytes(b"k")
    assert listing(model) == {"config.json": b"new", "model.keras": b"k"}  # nothing of the old one is kept
    assert [p.name for p in tmp_path.iterdir()] == ["model"]
    with atomic_dir(tmp_path / "fresh" / "model") as tmp:  # and a new one, parents made
        (tmp / "a").write_text("a")
    assert listing(tmp_path / "fresh") == {"model": None, "model/a": b"a"}


def test_an_error_while_building_a_directory_keeps_the_old_one(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("old")
    with pytest.raises(RuntimeError, match="conversion failed"):
        with atomic_dir(model) as tmp:
            (tmp / "config.json").write_text("new")
            raise RuntimeError("conversion failed")
    assert listing(tmp_path) == {"model": None, "model/config.json": b"old"}


KILLED_BETWEEN_RENAMES = """
    import os, signal, sys
    from pathlib import Path
    from actionrec.util import atomic
    real_replace, calls = os.replace, []

    def replace(src, dst):  # the crash lands just after the old folder was moved aside
        real_replace(src, dst)
        calls.append(dst)
        if len(calls) == 1:
            os.kill(os.getpid(), signal.SIGKILL)

    os.replace = replace
    with atomic.atomic_dir(Path(sys.argv[1])) as tmp:
        (tmp / "config.json").write_text("new")
"""


def test_a_writer_killed_between_the_two_renames_loses_no_directory(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("old")
    (model / "history.json").write_text("h")
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(KILLED_BETWEEN_RENAMES), str(model)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    assert not model.exists()  # the moment of the crash: the old folder is moved aside, the new one not in
    remove_stale_temps(tmp_path)  # what the next actionrec process does first in this folder
    assert listing(tmp_path) == {"model": None, "model/config.json": b"old", "model/history.json": b"h"}


def test_atomic_dir_never_moves_a_users_file_away(tmp_path):
    target = tmp_path / "model"
    target.write_text("a user's file where the model would go")
    with pytest.raises(ActionrecError) as err:
        with atomic_dir(target) as tmp:
            (tmp / "config.json").write_text("{}")
    assert str(target) in str(err.value) and "\n" not in str(err.value)
    assert listing(tmp_path) == {"model": b"a user's file where the model would go"}
    run_python(f"from actionrec.util.atomic import write_text; write_text({str(tmp_path / 'later.txt')!r}, 'x')")
    assert (tmp_path / "model").read_text() == "a user's file where the model would go"


def test_a_file_write_onto_a_users_folder_is_one_line_and_keeps_the_folder(tmp_path):
    target = tmp_path / "report.json"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with pytest.raises(ActionrecError) as err:
        write_json(target, {"a": 1})
    assert str(err.value).startswith(str(target)) and "\n" not in str(err.value)
    assert listing(tmp_path) == {"report.json": None, "report.json/keep.txt": b"mine"}


# --- permissions follow the umask ---------------------------------------------------------------------------


MODES = """
    import json, os, sys
    from pathlib import Path
    from actionrec.util.atomic import atomic_dir, write_bytes, write_npz
    import numpy as np
    root = Path(sys.argv[1])
    write_bytes(root / "a.bin", b"x")
    write_npz(root / "b.npz", x=np.zeros(2))
    with atomic_dir(root / "model") as tmp:
        (tmp / "f").write_text("f")
    with open(root / "plain.bin", "w"):
        pass
    os.mkdir(root / "plain_dir")
    print(json.dumps({p.name: os.stat(p).st_mode & 0o777 for p in root.iterdir()}))
"""


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002], ids=lambda u: f"umask-{u:03o}")
def test_modes_follow_the_umask(tmp_path, umask):
    done = subprocess.run([sys.executable, "-c", f"import os; os.umask({umask:#o})\n" + textwrap.dedent(MODES),
                           str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    modes = json.loads(done.stdout)
    # As any file or folder the process makes: 0600 from mkstemp or 0700 from mkdtemp would hide a model.
    assert modes["a.bin"] == modes["b.npz"] == modes["plain.bin"] == 0o666 & ~umask
    assert modes["model"] == modes["plain_dir"] == 0o777 & ~umask


def test_modes_in_this_process(tmp_path):
    write_text(tmp_path / "a.txt", "a")
    (tmp_path / "plain.txt").write_text("p")
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == stat.S_IMODE((tmp_path / "plain.txt").stat().st_mode)

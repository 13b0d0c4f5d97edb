"""What used to assume Linux: the stale-temp liveness check, renames the OS refuses, peak-memory figures.

These run on every OS; on Linux they check the same behaviour the Windows and macOS code paths must keep.
"""

import shutil
import subprocess
import sys
import time

import pytest

from actionrec.errors import ActionrecError
from actionrec.util import atomic
from actionrec.util.atomic import atomic_dir, remove_stale_temps, write_text

SLEEPER = [sys.executable, "-c", "import time; time.sleep(30)"]


def _finished_pid() -> int:
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    return done.pid


def test_liveness_check_leaves_the_process_running():
    # On Windows os.kill(pid, 0) is TerminateProcess: asking would have killed the writer.
    proc = subprocess.Popen(SLEEPER)
    try:
        assert atomic._alive(proc.pid)
        time.sleep(0.2)
        assert proc.poll() is None, "the liveness check stopped the process it asked about"
    finally:
        proc.kill()
        proc.wait()
    assert not atomic._alive(proc.pid)


def test_stale_temps_of_dead_writers_go_live_ones_stay(tmp_path):
    proc = subprocess.Popen(SLEEPER)
    try:
        dead = tmp_path / f".model.keras.{_finished_pid()}.abc12345.actionrec-tmp.keras"
        live = tmp_path / f".model.keras.{proc.pid}.xyz78901.actionrec-tmp.keras"
        old_dir = tmp_path / f".model.actionrec-old-{_finished_pid()}"
        mine = tmp_path / "model.keras"  # not a temp name: never touched
        for f in (dead, live, mine):
            f.write_bytes(b"x")
        old_dir.mkdir()
        remove_stale_temps(tmp_path)
        assert not dead.exists() and not old_dir.exists()
        assert live.exists() and mine.exists()
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture
def immutable():
    """chattr +i: a real EPERM from rename on Linux even as root (what Windows says for a file held open)."""
    if not shutil.which("chattr"):
        pytest.skip("no chattr here")
    marked = []

    def mark(path):
        done = subprocess.run(["chattr", "+i", str(path)], capture_output=True)
        if done.returncode:
            pytest.skip(f"chattr +i not possible here: {done.stderr.decode().strip()}")
        marked.append(path)

    yield mark
    for path in marked:
        subprocess.run(["chattr", "-i", str(path)], capture_output=True)


def test_refused_replace_is_one_line_and_keeps_the_old_file(tmp_path, immutable):
    target = tmp_path / "report.json"
    target.write_text("old")
    immutable(target)
    with pytest.raises(ActionrecError) as e:
        write_text(target, "new")
    assert str(e.value).startswith(f"{target}: cannot be replaced (")
    assert "\n" not in str(e.value)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]  # the temp file was removed


def test_refused_directory_swap_puts_the_old_directory_back(tmp_path, immutable):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("old")
    with pytest.raises(ActionrecError, match=r"cannot be replaced"):
        with atomic_dir(model) as tmp:
            (tmp / "config.json").write_text("new")
            immutable(tmp)  # moving the old one aside works; moving the new one in is refused
    assert (model / "config.json").read_text() == "old"
    assert not any(p.name.startswith(".model.actionrec-old-") for p in tmp_path.iterdir())


def test_peak_rss_follows_a_touched_allocation():
    code = ("import numpy as np; from actionrec.util.memory import peak_rss_mb; a = peak_rss_mb(); "
            "x = np.ones(300 << 17); print(a, peak_rss_mb())")  # 300 MiB of float64, every page written
    a, b = map(float, subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                     check=True).stdout.split())
    assert 5 < a < 300, a
    assert 290 < b - a < 340, (a, b)

"""Progress in a log file versus on a terminal, from real subprocesses (stderr to a file, or to a pty)."""

import os
import pty
import subprocess
import sys
import textwrap

from conftest import build_class_dataset

# Two seconds of work reported every 0.5 s: a log line each time, never a carriage return.
TICKING = textwrap.dedent("""
    import time
    from actionrec.util.progress import Progress
    bar = Progress("work", total=2000, unit="items", log_every={every})
    for _ in range(200):
        time.sleep(0.01)
        bar(10)
    bar.close()
""")


def _run_to_file(tmp_path, code: str) -> str:
    log = tmp_path / "log.txt"
    with open(log, "w") as fh:
        subprocess.run([sys.executable, "-c", code], stderr=fh, stdout=fh, check=True, timeout=120)
    return log.read_bytes().decode()  # bytes: text mode would turn a "\r" into a newline


def test_redirected_progress_writes_whole_lines_every_few_seconds(tmp_path):
    text = _run_to_file(tmp_path, TICKING.format(every=0.5))
    assert "\r" not in text
    lines = text.splitlines()
    # The first call, one line about every 0.5 s of the two-plus seconds, and the closing line.
    assert 4 <= len(lines) <= 8, lines
    assert all(ln.startswith("work: ") and len(ln) < 80 for ln in lines)
    assert lines[-1].startswith("work: 2000/2000 items 100.0%")


def test_default_log_interval_keeps_a_short_job_to_two_lines(tmp_path):
    lines = _run_to_file(tmp_path, TICKING.format(every=5.0)).splitlines()
    assert len(lines) == 2 and lines[0].startswith("work: 10/2000") and "2000/2000" in lines[1]


def test_terminal_progress_still_redraws_one_line(tmp_path):
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-c", TICKING.format(every=5.0)], stderr=follower, stdout=follower)
    os.close(follower)
    out = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    assert proc.wait(timeout=60) == 0
    os.close(leader)
    assert out.count(b"\rwork: ") >= 5  # redrawn in place about every 0.25 s
    assert out.count(b"\n") == 1 and b"2000/2000 items 100.0%" in out.splitlines()[-1]  # one line, ended once


def test_embed_command_log_has_no_carriage_returns(tmp_path):
    root = build_class_dataset(tmp_path / "data")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    log = tmp_path / "embed.log"
    with open(log, "w") as fh:
        done = subprocess.run([sys.executable, "-m", "actionrec", "embed", str(root)], stdout=fh, stderr=fh,
                              env=env, timeout=600)
    text = log.read_bytes().decode()
    assert done.returncode == 0, text
    assert "\r" not in text
    progress = [ln for ln in text.splitlines() if ln.startswith("embed: ")]
    # 42 frames, each through MobileNet twice (the frame and its difference: the default mobilenet+diff).
    assert progress and progress[-1].startswith("embed: 84/84 frames 100.0%"), text

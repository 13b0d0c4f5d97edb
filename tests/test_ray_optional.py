"""Ray is optional: without the extra nothing imports it, and ``embed --ray`` is one line saying how to get it."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from conftest import build_class_dataset


def test_nothing_imports_ray_unless_asked():
    code = "import sys, actionrec.cli, actionrec.features.distributed, actionrec.learn.distributed; print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_embed_ray_without_the_extra_is_one_line(tmp_path, monkeypatch):
    from actionrec.cli import app

    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` meets where the extra is not installed
    root = build_class_dataset(tmp_path / "ds", frames=5)
    result = CliRunner().invoke(app, ["embed", str(root), "--ray"])
    assert result.exit_code == 2
    assert result.output.strip() == "error: --ray needs the optional Ray extra: pip install 'actionrec[ray]'"
    assert not (root / ".cache").exists()


def test_a_ray_address_nothing_answers_at_is_one_line_at_once(tmp_path):
    """Ray itself retries such an address for minutes; the check refuses it before any work."""
    import socket
    import time

    pytest.importorskip("ray")
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    root = build_class_dataset(tmp_path / "ds", frames=5)
    for address, says in ((f"127.0.0.1:{port}", "Connection refused"), ("no-such-host.invalid:6379", "")):
        started = time.monotonic()
        result = subprocess.run([sys.executable, "-m", "actionrec", "embed", str(root), "--ray-address", address],
                                capture_output=True, text=True, timeout=120)
        lines = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
        assert result.returncode == 2 and len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
        assert f"--ray-address {address}: nothing answers there" in lines[0] and says in lines[0]
        assert time.monotonic() - started < 60 and not (root / ".cache").exists()

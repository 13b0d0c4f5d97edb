"""Ray is optional: without the extra nothing imports it, and ``embed --ray`` is one line saying how to get it."""

from __future__ import annotations

import subprocess
import sys

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

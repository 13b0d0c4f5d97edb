"""The whole dependency set resolves to binary wheels on every OS we support, as PyPI serves it today.

pip's resolver is asked, per platform tag, for the project's dependencies (read from pyproject.toml, since
the project itself is a local path) with every extra, so a pin that has no wheel for one OS fails here
rather than on a player's Mac. It checks which TensorFlow distribution each OS gets, that ai-edge-litert
is there, and that the ``gpu`` extra never brings ``tensorflow-cpu`` next to ``tensorflow``.

pip evaluates environment markers against the interpreter running it, even with ``--platform`` (a
``dep; sys_platform == "win32"`` is dropped on Linux), so the markers of *our* requirements are evaluated
here for each target; markers of transitive dependencies are still evaluated for this host.

Needs PyPI (CI has it); skipped only when it cannot be reached. The resolutions run in parallel: each
is network-bound (package metadata only, no wheel is downloaded).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
PYPI = "https://pypi.org/simple"
TF_DISTS = {"tensorflow", "tensorflow-cpu", "tensorflow-intel", "tensorflow-macos", "tensorflow-cpu-aws"}


def _manylinux(arch: str) -> list[str]:
    # A glibc 2.28 system (RHEL 8, Debian 10, Ubuntu 20.04 have 2.28 or newer) takes every manylinux tag up to
    # 2_28; pip does not expand an explicit --platform to the older ones itself.
    return [f"manylinux_2_{minor}_{arch}" for minor in range(28, 16, -1)] + [f"manylinux2014_{arch}"]


@dataclass(frozen=True)
class Target:
    name: str
    tags: list[str]
    markers: dict[str, str]  # what the marker variables are on that OS
    gpu: bool  # resolve with the gpu extra too
    tensorflow: str  # the distribution it must get


def _env(sys_platform: str, system: str, machine: str, os_name: str) -> dict[str, str]:
    return {"sys_platform": sys_platform, "platform_system": system, "platform_machine": machine, "os_name": os_name}


TARGETS = [
    Target("linux-x86_64", _manylinux("x86_64"), _env("linux", "Linux", "x86_64", "posix"), False, "tensorflow"),
    Target("linux-x86_64-gpu", _manylinux("x86_64"), _env("linux", "Linux", "x86_64", "posix"), True, "tensorflow"),
    Target("linux-aarch64", _manylinux("aarch64"), _env("linux", "Linux", "aarch64", "posix"), True, "tensorflow"),
    Target("macos-arm64", ["macosx_12_0_arm64"], _env("darwin", "Darwin", "arm64", "posix"), True, "tensorflow"),
    Target("windows-x86_64", ["win_amd64"], _env("win32", "Windows", "AMD64", "nt"), True, "tensorflow"),
]


def _project() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]


def requirements_for(target: Target) -> list[str]:
    """Our requirement strings that apply on ``target``, markers evaluated there and then dropped."""
    project = _project()
    extras = project.get("optional-dependencies", {})
    chosen = [("", project["dependencies"])]
    chosen += [(name, reqs) for name, reqs in extras.items() if name != "gpu" or target.gpu]
    env = {**default_environment(), **target.markers, "python_version": "3.11", "python_full_version": "3.11.9",
           "implementation_name": "cpython", "platform_python_implementation": "CPython"}
    out = []
    for extra, reqs in chosen:
        for text in reqs:
            req = Requirement(text)
            if canonicalize_name(req.name) == canonicalize_name(project["name"]):
                continue  # a self-reference such as "actionrec[ray]": its requirements are listed anyway
            if req.marker is None or req.marker.evaluate({**env, "extra": extra}):
                req.marker = None
                out.append(str(req))
    return out


def _pip_env() -> dict[str, str]:
    # PyPI as a user sees it: no local mirrors, find-links or constraints from this machine's pip config.
    env = {k: v for k, v in os.environ.items()
           if k not in ("PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL", "PIP_INDEX_URL", "PIP_CONSTRAINT", "PIP_NO_INDEX",
                        "PIP_REQUIRE_VIRTUALENV", "PIP_TARGET", "PIP_PREFIX", "PIP_USER")}
    env["PIP_CONFIG_FILE"] = os.devnull
    return env


def _pypi_reachable() -> str:
    """'' when PyPI answers, else why not."""
    try:
        with urllib.request.urlopen(f"{PYPI}/pip/", timeout=10) as r:
            return "" if r.status == 200 else f"HTTP {r.status}"
    except (urllib.error.URLError, OSError) as e:
        return str(getattr(e, "reason", e))


@pytest.fixture(scope="module")
def resolutions(tmp_path_factory) -> dict[str, tuple[int, str, dict | None]]:
    """target name -> (pip's exit code, its stderr tail, its --report JSON or None)."""
    why = _pypi_reachable()
    if why:
        pytest.skip(f"PyPI ({PYPI}) is unreachable: {why}")
    root = tmp_path_factory.mktemp("platforms")
    out = _resolve_all(root, fast=True)
    if any(code and "invalid choice" in err for code, err, _ in out.values()):
        out = _resolve_all(root, fast=False)  # a pip that dropped the experimental feature
    return out


def _resolve_all(root: Path, fast: bool) -> dict[str, tuple[int, str, dict | None]]:
    procs = {}
    for target in TARGETS:
        report = root / f"{target.name}.json"
        cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
               "--only-binary=:all:", "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311",
               "--index-url", PYPI, "--target", str(root / f"{target.name}-target"), "--report", str(report)]
        # Range requests for each wheel's metadata instead of the whole wheel (the index served here has no
        # separate metadata files): all five took 32 s instead of 86 s, without 2 GB of TensorFlow wheels alone.
        cmd += ["--use-feature=fast-deps"] if fast else []
        for tag in target.tags:
            cmd += ["--platform", tag]
        cmd += requirements_for(target)
        procs[target.name] = (subprocess.Popen(cmd, env=_pip_env(), stdout=subprocess.DEVNULL,
                                               stderr=subprocess.PIPE, text=True), report)
    out = {}
    for name, (proc, report) in procs.items():
        try:
            _, err = proc.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        lines = [line for line in err.strip().splitlines() if "fast-deps" not in line or proc.returncode]
        parsed = json.loads(report.read_text()) if proc.returncode == 0 else None
        out[name] = (proc.returncode, "\n".join(lines[-8:]), parsed)
    return out


def _installed(report: dict) -> dict[str, str]:
    return {canonicalize_name(i["metadata"]["name"]): i["metadata"]["version"] for i in report["install"]}


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
def test_dependencies_resolve(target, resolutions):
    code, err, report = resolutions[target.name]
    assert code == 0, f"{target.name} ({target.tags[0]}): pip cannot resolve {requirements_for(target)}:\n{err}"
    installed = _installed(report)
    tf = sorted(TF_DISTS & installed.keys())
    # Exactly one TensorFlow: two would overwrite each other's files in site-packages/tensorflow.
    assert tf == [target.tensorflow], f"{target.name}: TensorFlow distributions {tf}"
    assert installed["tensorflow"].startswith("2.21."), installed["tensorflow"]
    # The live loop's fast path is there on every OS (no fallback needed).
    assert "ai-edge-litert" in installed, f"{target.name}: no ai-edge-litert"
    for name in ("opencv-python-headless", "sindre-imgaug", "numpy", "keras", "pytest"):
        assert name in installed, f"{target.name}: no {name}"
    cuda = sorted(n for n in installed if n.startswith("nvidia-"))
    if target.gpu and target.name.startswith("linux-x86_64"):
        assert "nvidia-cudnn-cu12" in cuda, f"{target.name}: the gpu extra brought no cuDNN: {cuda}"
    else:
        # Without the extra, or where TensorFlow has no CUDA build, no 3 GB of CUDA wheels.
        assert cuda == [], f"{target.name}: CUDA wheels {cuda}"


def test_requirements_are_evaluated_per_os():
    # The resolutions above are only as good as this: each target's requirement list is what pip would
    # compute on that OS from our markers.
    linux = requirements_for(TARGETS[0])
    gpu = requirements_for(TARGETS[1])
    assert any(r.startswith("tensorflow==") for r in linux)
    assert not any("and-cuda" in r for r in linux)
    assert any(r.startswith("tensorflow[and-cuda]") for r in gpu)
    for target in TARGETS[2:]:
        assert not any("and-cuda" in r for r in requirements_for(target)), target.name

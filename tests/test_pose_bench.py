"""bench_pose returns complete, consistent, JSON-able figures (speed itself is judged from its output)."""

from __future__ import annotations

import json

import pytest
from conftest import PUNCH_AVI

from actionrec.errors import ActionrecError
from actionrec.features.pose.assets import ENV_VAR
from actionrec.features.pose.bench import bench_pose



@pytest.fixture(autouse=True)
def pose_models(monkeypatch, pose_models_dir):
    monkeypatch.setenv(ENV_VAR, str(pose_models_dir))


def test_bench_figures_are_complete_and_consistent():
    r = bench_pose(PUNCH_AVI, seconds=1.0)
    json.dumps(r)  # JSON-able as it is
    for name in ("step", "step_cpu", "detector", "detector_invoke", "landmarks", "landmarks_invoke"):
        p50, p95 = r[f"{name}_ms_p50"], r[f"{name}_ms_p95"]
        assert 0 < p50 <= p95, name
    assert r["num_threads"] == 1 and r["frame_size"] == [320, 240] and r["video_frames"] == 108
    assert r["steps"] >= 20 and 1 <= r["detector_runs"] <= r["steps"]
    assert 0.0 < r["poses_found_share"] <= 1.0
    # The step runs the landmark model at least once per frame where it tracks, so it cannot be cheaper
    # than the bare landmark model by much (allowing for noise on a shared machine).
    assert r["step_ms_p50"] > 0.5 * r["landmarks_invoke_ms_p50"]


def test_bench_refuses_a_non_video(tmp_path):
    bad = tmp_path / "not_a_video.avi"
    bad.write_bytes(b"nothing here")
    with pytest.raises(ActionrecError, match="not_a_video.avi"):
        bench_pose(bad, seconds=0.5)
    with pytest.raises(ActionrecError, match="seconds"):
        bench_pose(PUNCH_AVI, seconds=0)


def test_bench_embed_with_pose_features_on_a_real_clip():
    """`bench embed --features pose`: the full pose path (decode, tracked BlazePose) next to the models alone."""
    from typer.testing import CliRunner

    from actionrec.cli import app

    result = CliRunner().invoke(app, ["bench", "embed", "--features", "pose", "--video", str(PUNCH_AVI), "--seconds", "0"])
    assert result.exit_code == 0, result.output
    r = json.loads(result.output)
    assert r["features"] == "pose" and r["repeats"] == 3
    assert r["frames_per_run"] == 43  # 108 frames at 25 fps (4.32 s), sampled at 10 fps: 0.0, 0.12, ... 4.2 s
    assert r["full_fps"] > 0 and r["raw_fps"] > 0
    assert r["full_cpu_ms_per_frame"] > 0 and r["source"].startswith("ucf101_punch_g03_c01.avi 320x240 25 fps")


def test_bench_embed_ray_is_mobilenet_only():
    from typer.testing import CliRunner

    from actionrec.cli import app

    result = CliRunner().invoke(app, ["bench", "embed", "--features", "both", "--ray"])
    assert result.exit_code == 2
    assert result.output.strip() == "error: --features both --ray: the Ray comparison embeds MobileNet features only"

"""Synthetic fighters: determinism, layout, annotations that match the rendered motion, kick geometry."""

from __future__ import annotations

import csv
import filecmp
import json
import signal
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from actionrec.errors import ActionrecError
from actionrec.synth.figure import forward_kinematics
from actionrec.synth.options import CLASSES, MOVES, SynthConfig, RenderOptions
from actionrec.synth.plan import Timeline, plan_dataset
from actionrec.synth.moves import kick_extension, move_keys
from actionrec.synth.people import make_person
from actionrec.synth.dataset import synthesize
from actionrec.data.video import FrameSpec, probe, read_clip

# Tiny but complete: 2 people x 7 classes x 1 clip, one 16 s sparring video each.
TINY = dict(people=2, clips_per_class=1, seed=3, sparring_per_person=1, sparring_seconds=16.0)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "ds"
    summary = synthesize(out, **TINY)
    assert summary.rendered == summary.clips + summary.sparring == 2 * 7 + 2
    return out


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _videos(out: Path) -> set[str]:
    return {p.relative_to(out).as_posix() for p in out.rglob("*.mp4") if not p.name.startswith(".")}


def test_layout_and_groups_list_every_clip(tiny: Path):
    videos = _videos(tiny)
    for label in CLASSES:
        assert {v for v in videos if v.startswith(label + "/")} == {f"{label}/p00_c00.mp4", f"{label}/p01_c00.mp4"}
    assert {v for v in videos if v.startswith("sparring/")} == {"sparring/p00_s00.mp4", "sparring/p01_s00.mp4"}
    groups = _rows(tiny / "groups.csv")
    assert len(groups) == len(videos) and {r["clip"] for r in groups} == videos
    for r in groups:
        assert r["group"] == Path(r["clip"]).name[:3]  # the person in the file name, e.g. p01
    config = json.loads((tiny / "synth.json").read_text())
    assert config["seed"] == TINY["seed"] and config["counts"]["clips"] == 14
    assert (tiny / "preview.png").stat().st_size > 10_000


def test_clips_decode_and_last_at_least_two_seconds(tiny: Path):
    for video in sorted(_videos(tiny)):
        info = probe(tiny / video)
        assert 20 <= info.fps <= 30 and (info.width, info.height) == (320, 180)
        frames, times = read_clip(tiny / video, FrameSpec())
        assert frames.shape[1:] == (56, 100, 3) and frames.dtype == np.uint8
        if not video.startswith("sparring/"):
            assert 2.0 <= info.duration <= 2.65, video
            assert len(frames) >= 20  # a 16-frame window at 10 fps fits
        assert frames[0].std() > 5  # a scene, not a blank frame


def test_annotations_tile_each_sparring_video(tiny: Path):
    rows = _rows(tiny / "annotations.csv")
    assert rows and set(rows[0]) == {"video", "start", "end", "label"}
    by_video: dict[str, list[dict]] = {}
    for r in rows:
        by_video.setdefault(r["video"], []).append(r)
    assert set(by_video) == {v for v in _videos(tiny) if v.startswith("sparring/")}
    for video, segs in by_video.items():
        assert float(segs[0]["start"]) == 0.0
        for a, b in zip(segs, segs[1:]):
            assert a["end"] == b["start"] and float(a["start"]) < float(a["end"])
            assert not (a["label"] == b["label"] == "other/idle")  # idle after idle is one segment
        assert abs(float(segs[-1]["end"]) - probe(tiny / video).duration) < 1e-3
        assert {s["label"] for s in segs} <= set(CLASSES)
        # Moves are separated by idling or walking, never back to back.
        for a, b in zip(segs, segs[1:]):
            assert not (a["label"] in MOVES and b["label"] in MOVES)


def test_annotations_match_the_rendered_motion(tiny: Path):
    """Kick segments hold frames with the kicking foot high, punch segments with the punching arm
    straight; idle and walk segments never do either. Checked on the skeletons behind the videos."""
    plans = {p.path: p for p in plan_dataset(SynthConfig(**TINY)) if p.label == "sparring"}
    seen = set()
    for r in _rows(tiny / "annotations.csv"):
        plan = plans[r["video"]]
        body = plan.person.body
        t = plan.times[(plan.times >= float(r["start"])) & (plan.times < float(r["end"]))]
        skel = plan.skeletons(t)
        foot_high = skel.joint("rear_ankle")[:, 1].max() / (body.thigh + body.shin)
        arm = body.upper_arm + body.forearm + body.hand_r
        straight = {s: (np.linalg.norm(skel.joint(f"{s}_hand") - skel.joint(f"{s}_shoulder"), axis=1) / arm).max()
                    for s in ("lead", "rear")}
        label = r["label"]
        seen.add(label)
        assert (foot_high > 0.6) == label.startswith("kick/"), (r, foot_high)
        assert (straight["lead"] > 0.9) == (label == "punch/jab"), (r, straight)
        assert (straight["rear"] > 0.9) == (label == "punch/cross"), (r, straight)
        if label.startswith("other/"):
            assert foot_high < 0.3 and max(straight.values()) < 0.85, (r, foot_high, straight)
    assert seen == set(CLASSES)  # sparring draws moves round by round: all appear in 2 x 16 s


def test_moves_fill_class_clips_and_the_fighter_fills_the_frame():
    """What makes the moves learnable at 100x56: every 16-frame window (1.6 s at 10 fps) of a move or walk
    clip is mostly that move, and the standing fighter is most of the frame height, wholly inside it."""
    plans = plan_dataset(SynthConfig(**{**TINY, "people": 3, "clips_per_class": 3}))
    for plan in plans:
        body = plan.person.body
        standing = body.torso + body.neck + 2 * body.head_r + body.thigh + body.shin
        assert 0.7 <= plan.scene.view.scale * standing / plan.scene.height <= 0.95, plan.path
        uv, _ = plan.scene.view.project(plan.skeletons().points)
        assert uv[..., 0].min() > 0 and uv[..., 0].max() < plan.scene.width, plan.path
        assert uv[..., 1].min() > 0 and uv[..., 1].max() < plan.scene.height, plan.path
        if plan.label in MOVES or plan.label == "other/walk":
            segs = [s for s in plan.segments() if s.label == plan.label]
            for t in np.arange(0.0, plan.duration - 1.6 + 1e-9, 0.1):
                moving = sum(max(0.0, min(s.end, t + 1.6) - max(s.start, t)) for s in segs)
                assert moving >= 0.5 * 1.6, (plan.path, t, moving)


def _kick_timeline(label: str, person, mirrored: bool = True) -> tuple[Timeline, float]:
    """A timeline of one kick alone and the time its approach reaches full extension."""
    tl = Timeline(person.guard)
    keys = move_keys(label, person, RenderOptions(mirrored_kick_returns=mirrored))
    tl.add(label, keys)
    ext = kick_extension(person).vector()
    # The extension is the first key whose pose equals the shared extension (up to whole turns).
    t, reached = 0.0, None
    for k in keys:
        t += k.dt
        v = k.pose.vector()
        if np.allclose(np.cos(np.radians(v - ext)), 1.0) and reached is None:
            reached = t
    assert reached is not None
    return tl, reached


def test_roundhouse_and_back_kick_share_the_extension_but_not_the_approach():
    person = make_person(0, 1)
    body = person.body
    rh, t_rh = _kick_timeline("kick/roundhouse", person)
    bk, t_bk = _kick_timeline("kick/back", person)
    at_ext = [forward_kinematics(body, tl.poses_at(np.array([t]))) for tl, t in ((rh, t_rh), (bk, t_bk))]
    np.testing.assert_allclose(at_ext[0].points, at_ext[1].points, atol=1e-9)
    kick_foot = at_ext[0].joint("rear_ankle")[0]
    assert kick_foot[1] > 0.6 * (body.thigh + body.shin)  # leg about horizontal
    assert kick_foot[0] > 0.7 * (body.thigh + body.shin)  # towards the opponent (+x)

    # Mid-approach: the roundhouse turns its back to the camera with the knee out to the side; the back
    # kick turns its chest past the camera with the knee drawn in.
    approach_rh = forward_kinematics(body, rh.poses_at(np.linspace(0, t_rh, 30)))
    approach_bk = forward_kinematics(body, bk.poses_at(np.linspace(0, t_bk, 30)))
    facing_rh, facing_bk = approach_rh.chest[:, 2], approach_bk.chest[:, 2]  # +1: chest to the camera
    assert facing_rh.min() < -0.8 and facing_rh.max() <= facing_rh[0] + 1e-9
    assert facing_bk.max() > 0.8 and facing_bk.min() > -0.3
    assert np.abs(approach_rh.points - approach_bk.points).max(axis=(1, 2))[10:20].min() > 0.3

    # By default each returns along the other's approach: the two kicks are time reverses of each other.
    times = np.linspace(0, rh.end, 41)
    forward = forward_kinematics(body, rh.poses_at(times)).points
    backward = forward_kinematics(body, bk.poses_at(bk.end - times)).points
    assert rh.end == pytest.approx(bk.end)
    np.testing.assert_allclose(forward, backward, atol=1e-6)

    # With own-path returns they are not.
    rh_own, _ = _kick_timeline("kick/roundhouse", person, mirrored=False)
    bk_own, _ = _kick_timeline("kick/back", person, mirrored=False)
    a = forward_kinematics(body, rh_own.poses_at(np.linspace(0, rh_own.end, 41))).points
    b = forward_kinematics(body, bk_own.poses_at(bk_own.end - np.linspace(0, bk_own.end, 41))).points
    assert np.abs(a - b).max() > 0.3


def test_same_seed_same_files_different_seed_different(tiny: Path, tmp_path: Path):
    again = tmp_path / "again"
    synthesize(again, **TINY)
    files = sorted(_videos(tiny)) + ["annotations.csv", "groups.csv", "synth.json", "preview.png"]
    match, mismatch, errors = filecmp.cmpfiles(tiny, again, files, shallow=False)
    assert not mismatch and not errors and len(match) == 20

    other = tmp_path / "other"
    synthesize(other, **{**TINY, "seed": 4, "sparring_per_person": 0})
    a, _ = read_clip(tiny / "kick/back/p00_c00.mp4", FrameSpec())
    b, _ = read_clip(other / "kick/back/p00_c00.mp4", FrameSpec())
    assert a.shape != b.shape or np.abs(a.astype(int) - b.astype(int)).mean() > 5


def test_complete_folder_is_cached_and_other_configs_refused(tiny: Path, tmp_path: Path):
    before = {p: p.stat().st_mtime_ns for p in tiny.rglob("*") if p.is_file()}
    assert synthesize(tiny, **TINY).rendered == 0
    assert {p: p.stat().st_mtime_ns for p in tiny.rglob("*") if p.is_file()} == before

    with pytest.raises(ActionrecError, match=r"ds.*different config.*seed"):
        synthesize(tiny, **{**TINY, "seed": 99})
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    (stranger / "notes.txt").write_text("mine")
    with pytest.raises(ActionrecError, match="stranger.*not empty"):
        synthesize(stranger, **TINY)


def test_killed_run_resumes_to_the_same_bytes(tiny: Path, tmp_path: Path):
    out = tmp_path / "resumed"
    code = f"from actionrec.synth.dataset import synthesize; synthesize({str(out)!r}, **{TINY!r})"
    proc = subprocess.Popen([sys.executable, "-c", code])
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(_videos(out)) < 4 and proc.poll() is None:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    partial = len(_videos(out))
    assert 4 <= partial < 16 and not (out / "synth.json").exists()  # killed midway
    summary = synthesize(out, **TINY)
    assert summary.rendered == 16 - partial
    files = sorted(_videos(tiny)) + ["annotations.csv", "groups.csv", "synth.json"]
    match, mismatch, errors = filecmp.cmpfiles(tiny, out, files, shallow=False)
    assert not mismatch and not errors
    assert not [p for p in out.rglob("*") if "actionrec-tmp" in p.name]  # no half-written leftovers


def test_a_video_that_is_not_complete_is_rendered_again(tiny: Path, tmp_path: Path):
    """Present is not proof: earlier versions committed videos a full disk had cut short (no moov atom)."""
    out = tmp_path / "copy"
    shutil.copytree(tiny, out)
    victim = out / "kick/back/p00_c00.mp4"
    victim.write_bytes(victim.read_bytes()[:-300])
    assert synthesize(out, **TINY).rendered == 1
    assert victim.read_bytes() == (tiny / "kick/back/p00_c00.mp4").read_bytes()


def test_remake_replaces_only_a_synthetic_dataset_of_another_config(tmp_path: Path):
    """The demo's own caches: after an upgrade changes the preset, its old dataset is made again, not refused."""
    keypoints = dict(TINY, options=RenderOptions(keypoints=True))
    out = tmp_path / "starter-synth"
    synthesize(out, **keypoints)
    (out / "kick" / "stale.txt").write_text("left by the earlier version")
    changed = dict(keypoints, options=RenderOptions(keypoints=True, punch_hold=(0.5, 0.5)))
    with pytest.raises(ActionrecError, match="different config"):
        synthesize(out, **changed)  # without remake: refused as before
    summary = synthesize(out, **changed, remake=True)
    assert summary.remade and summary.rendered == summary.clips + summary.sparring
    assert json.loads((out / "synth.json").read_text())["options"]["punch_hold"] == [0.5, 0.5]
    assert not (out / "kick" / "stale.txt").exists() and [p.name for p in tmp_path.iterdir()] == ["starter-synth"]
    assert not synthesize(out, **changed, remake=True).remade  # the same config: cached
    leftover = tmp_path / ".starter-synth.discarded"  # a removal killed halfway, after the rename
    (leftover / "kick").mkdir(parents=True)
    synthesize(out, **changed, remake=True)
    assert not leftover.exists()

    # A folder that is no synthetic dataset is never removed.
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    (stranger / "notes.txt").write_text("mine")
    with pytest.raises(ActionrecError, match="stranger.*not empty"):
        synthesize(stranger, **keypoints, remake=True)
    assert (stranger / "notes.txt").read_text() == "mine"

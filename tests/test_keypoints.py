"""Keypoint clips (data/keypoints.py), the Kinect v1 importer (data/kinect.py) on real PRECOG files, and
pose features of keypoint clips (features/frames.py)."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from actionrec.data.datasets import inspect, load_dataset
from actionrec.data.keypoints import (COCO_17, KINECT_V1, load_keypoints, project, resample_indices,
                                      save_keypoints)
from actionrec.data.kinect import import_kinect, read_kinect_csv, read_label_map
from actionrec.data.video import FrameSpec
from actionrec.errors import ActionrecError
from actionrec.events.trigger import TriggerOptions
from actionrec.features.frames import features_dataset
from actionrec.features.pose.vector import JOINT, NO_PERSON, POSE_DIM
from actionrec.features.spec import FeatureSpec

PRECOG = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "real" / "precog"
LABELS = "number,label\n0,other\n1,punch/right\n2,punch/left\n3,kick/front_right\n4,kick/front_left\n" \
         "5,kick/side_right\n6,kick/side_left\n7,punch/back_fist\n8,punch/elbow\n"


@pytest.fixture()
def precog_src(tmp_path) -> Path:
    """Three real PRECOG sequences of two people (a copy: the importer must not write beside them)."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("Seq1_1.csv", "Seq2_1.csv", "Seq1_2.csv"):
        shutil.copy(PRECOG / name, src / name)
    (tmp_path / "labels.csv").write_text(LABELS)
    return src


def _coco_clip(frames: int = 12) -> np.ndarray:
    """A 2-D COCO-17 stick person (pixels) waving the left wrist."""
    base = {"nose": (100, 40), "left_eye": (105, 35), "right_eye": (95, 35), "left_ear": (110, 38),
            "right_ear": (90, 38), "left_shoulder": (120, 70), "right_shoulder": (80, 70),
            "left_elbow": (130, 100), "right_elbow": (70, 100), "left_wrist": (135, 130),
            "right_wrist": (65, 130), "left_hip": (112, 150), "right_hip": (88, 150), "left_knee": (114, 200),
            "right_knee": (86, 200), "left_ankle": (115, 250), "right_ankle": (85, 250)}
    pts = np.array([[base[n] for n in COCO_17]] * frames, np.float32)
    pts[:, COCO_17.index("left_wrist"), 1] -= np.arange(frames) * 5
    return pts


def test_coco_clip_round_trip_maps_onto_blazepose(tmp_path):
    path = tmp_path / "a.kp.npz"
    save_keypoints(path, _coco_clip(), COCO_17, 25.0)
    clip = load_keypoints(path)
    assert clip.joint_set == "coco17" and clip.frames == 12 and clip.duration == pytest.approx(0.48)
    bp = clip.to_blazepose()
    assert bp.shape == (12, 33, 2)
    assert np.isnan(bp[:, JOINT["left_heel"]]).all() and np.isnan(bp[:, JOINT["mouth_left"]]).all()
    assert bp[3, JOINT["left_wrist"], 1] == pytest.approx(130 - 15)
    lm = project(bp)
    assert lm[0, JOINT["left_heel"], 3:].tolist() == [0.0, 0.0] and lm[0, JOINT["nose"], 3:].tolist() == [1.0, 1.0]
    with pytest.raises(ActionrecError, match="2-D keypoints"):
        project(bp, yaw=45)


def test_bad_keypoint_files_are_one_error(tmp_path):
    bad = tmp_path / "b.kp.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ActionrecError, match="not a readable keypoint clip"):
        load_keypoints(bad)
    with pytest.raises(ActionrecError, match="joint set"):
        save_keypoints(tmp_path / "c.kp.npz", np.zeros((3, 2, 2)), ["elbow", "knee"], 10)
    with pytest.raises(ActionrecError, match="fps"):
        save_keypoints(tmp_path / "c.kp.npz", _coco_clip(), COCO_17, 0)
    for fps in (1e300, 1e-300, 0.5):  # 1e300 turned 12 frames into one at the model's rate
        with pytest.raises(ActionrecError, match="expected a frame rate from 1 to 10000"):
            save_keypoints(tmp_path / "c.kp.npz", _coco_clip(), COCO_17, fps)


def test_yaw_turns_3d_points_about_the_hips():
    pts = np.full((1, 33, 3), np.nan)
    pts[0, JOINT["left_hip"]] = (0.1, 0, 2)
    pts[0, JOINT["right_hip"]] = (-0.1, 0, 2)
    pts[0, JOINT["left_shoulder"]] = (0.2, -0.5, 2)
    pts[0, JOINT["nose"]] = (0.0, -0.7, 1.9)  # nearer the camera than the hips
    front, side = project(pts, 0), project(pts, 90)
    # Frontal: left hip right of the right one; at 90 degrees both hips line up and the nose, in front,
    # is on the image's left (the person faces left).
    assert front[0, JOINT["left_hip"], 0] > front[0, JOINT["right_hip"], 0]
    assert side[0, JOINT["left_hip"], 0] == pytest.approx(side[0, JOINT["right_hip"], 0], abs=1e-9)
    assert side[0, JOINT["nose"], 0] < side[0, JOINT["left_hip"], 0]
    assert side[0, JOINT["nose"], 1] == front[0, JOINT["nose"], 1]  # height unchanged by yaw


def test_a_clip_with_no_joint_seen_projects_to_nobody_without_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's "Mean of empty slice" reached the user
        out = project(np.full((4, 33, 3), np.nan), 45)
    assert np.isnan(out[..., :2]).all() and (out[..., 3:] == 0).all()


def test_resample_follows_the_video_rule():
    assert resample_indices(10, 30.0, 10.0).tolist() == [0, 3, 6, 9]
    assert resample_indices(5, 30.0, 0).tolist() == [0, 1, 2, 3, 4]


def test_real_kinect_csv_reads_whole(precog_src):
    points, labels = read_kinect_csv(precog_src / "Seq1_1.csv")
    n = len((precog_src / "Seq1_1.csv").read_text().splitlines()) - 1
    assert points.shape == (n, 20, 3) and labels.shape == (n,)
    assert set(labels.tolist()) <= set(range(9)) and (labels > 0).any()
    # Kinect space: y up, so the head is above the feet
    assert (points[:, KINECT_V1.index("Head"), 1] > points[:, KINECT_V1.index("FootLeft"), 1]).all()


def test_import_precog_gives_a_grouped_annotated_dataset(precog_src, tmp_path):
    out = tmp_path / "out"
    stats = import_kinect(precog_src, out, read_label_map(tmp_path / "labels.csv"))
    assert stats.clips == 3 and len(stats.groups) == 2
    assert sorted(p.name for p in precog_src.iterdir()) == ["Seq1_1.csv", "Seq1_2.csv", "Seq2_1.csv"]
    ds = load_dataset(out)
    assert [c.id for c in ds.clips] == ["clips/Seq1_1.kp.npz", "clips/Seq1_2.kp.npz", "clips/Seq2_1.kp.npz"]
    assert {c.group for c in ds.clips} == {"person1", "person2"}
    assert ds.clips[0].group == ds.clips[2].group == "person1"
    # The labels of frames agree with the CSV's numbers through the map.
    _, numbers = read_kinect_csv(precog_src / "Seq1_1.csv")
    names = read_label_map(tmp_path / "labels.csv")
    times = np.arange(len(numbers)) / 30.0 + 1e-4
    assert ds.clips[0].labels_at(times) == [names[int(k)] for k in numbers]
    ins = inspect(out)
    assert ins.problems == [] and ins.frames == stats.frames and ins.fps == [30.0]
    with pytest.raises(ActionrecError, match="outside it"):
        import_kinect(precog_src, precog_src / "inside", names)


def test_pose_features_of_keypoint_clips(precog_src, tmp_path):
    out = tmp_path / "out"
    import_kinect(precog_src, out, read_label_map(tmp_path / "labels.csv"))
    clips = load_dataset(out).clips
    spec = FrameSpec(fps=10.0)
    feats = features_dataset(clips, spec, FeatureSpec("pose"), tmp_path / "cache")
    first = feats["clips/Seq1_1.kp.npz"]
    n = load_keypoints(clips[0].path).frames
    assert first.embeddings.shape == (len(resample_indices(n, 30.0, 10.0)), POSE_DIM)
    assert np.allclose(np.diff(first.times), 0.1)
    assert (first.embeddings[:, NO_PERSON] == 0).all()
    joints = first.embeddings[:, :-1].reshape(-1, 33, 5)
    assert (joints[:, JOINT["left_eye"], 3:] == 0).all() and (joints[:, JOINT["left_wrist"], 3:] == 1).all()
    # Normalised: shoulders about one torso above the hips (y down), the left one on the image's right.
    assert np.median(joints[:, JOINT["left_shoulder"], 1]) == pytest.approx(-1.0, abs=0.1)
    assert np.median(joints[:, JOINT["left_shoulder"], 0] - joints[:, JOINT["right_shoulder"], 0]) > 0.3
    again = features_dataset(clips, spec, FeatureSpec("pose"), tmp_path / "cache")  # from the cache
    assert again["clips/Seq1_1.kp.npz"].embeddings.tobytes() == first.embeddings.tobytes()
    assert any(p.name.startswith("kp-") for p in (tmp_path / "cache").iterdir())
    for kind in ("mobilenet", "both"):
        with pytest.raises(ActionrecError, match="no pixels for MobileNet"):
            features_dataset(clips, spec, FeatureSpec(kind), tmp_path / "cache")


def test_import_kinect_cli_is_one_line_on_bad_labels(precog_src, tmp_path):
    (tmp_path / "bad.csv").write_text("number,label\n0,other\n1,punch\n")
    run = subprocess.run([sys.executable, "-m", "actionrec", "import-kinect", str(precog_src), str(tmp_path / "o"),
                          "--labels", str(tmp_path / "bad.csv")], capture_output=True, text=True)
    assert run.returncode == 2
    err = [ln for ln in run.stderr.splitlines() if ln.startswith("error:")]
    assert len(err) == 1 and "not in the label map" in err[0] and "Traceback" not in run.stderr


def test_score_judges_a_model_without_training(precog_src, tmp_path):
    """A pose LSTM trained on person 1's real PRECOG skeletons, scored on person 2's (never seen)."""
    from actionrec.learn.embedded import embed_dataset_dir
    from actionrec.learn.models import load_model
    from actionrec.learn.score import score_model
    from actionrec.learn.train import TrainSpec, fit

    names = read_label_map(tmp_path / "labels.csv")
    train_src, test_src = tmp_path / "train_src", tmp_path / "test_src"
    train_src.mkdir(), test_src.mkdir()
    for name in ("Seq1_1.csv", "Seq2_1.csv"):
        shutil.copy(precog_src / name, train_src / name)
    shutil.copy(precog_src / "Seq1_2.csv", test_src / "Seq1_2.csv")
    import_kinect(train_src, tmp_path / "train", names)
    import_kinect(test_src, tmp_path / "test", names)
    data = embed_dataset_dir(tmp_path / "train", FrameSpec(fps=10.0), tmp_path / "cache", features=FeatureSpec("pose"),
                             show_progress=False)
    spec = TrainSpec.from_cli("lstm", 8, 4, "last", 2, 1e-3, False, 0, 0)
    fit(data, spec).save(tmp_path / "model")
    model = load_model(tmp_path / "model")
    report = score_model(tmp_path / "model", tmp_path / "test", tmp_path / "report", tmp_path / "cache", show_progress=False)
    fine, coarse_level = report["models"]["lstm"], report["coarse"]["models"]["lstm"]
    # Windows of labels the model lacks are left out of the fine level, kept at the coarse one.
    lacking = set(report["not_in_model"])
    assert lacking.isdisjoint(model.classes)
    assert fine["windows"] + sum(report["not_in_model"].values()) == report["windows"] == coarse_level["windows"]
    assert sum(map(sum, fine["confusion"])) == fine["windows"]
    assert 0.0 <= fine["macro_f1"] <= 1.0 and 0.0 <= coarse_level["accuracy"] <= 1.0
    assert report["coarse"]["classes"] == ["kick", "other", "punch"]
    for f in ("report.json", "report.md", "confusion_fine.png", "confusion_coarse.png"):
        assert (tmp_path / "report" / f).stat().st_size > 0
    assert ("events" in report) == (not lacking)
    # Every coarse window is in one row of the dataset's own labels, those the model lacks included, and
    # each row's shares add up to 1 and agree with the coarse confusion.
    labels = report["coarse"]["by_label"]
    assert sum(r["windows"] for r in labels) == coarse_level["windows"] and lacking <= {r["label"] for r in labels}
    assert all(abs(sum(r["called"].values()) - 1) < 1e-9 for r in labels)
    names = report["coarse"]["classes"]
    for i, c in enumerate(names):
        called = sum(r["windows"] * r["called"][c] for r in labels)
        assert round(called) == sum(row[i] for row in coarse_level["confusion"])
    assert "dataset's own labels" in (tmp_path / "report" / "report.md").read_text()
    # Every coarse window falls in one timing bin (PRECOG is annotated and labelled by the last frame).
    rows = report["coarse"]["timing"]
    assert [r["from"] for r in rows] == [0.0, 0.2, 0.5] and rows[-1]["to"] is None
    assert sum(r["windows"] for r in rows) == coarse_level["windows"]
    assert "from a change" in (tmp_path / "report" / "report.md").read_text()
    # A stricter trigger (--min-frames 4) fires no more events on the same probabilities, and says so.
    strict = score_model(tmp_path / "model", tmp_path / "test", tmp_path / "strict", tmp_path / "cache",
                         show_progress=False, trigger=TriggerOptions.at(0.5, 4))
    key = "events" if "events" in report else "events_coarse"
    loose, tight = report[key]["lstm"], strict[key]["lstm"]
    assert tight["events"] <= loose["events"] and tight["false_triggers"] <= loose["false_triggers"]
    assert report["trigger"] == "default trigger policy" and strict["trigger"].endswith("4 frames")
    assert strict["trigger"] in (tmp_path / "strict" / "report.md").read_text()
    # A clip shorter than the model's window is named in the report, not silently left out.
    short = tmp_path / "short"
    (short / "punch" / "right").mkdir(parents=True)
    shutil.copy(tmp_path / "test" / "clips" / "Seq1_2.kp.npz", short / "punch" / "right" / "long.kp.npz")
    whole = load_keypoints(short / "punch" / "right" / "long.kp.npz")
    (short / "kick" / "front_right").mkdir(parents=True)
    save_keypoints(short / "kick" / "front_right" / "brief.kp.npz", whole.points[:10], whole.joints, whole.fps)
    brief = score_model(tmp_path / "model", short, tmp_path / "r-short", tmp_path / "cache", show_progress=False)
    assert [c.split("/")[-1] for c in brief["skipped_short_clips"]] == ["brief.kp.npz"] and whole.fps > 10
    assert "Not scored, shorter than the model's window of 8 frames at 10 fps: 1 clip(s)" in \
        (tmp_path / "r-short" / "report.md").read_text()
    assert report["skipped_short_clips"] == []
    # A dataset of none of the model's classes, fine or coarse: one line, before any embedding.
    (tmp_path / "dance" / "dance").mkdir(parents=True)
    shutil.copy(tmp_path / "test" / "clips" / "Seq1_2.kp.npz", tmp_path / "dance" / "dance" / "a.kp.npz")
    with pytest.raises(ActionrecError, match="none of its labels \\(dance\\) is a class of the model"):
        score_model(tmp_path / "model", tmp_path / "dance", tmp_path / "r-dance", tmp_path / "cache", show_progress=False)
    # The report folder is its own: a second score replaces it; the dataset is refused as OUT.
    score_model(tmp_path / "model", tmp_path / "test", tmp_path / "report", tmp_path / "cache", show_progress=False)
    with pytest.raises(ActionrecError):
        score_model(tmp_path / "model", tmp_path / "test", tmp_path / "test" / "r", tmp_path / "cache", show_progress=False)


def test_label_changes_are_where_the_coarse_class_changes():
    from actionrec.data.datasets import Clip, Segment
    from actionrec.learn.score import label_changes

    clip = Clip(Path("v.mp4"), "v.mp4", "g", segments=(
        Segment(1.0, 2.0, "punch/jab"), Segment(2.0, 3.0, "punch/cross"), Segment(4.0, 5.0, "kick/front"),
        Segment(5.0, 6.0, "other/walk")))
    # 2.0 is a punch after a punch; 5.0 is kick -> other; the gaps are the background ("other").
    assert label_changes(clip).tolist() == [1.0, 3.0, 4.0, 5.0]
    assert len(label_changes(Clip(Path("c.mp4"), "c.mp4", "g", label="punch/jab"))) == 0


def test_keypoint_clips_in_class_folders_with_groups(tmp_path):
    root = tmp_path / "ds"
    for label, person in (("punch/jab", "ann"), ("other", "bob")):
        (root / label).mkdir(parents=True)
        save_keypoints(root / label / f"{person}.kp.npz", _coco_clip(20), COCO_17, 20.0)
    (root / "groups.csv").write_text("clip,group\npunch/jab/ann.kp.npz,ann\nother/bob.kp.npz,bob\n")
    ds = load_dataset(root)
    assert [(c.id, c.label, c.group) for c in ds.clips] == [("other/bob.kp.npz", "other", "bob"),
                                                            ("punch/jab/ann.kp.npz", "punch/jab", "ann")]
    ins = inspect(root)
    assert ins.problems == [] and ins.frames == 40 and ins.seconds == pytest.approx(2.0)
    feats = features_dataset(ds.clips, FrameSpec(fps=10.0), FeatureSpec("pose"), tmp_path / "cache")
    v = feats["punch/jab/ann.kp.npz"]
    assert v.embeddings.shape == (10, POSE_DIM) and (v.embeddings[:, NO_PERSON] == 0).all()
    wrist_y = v.embeddings[:, JOINT["left_wrist"] * 5 + 1]
    assert (np.diff(wrist_y) < 0).all()  # the wrist rises in every kept frame, as drawn


def test_import_at_a_camera_yaw_turns_the_pose_features(precog_src, tmp_path):
    """PRECOG people face the Kinect: seen from 90 degrees the shoulders come close in the picture (not onto
    one point: a fighting stance turns them, 0.30 torso lengths apart in profile vs 0.72 frontal on Seq1_1)."""
    names = read_label_map(tmp_path / "labels.csv")
    width = {}
    for yaw in (0.0, 90.0):
        out = tmp_path / f"yaw{yaw:g}"
        import_kinect(precog_src, out, names, yaw=yaw)
        clips = load_dataset(out).clips
        assert load_keypoints(clips[0].path).yaw == yaw
        v = features_dataset(clips, FrameSpec(fps=10.0), FeatureSpec("pose"), tmp_path / "cache")["clips/Seq1_1.kp.npz"]
        j = v.embeddings[:, :-1].reshape(-1, 33, 5)
        width[yaw] = float(np.median(np.abs(j[:, JOINT["left_shoulder"], 0] - j[:, JOINT["right_shoulder"], 0])))
        assert (v.embeddings[:, NO_PERSON] == 0).all()
    assert width[0.0] > 0.5 and width[90.0] < 0.5 * width[0.0], width


def test_import_at_several_yaws_keeps_each_person_in_one_group(precog_src, tmp_path):
    names = read_label_map(tmp_path / "labels.csv")
    stats = import_kinect(precog_src, tmp_path / "views", names, yaw=(0.0, 45.0))
    ds = load_dataset(tmp_path / "views")
    assert stats.clips == 6 and len(ds.clips) == 6
    by_id = {c.id: c for c in ds.clips}
    assert load_keypoints(by_id["clips/Seq1_1@yaw45.kp.npz"].path).yaw == 45.0
    assert by_id["clips/Seq1_1@yaw0.kp.npz"].group == by_id["clips/Seq1_1@yaw45.kp.npz"].group == "person1"
    assert by_id["clips/Seq1_1@yaw0.kp.npz"].segments == by_id["clips/Seq1_1@yaw45.kp.npz"].segments
    feats = features_dataset(ds.clips, FrameSpec(fps=10.0), FeatureSpec("pose"), tmp_path / "cache")
    assert not np.allclose(feats["clips/Seq1_1@yaw0.kp.npz"].embeddings, feats["clips/Seq1_1@yaw45.kp.npz"].embeddings)
    with pytest.raises(ActionrecError, match="different angles"):
        import_kinect(precog_src, tmp_path / "bad", names, yaw=(0.0, 0.0))


def test_a_stopped_import_is_not_a_dataset_and_a_rerun_resumes_and_replaces_its_own_clips(precog_src, tmp_path):
    names = read_label_map(tmp_path / "labels.csv")
    out = tmp_path / "views"
    import_kinect(precog_src, out, names, yaw=(0.0, 45.0))
    # Stopped part way through a rerun: its pending marker is there, its groups.csv not yet rewritten.
    (out / ".kinect-import-pending.json").write_text('{"clips": ["clips/Seq1_1.kp.npz"]}')
    with pytest.raises(ActionrecError, match=f"^{out}: actionrec import-kinect has not finished writing this dataset"):
        load_dataset(out)
    assert any("has not finished" in p for p in inspect(out).problems)
    # The rerun (one yaw now) takes the folder back, and removes the clips of the other yaws it wrote before.
    import_kinect(precog_src, out, names, yaw=0.0)
    assert sorted(p.name for p in (out / "clips").iterdir()) == ["Seq1_1.kp.npz", "Seq1_2.kp.npz", "Seq2_1.kp.npz"]
    assert len(load_dataset(out).clips) == 3 and not (out / ".kinect-import-pending.json").exists()
    # Only files an import listed are removed: a user's file in clips/ stays (and is reported, not deleted).
    (out / "clips" / "notes.txt").write_text("mine")
    import_kinect(precog_src, out, names, yaw=(0.0, 45.0))
    import_kinect(precog_src, out, names, yaw=0.0)
    assert (out / "clips" / "notes.txt").read_text() == "mine" and len(list((out / "clips").glob("*.kp.npz"))) == 3
    # Nor does a clip of the user's that they listed in groups.csv: that file is theirs to edit, not a record
    # of what an import wrote (the marker is).
    (out / "clips" / "notes.txt").unlink()
    shutil.copy(out / "clips" / "Seq1_1.kp.npz", out / "clips" / "mine.kp.npz")
    with open(out / "groups.csv", "a") as fh:
        fh.write("clips/mine.kp.npz,me\n")
    assert len(load_dataset(out).clips) == 4
    import_kinect(precog_src, out, names, yaw=(0.0, 45.0))
    assert (out / "clips" / "mine.kp.npz").is_file()
    assert "clips/mine.kp.npz" not in json.loads((out / "kinect_import.json").read_text())["written"]


def test_import_takes_any_case_of_csv_and_refuses_two_files_of_one_sequence(precog_src, tmp_path):
    names = read_label_map(tmp_path / "labels.csv")
    src = tmp_path / "upper"
    src.mkdir()
    shutil.copy(precog_src / "Seq1_1.csv", src / "Seq1_1.csv")
    shutil.copy(precog_src / "Seq2_1.csv", src / "SEQ2_1.CSV")  # dropped without a word before
    assert import_kinect(src, tmp_path / "a", names).clips == 2
    assert (tmp_path / "a" / "clips" / "SEQ2_1.kp.npz").is_file()
    (src / "Seq1_1.csv.gz").write_bytes(gzip.compress((precog_src / "Seq1_2.csv").read_bytes()))
    with pytest.raises(ActionrecError, match="Seq1_1.csv and .*Seq1_1.csv.gz: two sequences named 'Seq1_1'"):
        import_kinect(src, tmp_path / "b", names)
    assert not (tmp_path / "b" / "clips").exists()


def test_spreadsheet_csv_rows_keep_their_line_numbers_and_empty_rows_are_skipped(tmp_path):
    """Excel leaves ",,," for rows it once had; blank lines still count in the line numbers an editor shows."""
    shutil.copy(PRECOG.parent / "ucf101_punch_g03_c01.avi", tmp_path / "a.avi")
    (tmp_path / "annotations.csv").write_text("video,start,end,label\r\na.avi,0.5,1.5,punch\r\n,,,\r\n\r\n"
                                              "a.avi,3,2,kick\r\n,,,\r\n")
    problems = inspect(tmp_path).problems
    assert any("annotations.csv:5" in p for p in problems), problems  # the end-before-start row, on line 5
    assert not any("got ''" in p for p in problems), problems
    (tmp_path / "annotations.csv").write_text("video,start,end,label\r\na.avi,0.5,1.5,punch\r\n,,,\r\n")
    (tmp_path / "labels.txt").write_text("number,label\n0,other\n,,\n")
    assert not inspect(tmp_path).problems and read_label_map(tmp_path / "labels.txt") == {0: "other"}


def test_the_shipped_precog_is_the_real_one_gzipped():
    shipped = Path(__file__).resolve().parents[1] / "datasets" / "precog"
    files = sorted(shipped.glob("*.csv.gz"))
    assert len(files) == 72
    points, labels = read_kinect_csv(shipped / "Seq1_1.csv.gz")
    real, real_labels = read_kinect_csv(PRECOG / "Seq1_1.csv")
    assert np.array_equal(points, real) and np.array_equal(labels, real_labels)
    assert set(read_label_map(shipped / "label_map.txt")) == set(range(9))

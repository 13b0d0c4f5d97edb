"""Both dataset layouts built from the real clips, and every structural problem ``inspect`` must list."""

import shutil

import numpy as np
import pytest
from conftest import PUNCH_AVI, build_annotated_dataset, build_class_dataset

from actionrec.data.datasets import coarse, inspect, load_dataset
from actionrec.errors import ActionrecError


def test_class_folders_with_nested_labels_frame_folders_and_groups(class_dataset):
    ds = load_dataset(class_dataset)
    assert ds.labels == ["other", "punch/hook", "punch/jab"]
    assert ds.nested and sorted({coarse(lab) for lab in ds.labels}) == ["other", "punch"]
    by_id = {c.id: c for c in ds.clips}
    assert set(by_id) == {"other/o1.avi", "other/o2", "punch/hook/p2", "punch/jab/p1.avi"}
    assert by_id["punch/hook/p2"].label == "punch/hook" and by_id["punch/hook/p2"].path.is_dir()
    assert {c.id: c.group for c in ds.clips} == {
        "other/o1.avi": "alice", "other/o2": "bob", "punch/hook/p2": "bob", "punch/jab/p1.avi": "alice"
    }
    assert ds.groups == ["alice", "bob"]


def test_each_clip_is_its_own_group_without_groups_csv(class_dataset):
    (class_dataset / "groups.csv").unlink()
    ds = load_dataset(class_dataset)
    assert [c.group for c in ds.clips] == [c.id for c in ds.clips]


def test_clips_missing_from_groups_csv_are_their_own_groups_and_said(class_dataset):
    """Unlisted, a person's clips could land in training and test at once: usable, but not silently."""
    assert not load_dataset(class_dataset).warnings
    (class_dataset / "groups.csv").write_text("clip,group\npunch/jab/p1.avi,alice\nother/o1.avi,alice\n")
    ds = load_dataset(class_dataset)
    assert {c.id: c.group for c in ds.clips}["other/o2"] == "other/o2"
    assert ds.warnings == [f"{class_dataset / 'groups.csv'}: 2 of 4 clips are not listed (e.g. other/o2); each is a "
                           "group of its own, so one person's unlisted clips can be in training and test at once"]
    assert ds.warnings[0] in inspect(class_dataset).warnings


def test_annotated_videos_label_frames_and_background(annotated_dataset):
    ds = load_dataset(annotated_dataset, background="idle")
    assert ds.labels == ["idle", "kick", "punch"]
    a = next(c for c in ds.clips if c.id == "videos/a.avi")
    assert a.is_annotated and a.group == "alice"
    times = np.array([0.0, 0.99, 1.0, 1.5, 2.0, 3.2, 4.0, 5.9])
    assert a.labels_at(times) == ["idle", "idle", "punch", "punch", "idle", "kick", "idle", "idle"]


def test_inspect_counts_both_layouts(class_dataset, annotated_dataset):
    report = inspect(class_dataset)
    assert report.problems == []
    assert report.clips == 4 and report.frames == 80
    assert {r["label"]: r["clips"] for r in report.rows} == {"other": 2, "punch/hook": 1, "punch/jab": 1}
    assert report.fps == [10.0, 25.0, 30.0] and report.groups == {"alice": 2, "bob": 2}
    report = inspect(annotated_dataset)
    assert report.problems == [] and report.seconds == pytest.approx(12.0)
    seconds = {r["label"]: r["seconds"] for r in report.rows}
    assert seconds == pytest.approx({"kick": 1.0, "punch": 2.0, "other": 9.0})


def test_both_layouts_mixed_in_one_dataset(tmp_path):
    root = build_annotated_dataset(tmp_path / "mixed")
    build_class_dataset(root)
    (root / "groups.csv").unlink()
    ds = load_dataset(root)
    assert len(ds.clips) == 6  # the annotated videos/ folder is not read as a label
    assert ds.labels == ["kick", "other", "punch", "punch/hook", "punch/jab"]


# --- structural problems: one clear error naming the file, and inspect lists them all --------------------


def _strict_error(root, match):
    with pytest.raises(ActionrecError, match=match) as err:
        load_dataset(root)
    return str(err.value)


def test_missing_and_empty_dataset(tmp_path):
    assert str(tmp_path / "nope") in _strict_error(tmp_path / "nope", "does not exist")
    (tmp_path / "empty").mkdir()
    assert "expected class folders" in _strict_error(tmp_path / "empty", "dataset is empty")


def test_empty_label_folder(class_dataset):
    (class_dataset / "kick").mkdir()
    msg = _strict_error(class_dataset, "label 'kick' has no clips")
    assert str(class_dataset / "kick") in msg


def test_stray_files(class_dataset):
    (class_dataset / "other" / "readme.txt").write_text("hi")
    assert "readme.txt" in _strict_error(class_dataset, "not a video")
    (class_dataset / "other" / "readme.txt").unlink()
    shutil.copy(PUNCH_AVI, class_dataset / "loose.avi")
    assert "loose.avi" in _strict_error(class_dataset, "has no label")


def test_empty_label_in_annotations(annotated_dataset):
    with open(annotated_dataset / "annotations.csv", "a") as fh:
        fh.write("videos/b.avi,3.0,4.0,\n")
    msg = _strict_error(annotated_dataset, "empty label")
    assert f"{annotated_dataset / 'annotations.csv'}:5" in msg  # file and line


def test_bad_annotation_rows(annotated_dataset):
    csv = annotated_dataset / "annotations.csv"
    for row, match in [
        ("videos/missing.avi,0,1,punch", "'videos/missing.avi' not found"),
        ("videos/a.avi,2,1,punch", "0 <= start < end"),
        ("videos/a.avi,one,2,punch", "must be seconds"),
    ]:
        csv.write_text(f"video,start,end,label\n{row}\n")
        assert str(csv) in _strict_error(annotated_dataset, match)
    csv.write_text("clip,from,to,what\n")
    assert "expected video,start,end,label" in _strict_error(annotated_dataset, "header")


def test_overlapping_segments_with_different_labels(annotated_dataset):
    csv = annotated_dataset / "annotations.csv"
    # The long "punch" overlaps the "kick", which is not its neighbour once sorted by start.
    csv.write_text("video,start,end,label\nvideos/a.avi,0,5,punch\nvideos/a.avi,1,2,punch\nvideos/a.avi,3,4,kick\n")
    msg = _strict_error(annotated_dataset, "overlap with different labels")
    assert "0.0-5.0 (punch)" in msg and "3.0-4.0 (kick)" in msg
    csv.write_text("video,start,end,label\nvideos/a.avi,0,2,punch\nvideos/a.avi,1,3,punch\nvideos/b.avi,0,1,kick\n")
    assert load_dataset(annotated_dataset).labels == ["kick", "other", "punch"]  # same label may overlap


def test_groups_csv_naming_unknown_clip_or_empty_group(class_dataset):
    with open(class_dataset / "groups.csv", "a") as fh:
        fh.write("punch/jab/ghost.avi,carol\n")
    msg = _strict_error(class_dataset, "'punch/jab/ghost.avi' is not in the dataset")
    assert f"{class_dataset / 'groups.csv'}:6" in msg
    (class_dataset / "groups.csv").write_text("clip,group\nother/o2,\n")
    _strict_error(class_dataset, "empty group")


def test_segment_past_the_video_end(annotated_dataset):
    with open(annotated_dataset / "annotations.csv", "a") as fh:
        fh.write("videos/b.avi,5.0,9.0,kick\n")
    ds = load_dataset(annotated_dataset)  # structure is fine; the video's length is a media check
    problems = inspect(annotated_dataset).problems
    assert len(problems) == 1 and "videos/b.avi: segment 5.0-9.0 (kick) goes past the video's end at 6.00 s" in problems[0]
    assert len(ds.clips) == 2


def test_inspect_lists_every_problem_at_once(class_dataset):
    root = class_dataset
    (root / "kick").mkdir()  # empty label
    (root / "other" / "noise.mp4").write_bytes(np.random.default_rng(1).integers(0, 256, 9000, np.uint8).tobytes())
    data = PUNCH_AVI.read_bytes()
    (root / "punch" / "jab" / "cut.avi").write_bytes(data[: len(data) // 2])  # truncated
    (root / "punch" / "hook" / "p2" / "notes.txt").write_text("x")  # non-image in a frame folder
    with open(root / "groups.csv", "a") as fh:
        fh.write("punch/jab/ghost.avi,carol\n")
    (root / "annotations.csv").write_text(
        "video,start,end,label\npunch/jab/p1.avi,0,0.5,jab\npunch/jab/p1.avi,0.2,0.6,cross\n"
        "other/o1.avi,0,1,\nother/o1.avi,30,31,wave\n"
    )
    report = inspect(root)
    expected = [
        "label 'kick' has no clips",
        "noise.mp4: OpenCV cannot open it",
        "cut.avi: frame 102 (near the last of the 108 its header lists) cannot be read",
        "p2: frame folder holds non-image file(s) notes.txt",
        "'punch/jab/ghost.avi' is not in the dataset",
        "overlap with different labels",
        "empty label",
        "segment 30.0-31.0 (wave) goes past the video's end",
    ]
    for text in expected:
        assert sum(text in p for p in report.problems) == 1, (text, report.problems)
    assert len(report.problems) == len(expected)
    # The healthy clips are still counted.
    assert report.clips == 6 and report.frames >= 60


# --- issue 11: paths stay inside the dataset, spreadsheet BOMs, problems that used to pass silently ------


def test_utf8_bom_from_a_spreadsheet_is_accepted(annotated_dataset):
    for name in ("annotations.csv", "groups.csv"):
        path = annotated_dataset / name
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    ds = load_dataset(annotated_dataset)
    assert ds.labels == ["kick", "other", "punch"]
    assert {c.id: c.group for c in ds.clips} == {"videos/a.avi": "alice", "videos/b.avi": "bob"}


@pytest.mark.parametrize("column", ["annotations", "groups"])
def test_csv_paths_must_stay_inside_the_dataset(tmp_path, column):
    root = build_annotated_dataset(tmp_path / "ds")
    outside = tmp_path / "outside.avi"
    shutil.copy(root / "videos" / "a.avi", outside)
    name = f"{column}.csv"

    def write(value):
        if column == "annotations":
            (root / name).write_text(f"video,start,end,label\nvideos/a.avi,0,1,punch\n{value},0,1,punch\n")
        else:
            (root / name).write_text(f"clip,group\nvideos/a.avi,alice\n{value},bob\n")

    for value, match in [
        (str(outside), "is an absolute path; expected a path relative to the dataset folder"),
        ("../outside.avi", "points outside the dataset folder"),
        ("videos/../../outside.avi", "points outside the dataset folder"),
    ]:
        write(value)
        msg = _strict_error(root, match)
        assert msg.startswith(f"{root / name}:3: ") and repr(value) in msg, msg
        assert sum(match in p for p in inspect(root).problems) == 1
    # A symlink leading out: refused in the CSV row, and as a clip the class-folder scan finds.
    (root / "videos" / "link.avi").symlink_to(outside)
    write("videos/link.avi")
    problems = inspect(root).problems
    in_row = [p for p in problems if p.startswith(f"{root / name}:3: ")]
    assert len(in_row) == 1 and f"'videos/link.avi' is a symlink to {outside}, outside the dataset folder" in in_row[0]
    scanned = [p for p in problems if p.startswith(f"{root / 'videos' / 'link.avi'}: symlink to {outside}, outside")]
    assert len(scanned) == 1 and len(problems) == 2


def test_a_frame_read_from_outside_the_dataset_is_refused(class_dataset, tmp_path):
    frames = next(p for p in class_dataset.rglob("*") if p.is_dir() and list(p.glob("*.jpg")))
    outside = tmp_path / "secret.jpg"
    shutil.copy(next(frames.glob("*.jpg")), outside)
    (frames / "999.jpg").symlink_to(outside)
    assert f"{frames / '999.jpg'}: symlink to {outside}, outside the dataset folder" in _strict_error(class_dataset, "outside")


@pytest.mark.parametrize("marker, command", [(".synth-pending.json", "actionrec synth"),
                                             ("augment.json", "actionrec augment")])
def test_a_dataset_a_command_was_stopped_writing_is_refused(class_dataset, marker, command):
    """Half a dataset looks whole: a killed synth had no groups.csv yet, so every clip was a person."""
    (class_dataset / marker).write_text('{"complete": false}')
    assert _strict_error(class_dataset, f"{command} has not finished writing this dataset").startswith(f"{class_dataset}: ")
    (class_dataset / marker).write_text('{"complete": true}')
    if marker == "augment.json":
        load_dataset(class_dataset)


def test_links_and_dots_within_the_dataset_are_fine(annotated_dataset):
    root = annotated_dataset
    (root / "videos" / "inner.avi").symlink_to(root / "videos" / "b.avi")
    (root / "annotations.csv").write_text("video,start,end,label\nvideos/inner.avi,0,1,punch\nvideos/./a.avi,0,1,kick\nvideos/b.avi,0,1,kick\n")
    (root / "groups.csv").write_text("clip,group\nvideos//a.avi,alice\nvideos/x/../inner.avi,bob\n")
    ds = load_dataset(root)
    assert {c.id: c.group for c in ds.clips} == {"videos/a.avi": "alice", "videos/b.avi": "videos/b.avi", "videos/inner.avi": "bob"}


def test_a_clip_in_two_groups_is_an_error(class_dataset):
    with open(class_dataset / "groups.csv", "a") as fh:
        fh.write("other/o2,bob\n")  # the same group again: harmless
        fh.write("other/o1.avi,carol\n")
    msg = _strict_error(class_dataset, "expected one group per clip")
    assert msg.startswith(f"{class_dataset / 'groups.csv'}:7: clip 'other/o1.avi' is in group 'carol' here but in 'alice' at line 4")
    report = inspect(class_dataset)
    assert len(report.problems) == 1 and report.groups == {"alice": 2, "bob": 2}


def test_duplicate_annotation_rows_are_read_once_and_reported(annotated_dataset):
    with open(annotated_dataset / "annotations.csv", "a") as fh:
        fh.write("videos/a.avi,1.0,2.0,punch\n")
    ds = load_dataset(annotated_dataset)  # usable: not an error
    a = next(c for c in ds.clips if c.id == "videos/a.avi")
    assert [s.label for s in a.segments] == ["punch", "kick"]
    report = inspect(annotated_dataset)
    assert report.problems == []
    assert report.warnings == [f"{annotated_dataset / 'annotations.csv'}:5: duplicate of line 2 (videos/a.avi,1,2,punch); read once"]
    assert {r["label"]: r["seconds"] for r in report.rows} == pytest.approx({"kick": 1.0, "punch": 2.0, "other": 9.0})


def test_frame_folder_with_one_frame_twice_or_mixed_sizes(class_dataset):
    import cv2

    folder = class_dataset / "punch" / "hook" / "p2"
    assert inspect(class_dataset).warnings == []
    shutil.copy(folder / "7.jpg", folder / "007.jpg")
    (warning,) = inspect(class_dataset).warnings
    assert warning == f"{folder}: 1 frame number(s) have more than one file: 007.jpg and 7.jpg; expected one image per frame"
    (folder / "007.jpg").unlink()
    small = cv2.resize(cv2.imread(str(folder / "3.jpg")), (160, 120))
    assert cv2.imwrite(str(folder / "3.jpg"), small)
    (warning,) = inspect(class_dataset).warnings
    assert warning == f"{folder}: images of 2 sizes: 320x240 (19, e.g. 1.jpg), 160x120 (1, e.g. 3.jpg); expected one size per clip"


@pytest.mark.parametrize("ext", [".jpg", ".png", ".bmp", ".webp"])
def test_image_size_from_headers_matches_decoding(tmp_path, ext):
    import cv2

    from actionrec.data.frame_folder import image_size
    from conftest import source_frames

    for w, h in [(320, 240), (97, 33), (1920, 1080)]:
        path = tmp_path / f"{w}x{h}{ext}"
        params = [cv2.IMWRITE_JPEG_PROGRESSIVE, 1] if (ext == ".jpg" and w == 97) else []
        assert cv2.imwrite(str(path), cv2.resize(source_frames(PUNCH_AVI, 0, 1)[0], (w, h)), params)
        assert image_size(path) == (w, h) == tuple(cv2.imread(str(path)).shape[1::-1])
    (tmp_path / "junk.jpg").write_bytes(b"\xff\xd8\xff\xe0\x00\x10garbage")
    assert image_size(tmp_path / "junk.jpg") is None


def test_rows_starting_with_a_hash_are_notes_unless_such_a_file_exists(annotated_dataset):
    before = {c.id: c.segments for c in load_dataset(annotated_dataset).clips}
    with open(annotated_dataset / "annotations.csv", "a") as fh:
        fh.write("# alice again, second take below,,,\n#TODO check the kick's end\n")
    with open(annotated_dataset / "groups.csv", "a") as fh:
        fh.write("# carol's clips come next week\n")
    report = inspect(annotated_dataset)
    assert report.problems == [] and report.warnings == []
    assert {c.id: c.segments for c in load_dataset(annotated_dataset).clips} == before
    # A video whose name does start with "#" is still a video.
    shutil.copy(annotated_dataset / "videos" / "a.avi", annotated_dataset / "#2.avi")
    with open(annotated_dataset / "annotations.csv", "a") as fh:
        fh.write("#2.avi,0.5,1.0,kick\n")
    assert [s.label for s in next(c for c in load_dataset(annotated_dataset).clips if c.id == "#2.avi").segments] == ["kick"]

"""Decoding, resampling and resizing on the real fixture clips, and every bad video we must refuse."""

from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import EXERCISE_AVI, PUNCH_AVI, leftover_temp_files, source_frames, write_clip, write_frame_folder

from actionrec.errors import ActionrecError
from actionrec.data.video import FrameSpec, check_clip, iter_source_frames, prepare, probe, read_clip


def test_probe_real_clips():
    punch, exercise = probe(PUNCH_AVI), probe(EXERCISE_AVI)
    assert (punch.frames, punch.fps, punch.width, punch.height) == (108, 25.0, 320, 240)
    assert (exercise.frames, exercise.fps, exercise.width, exercise.height) == (393, 10.0, 384, 288)
    assert punch.duration == pytest.approx(108 / 25)


def test_resample_25_to_10_fps_keeps_first_frame_at_or_after_each_tick():
    frames, times = read_clip(PUNCH_AVI, FrameSpec())
    # Source frames at k/25 s, last at 4.28 s: ticks 0.0 .. 4.2 s give 43 frames.
    assert frames.shape == (43, 56, 100, 3) and frames.dtype == np.uint8
    ticks = np.arange(43) * 0.1
    assert np.all(times >= ticks - 1e-9) and np.all(times - ticks < 1 / 25 + 1e-9)
    assert np.allclose(times * 25, np.round(times * 25))  # the source frames' own timestamps


def test_fps_zero_keeps_every_frame_and_frames_are_rgb_area_resized():
    frames, times = read_clip(PUNCH_AVI, FrameSpec(fps=0))
    assert len(frames) == 108 and np.allclose(np.diff(times), 1 / 25)
    cap = cv2.VideoCapture(str(PUNCH_AVI))
    ok, bgr = cap.read()
    cap.release()
    expected = cv2.cvtColor(cv2.resize(bgr, (100, 56), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
    # Halving and bilinear steps: nearly one direct area resize; and RGB, not BGR, order.
    diff = np.abs(frames[0].astype(int) - expected)
    assert ok and diff.mean() < 1.0 and diff.max() <= 16
    assert np.abs(frames[0][..., ::-1].astype(int) - expected).mean() > 5 * diff.mean()


@pytest.mark.parametrize("size", [(100, 56), (160, 90), (224, 126), (224, 224), (64, 48)])
@pytest.mark.parametrize("clip", [PUNCH_AVI, EXERCISE_AVI], ids=["punch", "exercise"])
def test_fast_resize_stays_close_to_a_direct_area_resize(clip, size):
    """``prepare``'s cheap steps (halving, bilinear under 2x) against OpenCV's slow direct area resize:
    within about a grey level on average on real footage, at the sizes users pick."""
    spec = FrameSpec(width=size[0], height=size[1])
    for rgb in source_frames(clip)[::20]:
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        expected = cv2.cvtColor(cv2.resize(bgr, size, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
        diff = np.abs(prepare(bgr, spec).astype(int) - expected)
        assert diff.mean() < 2.0 and np.percentile(diff, 99) <= 24, (size, diff.mean(), np.percentile(diff, 99))


def test_other_sizes_and_grayscale_replicated():
    frames, _ = read_clip(EXERCISE_AVI, FrameSpec(fps=5, width=224, height=224, grayscale=True))
    assert frames.shape == (197, 224, 224, 3)  # 393 frames at 10 fps -> every other one
    assert np.array_equal(frames[..., 0], frames[..., 1]) and np.array_equal(frames[..., 1], frames[..., 2])
    assert frames.std() > 10  # real pictures, not a blank


def test_prepare_rejects_nothing_and_keeps_exact_size_frames():
    rgb = source_frames(PUNCH_AVI, 0, 1)[0]
    bgr = cv2.resize(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), (100, 56))
    assert np.array_equal(prepare(bgr, FrameSpec()), bgr[:, :, ::-1])


def test_frame_folder_in_numeric_order(tmp_path):
    # PNG is lossless, so each decoded frame must be exactly the one written at that index.
    src = source_frames(PUNCH_AVI, 0, 12)
    folder = write_frame_folder(tmp_path / "clip", src, ext=".png")
    frames, times = read_clip(folder, FrameSpec(fps=0, width=320, height=240))
    assert np.array_equal(frames, src)  # 2.png before 10.png
    assert np.allclose(times, np.arange(12) / 30)  # a frame folder is taken as 30 fps
    info = probe(folder)
    assert (info.frames, info.fps, info.width, info.height) == (12, 30.0, 320, 240)
    assert len(read_clip(folder, FrameSpec())[0]) == 4  # 30 -> 10 fps: every third image


def test_write_video_round_trip_is_atomic(tmp_path):
    src = source_frames(EXERCISE_AVI, 0, 15)
    for name in ("a.avi", "b.mp4"):
        path = write_clip(tmp_path / name, src, fps=15)
        info = probe(path)
        assert (info.frames, info.fps, info.width, info.height) == (15, 15.0, 384, 288)
        frames, _ = read_clip(path, FrameSpec(fps=0, width=384, height=288))
        assert np.abs(frames.astype(int) - src).mean() < 8  # lossy codecs, same pictures
    assert leftover_temp_files(tmp_path) == []
    with pytest.raises(ActionrecError, match="zero frames"):
        write_clip(tmp_path / "empty.avi", np.zeros((0, 8, 8, 3), np.uint8))
    assert not (tmp_path / "empty.avi").exists()


def test_frame_spec_validation():
    with pytest.raises(ActionrecError, match="at least 32x32"):
        FrameSpec(width=16)
    with pytest.raises(ActionrecError, match="frame rate"):
        FrameSpec(fps=-1)


# --- bad input: each one clear ActionrecError naming the file -------------------------------------------


def _expect_error(path: Path, match: str, spec: FrameSpec = FrameSpec()) -> None:
    for call in (lambda: read_clip(path, spec), lambda: check_clip(path)):
        with pytest.raises(ActionrecError, match=match) as err:
            call()
        assert str(path) in str(err.value)


def test_random_bytes_named_mp4(tmp_path):
    path = tmp_path / "noise.mp4"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    _expect_error(path, "cannot open it as a video")


def test_missing_and_empty_video_files(tmp_path):
    _expect_error(tmp_path / "nope.avi", "no such video file")
    (tmp_path / "empty.mp4").write_bytes(b"")
    _expect_error(tmp_path / "empty.mp4", "cannot open it as a video")


def test_truncated_video(tmp_path):
    data = PUNCH_AVI.read_bytes()
    path = tmp_path / "half.avi"
    path.write_bytes(data[: len(data) // 2])
    # OpenCV quietly stops at the cut; we must not take half a clip for a whole one.
    _expect_error(path, "truncated or corrupt")
    head = tmp_path / "head.avi"
    head.write_bytes(data[:4000])
    _expect_error(head, "cannot open it as a video")


def test_zero_frame_video(tmp_path):
    path = tmp_path / "zero.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    writer.release()
    _expect_error(path, "zero (readable )?frames")


def test_frame_folder_with_non_images(tmp_path):
    folder = write_frame_folder(tmp_path / "clip", source_frames(PUNCH_AVI, 0, 3))
    (folder / "notes.txt").write_text("not a frame")
    _expect_error(folder, r"non-image file\(s\) notes.txt")
    (folder / "notes.txt").unlink()
    (folder / "4.jpg").write_text("a text file named like an image")
    with pytest.raises(ActionrecError, match="4.jpg"):
        check_clip(folder)  # inspect finds it without decoding every image
    with pytest.raises(ActionrecError, match="4.jpg: not a readable image"):
        read_clip(folder, FrameSpec(fps=0))


def test_empty_frame_folder(tmp_path):
    (tmp_path / "clip").mkdir()
    with pytest.raises(ActionrecError, match="no images"):
        list(iter_source_frames(tmp_path / "clip", FrameSpec()))


# --- a full disk: nothing half-written is ever committed (issue 11) -------------------------------------


@pytest.mark.parametrize("name", ["clip.mp4", "clip.avi"])
def test_a_video_the_disk_cannot_hold_is_never_committed(tmp_path, name):
    from actionrec.data.video import write_video
    from small_disk import fill, small_disk

    frames = source_frames(EXERCISE_AVI, 0, 200)  # 384x288: several MB, the disk holds 400 KB
    with small_disk(tmp_path / "disk") as disk:
        path = disk / "out" / name
        with pytest.raises(ActionrecError) as err:
            write_video(path, frames, 10)
        assert str(err.value) == f"{path}: the disk is full (no space left on device); free some space and rerun, finished files are kept"
        assert not path.exists() and leftover_temp_files(disk) == []
        # With no room at all, OpenCV cannot even open its writer: still the disk, not "this video format".
        filler = fill(disk)
        with pytest.raises(ActionrecError, match="the disk is full"):
            write_video(path, frames[:3], 10)
        assert not path.exists() and leftover_temp_files(disk) == []
        filler.unlink()
        write_video(path, frames[:3, :64, :64], 10)  # a video that fits is written and complete
        assert probe(path).frames == 3 and len(read_clip(path, FrameSpec(fps=0, width=64, height=64))[0]) == 3


def test_is_complete_video_rejects_a_file_without_its_index(tmp_path):
    from actionrec.data.video import count_frames, is_complete_video

    path = write_clip(tmp_path / "a.mp4", source_frames(PUNCH_AVI, 0, 20), fps=10)
    assert is_complete_video(path) and count_frames(path) == 20
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size - 200])  # the moov atom is written last
    assert not is_complete_video(cut) and count_frames(cut) == 0
    assert not is_complete_video(tmp_path / "missing.mp4")


def test_check_written_names_the_shortfall(tmp_path):
    from actionrec.data.video import check_written

    path = write_clip(tmp_path / "a.avi", source_frames(PUNCH_AVI, 0, 5), fps=10)
    check_written(tmp_path / "final.avi", path, 5)
    with pytest.raises(ActionrecError, match=r"final.avi: the written video holds 5 of its 6 frames"):
        check_written(tmp_path / "final.avi", path, 6)


def test_frames_with_one_number_sort_the_same_on_every_filesystem(tmp_path):
    from actionrec.data.video import image_files

    folder = write_frame_folder(tmp_path / "clip", source_frames(PUNCH_AVI, 0, 3))
    (folder / "002.jpg").write_bytes((folder / "2.jpg").read_bytes())
    assert [p.name for p in image_files(folder)] == ["1.jpg", "002.jpg", "2.jpg", "3.jpg"]

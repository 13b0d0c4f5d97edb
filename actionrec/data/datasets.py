"""Labeled clip datasets: the two layouts every command reads.

1. Class folders: ``DATASET/<label>/<clip>`` where a clip is a video file, a folder of numbered images or a
   keypoint clip (``.kp.npz``, ``data/keypoints.py``).
   Labels may nest one level for finer types: ``DATASET/kick/roundhouse/x.mp4`` is ``kick/roundhouse``,
   whose coarse class is ``kick``.
2. Annotated videos: ``DATASET/annotations.csv`` with ``video,start,end,label`` (seconds). Frames outside
   every segment get the background label (default ``other``).

Both may be mixed in one dataset: a video listed in ``annotations.csv`` is never read as a class-folder clip.
Optional ``DATASET/groups.csv`` (``clip,group``) names the person or session of each clip, so splits can
keep a person out of training and test at once. Without it each clip is its own group.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from actionrec.data.frame_folder import folder_warnings
from actionrec.data.keypoints import KEYPOINT_SUFFIX, is_keypoint_clip
from actionrec.data.video import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, check_clip, probe
from actionrec.errors import ActionrecError

ANNOTATIONS = "annotations.csv"
GROUPS = "groups.csv"


def coarse(label: str) -> str:
    """``kick/roundhouse`` -> ``kick``; a label without a slash is its own coarse class."""
    return label.split("/", 1)[0]


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    label: str


@dataclass(frozen=True)
class Clip:
    """One video (or frame folder) with its label, or its annotated segments, and its group."""

    path: Path
    id: str  # path relative to the dataset root, forward slashes: the key in groups.csv and caches
    group: str
    label: str | None = None
    segments: tuple[Segment, ...] = ()
    background: str = "other"

    @property
    def is_annotated(self) -> bool:
        return self.label is None

    def labels_at(self, times: np.ndarray) -> list[str]:
        """The label of each frame timestamp (seconds)."""
        if self.label is not None:
            return [self.label] * len(times)
        out = []
        for t in times:
            hit = next((s.label for s in self.segments if s.start <= t < s.end), self.background)
            out.append(hit)
        return out

    @property
    def labels(self) -> list[str]:
        if self.label is not None:
            return [self.label]
        return sorted({s.label for s in self.segments} | {self.background})


@dataclass
class Dataset:
    root: Path
    clips: list[Clip]
    background: str = "other"
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # suspicious but usable (e.g. duplicate rows)

    @property
    def labels(self) -> list[str]:
        """Every label that can occur, sorted (the background only if annotated videos need it)."""
        return sorted({lab for c in self.clips for lab in c.labels})

    @property
    def groups(self) -> list[str]:
        return sorted({c.group for c in self.clips})

    @property
    def nested(self) -> bool:
        return any("/" in lab for lab in self.labels)


# What a command that fills a dataset folder leaves there until it is done. Half a dataset looks whole to
# the loader (a killed synth had written no groups.csv yet: every clip became a person of its own).
SYNTH_PENDING, KINECT_PENDING = ".synth-pending.json", ".kinect-import-pending.json"
PENDING = {SYNTH_PENDING: "actionrec synth", KINECT_PENDING: "actionrec import-kinect"}


def unfinished_by(root: Path) -> str | None:
    """The command whose run on ``root`` was stopped before its end, if one was."""
    for name, command in PENDING.items():
        if (root / name).is_file():
            return command
    try:  # augment records its settings with "complete": false first, true at the end
        if json.loads((root / "augment.json").read_text(encoding="utf-8")).get("complete") is False:
            return "actionrec augment"
    except (OSError, ValueError, AttributeError):
        pass
    return None


def load_dataset(root: str | Path, background: str = "other", strict: bool = True) -> Dataset:
    """Read a dataset folder. With ``strict`` the first problem raises; otherwise all are collected.

    Problems found here are structural (missing files, bad CSV rows, empty labels). Decoding problems
    (corrupt video, zero frames) surface when frames are read; ``inspect`` checks those too.
    """
    root = Path(root)
    problems: list[str] = []

    def problem(msg: str) -> None:
        if strict:
            raise ActionrecError(msg)
        problems.append(msg)

    if root.exists() and not root.is_dir():
        raise ActionrecError(f"{root}: is a file, not a folder; expected a dataset folder")
    if not root.is_dir():
        raise ActionrecError(f"{root}: dataset folder does not exist")
    unfinished = unfinished_by(root)
    if unfinished:
        problem(f"{root}: {unfinished} has not finished writing this dataset (it was stopped); rerun the same "
                f"command to finish it, expected a whole dataset")
    for name, header in ((GROUPS, "clip,group"), (ANNOTATIONS, "video,start,end,label")):
        if (root / name).is_dir():
            problem(f"{root / name}: is a folder; expected a CSV file {header}")
    warnings: list[str] = []
    annotated = _read_annotations(root, background, problem, warnings.append)
    clips_by_id: dict[str, tuple[Path, str | None, tuple[Segment, ...]]] = {}
    for vid, segs in annotated.items():
        clips_by_id[vid] = (root / vid, None, segs)
    for path, label in _scan_class_folders(root, set(annotated), problem):
        clips_by_id[_rel(path, root)] = (path, label, ())
    if not clips_by_id:
        problem(
            f"{root}: dataset is empty; expected class folders DATASET/<label>/<clip> "
            f"(video {'/'.join(VIDEO_EXTENSIONS)} or a folder of images) or {ANNOTATIONS}"
        )
    groups = _read_groups(root, set(clips_by_id), problem)
    unlisted = sorted(set(clips_by_id) - set(groups))
    if groups and unlisted:  # no groups.csv (or an empty one): every clip its own group, as documented
        warnings.append(f"{root / GROUPS}: {len(unlisted)} of {len(clips_by_id)} clips are not listed (e.g. "
                        f"{unlisted[0]}); each is a group of its own, so one person's unlisted clips can be in "
                        "training and test at once")
    clips = [
        Clip(path=p, id=cid, group=groups.get(cid, cid), label=lab, segments=segs, background=background)
        for cid, (p, lab, segs) in sorted(clips_by_id.items())
    ]
    return Dataset(root=root, clips=clips, background=background, problems=problems, warnings=warnings)


def _is_clip_file(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_EXTENSIONS or is_keypoint_clip(path)


def _clip_info(path: Path, check: bool = False):
    """Frames, fps and duration of a clip: a keypoint clip's from its file, a video's from its decoder."""
    if is_keypoint_clip(path):
        return probe(path)
    return check_clip(path) if check else probe(path)


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def _leads_outside(entry: Path, root: Path, problem) -> bool:
    """A symlink in the dataset that resolves outside it is refused like a CSV path that does."""
    if entry.is_symlink() and not entry.resolve().is_relative_to(root.resolve()):
        problem(f"{entry}: symlink to {entry.resolve()}, outside the dataset folder {root}; expected files inside it")
        return True
    return False


def _scan_class_folders(root: Path, annotated: set[str], problem):
    """Yield (clip path, label) for ``root/<label>/<clip>`` and ``root/<coarse>/<fine>/<clip>``."""
    for top in sorted(p for p in root.iterdir() if not p.name.startswith(".")):
        if _leads_outside(top, root, problem):
            continue
        if top.is_dir():
            yield from _scan_label_dir(root, top, top.name, annotated, problem, depth=1)
        elif _is_clip_file(top) and top.name not in annotated:
            problem(f"{top}: video at the dataset root has no label; move it into DATASET/<label>/ or list it in {ANNOTATIONS}")


def _scan_label_dir(root: Path, folder: Path, label: str, annotated: set[str], problem, depth: int):
    if not label.strip() or label != label.strip():
        problem(f"{folder}: label folder name {label!r} is empty or has surrounding spaces")
        return
    entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    found = False
    for entry in entries:
        rel = _rel(entry, root)
        if rel in annotated:
            found = True
            continue
        if _leads_outside(entry, root, problem):
            continue
        if entry.is_file():
            if _is_clip_file(entry):
                found = True
                yield entry, label
            elif entry.suffix.lower() in IMAGE_EXTENSIONS:
                problem(f"{entry}: loose image in label folder {label!r}; put a clip's frames in its own folder")
            else:
                problem(f"{entry}: not a video ({'/'.join(VIDEO_EXTENSIONS)}), keypoint clip ({KEYPOINT_SUFFIX}) or frame folder")
        elif entry.is_dir():
            files = [p for p in entry.iterdir() if p.is_file() and not p.name.startswith(".")]
            if files and any(p.suffix.lower() in IMAGE_EXTENSIONS for p in files):
                if any([_leads_outside(p, root, problem) for p in files]):  # a frame read from elsewhere
                    continue
                found = True
                yield entry, label
            elif depth == 1:
                # A sub-folder without images is a finer label: kick/roundhouse.
                found = True
                yield from _scan_label_dir(root, entry, f"{label}/{entry.name}", annotated, problem, depth=2)
            else:
                problem(f"{entry}: labels nest only one level (coarse/fine); expected a clip here")
    if not found:
        problem(f"{folder}: label {label!r} has no clips")


def _read_csv(path: Path, columns: list[str], problem) -> list[tuple[int, dict[str, str]]]:
    try:
        # utf-8-sig: spreadsheet programs start a CSV with a byte-order mark, which would glue onto the
        # first header name (and print as an identical-looking "video").
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = [h.strip() for h in (reader.fieldnames or [])]
            if header[: len(columns)] != columns:
                problem(f"{path}: header is {','.join(header) or '(empty)'}; expected {','.join(columns)}")
                return []
            rows = []
            for row in reader:  # line_num, not a count: blank lines are skipped but still lines in an editor
                fields = {k.strip(): (v or "").strip() for k, v in row.items() if k}
                if any(fields.values()) and not _comment(path, fields[columns[0]]):  # a spreadsheet writes ",,,"
                    rows.append((reader.line_num, fields))
            return rows
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        problem(f"{path}: cannot read CSV ({exc})")
        return []


def _comment(csv_path: Path, first: str) -> bool:
    """A row whose first cell starts with ``#`` is a note to self (read as a video named "# ...", it gave a
    misleading "start/end must be seconds"), unless a file of that name sits beside the CSV."""
    return first.startswith("#") and not (csv_path.parent / first).is_file()


def dataset_path(root: Path, value: str, where: str, column: str) -> str | None:
    """A path read from one of the dataset's CSV files, as a clip id (relative, forward slashes).

    Raises ``_Outside`` when the path is absolute, climbs out with ``..`` or is a symlink that leads
    outside ``root``: every command would read that place, and ``augment`` wrote beside it.
    """
    rel = Path(value)
    if rel.is_absolute() or rel.drive or rel.root:
        raise _Outside(f"{where}: {column} {value!r} is an absolute path; expected a path relative to the dataset folder {root}")
    norm = os.path.normpath(rel)
    if norm == ".." or norm.startswith(".." + os.sep):
        raise _Outside(f"{where}: {column} {value!r} points outside the dataset folder {root}; expected a path inside it")
    real_root = root.resolve()
    if not (root / norm).resolve().is_relative_to(real_root):
        raise _Outside(
            f"{where}: {column} {value!r} is a symlink to {(root / norm).resolve()}, outside the dataset folder "
            f"{root}; expected a file inside it"
        )
    return Path(norm).as_posix()


class _Outside(ValueError):
    """A CSV path that leaves the dataset (the message names file, row and path)."""


def parse_annotations(path: Path, problem, root: Path | None = None, warn=None) -> dict[str, list[Segment]]:
    """``video,start,end,label`` rows -> {video: segments sorted by start}; bad rows go to ``problem``.

    With ``root`` (a dataset's own annotations.csv) every video must lie inside ``root``; with ``warn``
    a row repeating an earlier one is reported there (and read once).
    """
    by_video: dict[str, list[Segment]] = defaultdict(list)
    seen: dict[tuple, int] = {}
    for line, row in _read_csv(path, ["video", "start", "end", "label"], problem):
        where = f"{path}:{line}"
        video, label = row.get("video", ""), row.get("label", "")
        try:
            start, end = float(row.get("start", "")), float(row.get("end", ""))
        except ValueError:
            problem(f"{where}: start/end must be seconds, got {row.get('start')!r}, {row.get('end')!r}")
            continue
        if not video:
            problem(f"{where}: empty video path")
            continue
        if not label:
            problem(f"{where}: empty label")
            continue
        if not (math.isfinite(start) and math.isfinite(end)) or start < 0 or end <= start:
            problem(f"{where}: segment {start}..{end} must have 0 <= start < end")
            continue
        if root is not None:
            try:
                video = dataset_path(root, video, where, "video")
            except _Outside as exc:
                problem(str(exc))
                continue
        else:
            video = Path(video).as_posix()
        key = (video, start, end, label)
        if key in seen:
            # Harmless for training (same label may overlap), but inspect counted its seconds twice.
            if warn is not None:
                warn(f"{where}: duplicate of line {seen[key]} ({video},{start:g},{end:g},{label}); read once")
            continue
        seen[key] = line
        by_video[video].append(Segment(start, end, label))
    for segs in by_video.values():
        segs.sort(key=lambda s: s.start)
    return dict(by_video)


def read_annotations(path: str | os.PathLike) -> dict[str, list[Segment]]:
    """An ``annotations.csv`` anywhere (e.g. ``replay --annotations``); the first bad row raises."""
    path = Path(path)
    if not path.is_file():
        raise ActionrecError(f"{path}: no such annotations file")

    def fail(msg: str) -> None:
        raise ActionrecError(msg)

    return parse_annotations(path, fail)


def _read_annotations(root: Path, background: str, problem, warn) -> dict[str, tuple[Segment, ...]]:
    path = root / ANNOTATIONS
    if not path.exists():
        return {}
    out = {}
    for video, segs in parse_annotations(path, problem, root, warn).items():
        if not (root / video).is_file():
            problem(f"{path}: video {video!r} not found under {root}")
            continue
        # Compare each segment with every earlier one still open, not just its neighbour: a long
        # segment can overlap several later ones.
        open_segs: list[Segment] = []
        for b in segs:
            open_segs = [a for a in open_segs if a.end > b.start + 1e-9]
            for a in open_segs:
                if a.label != b.label:
                    problem(
                        f"{path}: {video}: segments {a.start}-{a.end} ({a.label}) and "
                        f"{b.start}-{b.end} ({b.label}) overlap with different labels"
                    )
            open_segs.append(b)
        out[video] = tuple(segs)
    return out


def format_csv(header: list[str], rows) -> str:
    """CSV text with ``\\n`` line ends, as every actionrec CSV (groups, annotations) is written."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def _read_groups(root: Path, clip_ids: set[str], problem) -> dict[str, str]:
    path = root / GROUPS
    if not path.exists():
        return {}
    groups: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for line, row in _read_csv(path, ["clip", "group"], problem):
        clip, group = row.get("clip", ""), row.get("group", "")
        try:
            clip = dataset_path(root, clip, f"{path}:{line}", "clip")
        except _Outside as exc:
            problem(str(exc))
            continue
        if not group:
            problem(f"{path}:{line}: empty group for clip {clip!r}")
        elif clip not in clip_ids:
            problem(f"{path}:{line}: clip {clip!r} is not in the dataset")
        elif clip in groups and groups[clip] != group:
            # The last row used to win silently, which can put one person's clip in both train and test.
            problem(
                f"{path}:{line}: clip {clip!r} is in group {group!r} here but in {groups[clip]!r} at line "
                f"{first_line[clip]}; expected one group per clip"
            )
        else:
            groups[clip] = group
            first_line.setdefault(clip, line)
    return groups


def check_media(dataset: Dataset) -> list[str]:
    """Decode-level problems: unreadable videos, zero frames, non-images, segments past the end."""
    problems = []
    for clip in dataset.clips:
        try:
            info = _clip_info(clip.path, check=True)
        except ActionrecError as exc:
            problems.append(str(exc))
            continue
        for s in clip.segments:
            if s.start >= info.duration + 1e-6 or s.end > info.duration + 0.5:
                problems.append(
                    f"{dataset.root / ANNOTATIONS}: {clip.id}: segment {s.start}-{s.end} ({s.label}) "
                    f"goes past the video's end at {info.duration:.2f} s"
                )
    return problems


@dataclass
class Inspection:
    dataset: Dataset
    rows: list[dict]  # one per label: clips, frames, seconds
    clips: int
    frames: int
    seconds: float
    fps: list[float]
    groups: dict[str, int]
    problems: list[str]
    warnings: list[str] = field(default_factory=list)  # usable, but probably not what the user meant


def media_warnings(dataset: Dataset) -> list[str]:
    """Frame folders with two files for one frame number or images of different sizes."""
    out = []
    for clip in dataset.clips:
        if clip.path.is_dir():
            try:
                out += folder_warnings(clip.path)
            except ActionrecError:
                pass  # the folder's own error is among check_media's problems
    return out


def inspect(root: str | Path, background: str = "other") -> Inspection:
    """Everything ``actionrec inspect`` prints, with every problem found (not just the first)."""
    ds = load_dataset(root, background=background, strict=False)
    problems = list(ds.problems) + check_media(ds)
    per_label: dict[str, dict] = defaultdict(lambda: {"clips": 0, "frames": 0, "seconds": 0.0})
    total_frames, total_seconds, rates = 0, 0.0, []
    for clip in ds.clips:
        try:
            info = _clip_info(clip.path)
        except ActionrecError:
            continue
        total_frames += info.frames
        total_seconds += info.duration
        rates.append(info.fps)
        if clip.label is not None:
            row = per_label[clip.label]
            row["clips"] += 1
            row["frames"] += info.frames
            row["seconds"] += info.duration
        else:
            covered = 0.0
            for s in clip.segments:
                row = per_label[s.label]
                row["clips"] += 1
                seconds = max(0.0, min(s.end, info.duration) - s.start)
                covered += seconds
                row["seconds"] += seconds
                row["frames"] += int(round(seconds * info.fps))
            rest = max(0.0, info.duration - covered)
            if rest > 1e-6:
                row = per_label[ds.background]
                row["seconds"] += rest
                row["frames"] += int(round(rest * info.fps))
    rows = [{"label": lab, **vals} for lab, vals in sorted(per_label.items())]
    groups = Counter(c.group for c in ds.clips)
    warnings = list(ds.warnings) + media_warnings(ds)
    return Inspection(
        ds, rows, len(ds.clips), total_frames, total_seconds, sorted(set(rates)), dict(groups), problems, warnings
    )

"""Import Kinect v1 skeleton CSVs (PRECOG's format) as a keypoint-clip dataset.

Input: a folder of ``*.csv``, each one sequence: a header row of the 20 Kinect v1 joint names separated
by ``;``, then one row per frame of 20 ``x y z`` fields (metres, Kinect camera space: x to the sensor's
left, y up, z away from it) and a last field, the frame's label number. A label map (CSV ``number,label``)
names the numbers; labels may be ``coarse/fine`` (``punch/back_fist``).

Output (under OUT, never inside SRC): ``clips/<stem>.kp.npz`` per sequence (``data/keypoints.py``; x and
y negated into camera axes: x right, y down), ``annotations.csv`` with one segment per run of a label
other than the background (frame i spans [i/fps, (i+1)/fps) s), and ``groups.csv``: the person of each
clip, from the part of the file name after the last ``_`` (PRECOG's ``SeqS_P``: P is the subject).
``yaw`` is written into every clip: the camera yaw its pose features are projected at.
"""

from __future__ import annotations

import csv
import gzip
import json
import math
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from actionrec.data.datasets import ANNOTATIONS, GROUPS, KINECT_PENDING, format_csv
from actionrec.data.keypoints import KEYPOINT_SUFFIX, KINECT_V1, save_keypoints
from actionrec.errors import ActionrecError
from actionrec.util.atomic import write_json, write_text
from actionrec.util.outputs import OutputKind, claim_output

KINECT_FPS = 30.0  # Kinect v1's skeleton stream rate
MARKER = "kinect_import.json"  # what makes OUT this command's own output (a rerun replaces its files)
PENDING_MARKER = KINECT_PENDING  # the clips an import is writing, until it is done (load_dataset refuses it)


def is_kinect_import(folder: Path) -> bool:
    """An import's folder: finished (its marker), or stopped part way (its pending marker), so a rerun resumes."""
    return _marker(folder / MARKER, "source") is not None or _marker(folder / PENDING_MARKER, "clips") is not None


def _marker(path: Path, key: str):
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data.get(key) if isinstance(data, dict) else None


def _earlier_clips(out: Path) -> set[str]:
    """The clips earlier imports into ``out`` wrote or were writing: this import's own files to replace.

    Only the markers say which: groups.csv is the user's to edit, and a clip they added and listed there is
    not the import's to delete. (An import of before the marker listed its clips leaves its stale ones.)"""
    clips = set(_marker(out / PENDING_MARKER, "clips") or [])
    clips.update(_marker(out / MARKER, "written") or [])
    return {c for c in clips if isinstance(c, str) and c.startswith("clips/") and c.endswith(KEYPOINT_SUFFIX)
            and "/" not in c[len("clips/"):]}


KINECT_IMPORT = OutputKind("Kinect import", is_kinect_import)


@dataclass
class KinectImport:
    clips: int = 0
    frames: int = 0
    groups: Counter = field(default_factory=Counter)  # frames per person
    frame_labels: Counter = field(default_factory=Counter)  # frames per label
    segments: Counter = field(default_factory=Counter)  # runs per label


def read_label_map(path: str | os.PathLike) -> dict[int, str]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ActionrecError(f"{path}: cannot read the label map ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ActionrecError(f"{path}: cannot read the label map (not UTF-8 text); expected rows number,label") from None
    out: dict[int, str] = {}
    for line, row in enumerate(csv.reader(text.splitlines()), 1):
        if not any(f.strip() for f in row) or (line == 1 and row[0].strip().lower() == "number"):  # ",," from a spreadsheet
            continue
        try:
            number, label = int(row[0]), row[1].strip()
        except (ValueError, IndexError):
            raise ActionrecError(f"{path}:{line}: {','.join(row)!r}; expected number,label") from None
        if not label or number in out:
            raise ActionrecError(f"{path}:{line}: empty or repeated label for number {number}")
        out[number] = label
    if not out:
        raise ActionrecError(f"{path}: label map is empty; expected rows number,label")
    return out


def read_kinect_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(N, 20, 3) points in Kinect camera space and (N,) label numbers."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.name.lower().endswith(".gz") else path.read_bytes()
        text = raw.decode("utf-8-sig")
    except (OSError, EOFError, UnicodeDecodeError) as exc:  # gzip.BadGzipFile is an OSError
        raise ActionrecError(f"{path}: cannot read it ({exc}); expected a Kinect CSV, plain or gzipped") from None
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise ActionrecError(f"{path}: empty file; expected a header of Kinect joint names")
    header = [h.strip() for h in lines[0].split(";")]
    if tuple(header) != KINECT_V1:
        raise ActionrecError(f"{path}: header {';'.join(header)[:60]}...; expected the 20 Kinect v1 joints "
                             f"{';'.join(KINECT_V1[:3])};...")
    points, labels = [], []
    for i, ln in enumerate(lines[1:], 2):
        fields = ln.split(";")
        try:
            if len(fields) != len(KINECT_V1) + 1:
                raise ValueError
            xyz = [[float(v) for v in f.split()] for f in fields[:-1]]
            if any(len(p) != 3 for p in xyz):
                raise ValueError
            labels.append(int(fields[-1]))
        except ValueError:
            raise ActionrecError(f"{path}:{i}: expected {len(KINECT_V1)} fields 'x y z' and a label number, "
                                 "separated by ';'") from None
        points.append(xyz)
    if not points:
        raise ActionrecError(f"{path}: no frames after the header")
    return np.asarray(points, np.float64), np.asarray(labels, int)


def _runs(labels: np.ndarray):
    start = 0
    for i in range(1, len(labels) + 1):
        if i == len(labels) or labels[i] != labels[start]:
            yield start, i, int(labels[start])
            start = i


def import_kinect(src: str | os.PathLike, out: str | os.PathLike, label_map: dict[int, str],
                  background: str = "other", fps: float = KINECT_FPS,
                  yaw: float | tuple[float, ...] = 0.0) -> KinectImport:
    """Write the dataset (module docstring) under OUT: a new or empty folder, or an earlier import.

    Several yaws write every sequence once per yaw (``clips/<stem>@yaw<Y>.kp.npz``), all of one person in
    that person's group: views for training, never a person in both train and test."""
    yaws = tuple(float(y) for y in yaw) if isinstance(yaw, (tuple, list)) else (float(yaw),)
    if not yaws or len(set(yaws)) != len(yaws):
        raise ActionrecError(f"camera yaws {list(yaws)}: expected one or more different angles")
    if not all(math.isfinite(y) for y in yaws) or not (math.isfinite(fps) and fps > 0):
        raise ActionrecError(f"fps {fps:g}, camera yaws {list(yaws)}: expected a frame rate > 0 and finite angles")
    src, out = Path(src), Path(out)
    if not src.is_dir():
        raise ActionrecError(f"{src}: not a folder; expected a folder of Kinect CSV files")
    claim_output(out, KINECT_IMPORT, inputs=[src], option="OUT")
    # Gzipped as actionrec ships PRECOG; any case of the extension, as Windows tools write "SEQ1_1.CSV".
    files = sorted(p for p in src.iterdir() if p.name.lower().endswith((".csv", ".csv.gz")) and p.is_file())
    if not files:
        raise ActionrecError(f"{src}: no .csv or .csv.gz files; expected Kinect v1 skeleton CSVs")
    stems = [f.name[:f.name.lower().index(".csv")] for f in files]
    seen: dict[str, Path] = {}
    for f, stem in zip(files, stems):  # Seq1_1.csv and Seq1_1.csv.gz (or seq1_1.CSV) would write one clip twice
        if stem.lower() in seen:
            raise ActionrecError(f"{seen[stem.lower()]} and {f}: two sequences named {stem!r}; expected one file per sequence")
        seen[stem.lower()] = f
    stats, ann_rows, group_rows = KinectImport(), [], []
    earlier = _earlier_clips(out)

    def clip_id(stem: str, view: float) -> str:
        return f"clips/{stem}{'' if len(yaws) == 1 else f'@yaw{view:g}'}{KEYPOINT_SUFFIX}"

    planned = [clip_id(stem, view) for stem in stems for view in yaws]
    write_json(out / PENDING_MARKER, {"clips": sorted(set(planned) | earlier)})  # before any clip: a stopped run resumes
    (out / "clips").mkdir(parents=True, exist_ok=True)
    for f, stem in zip(files, stems):
        points, labels = read_kinect_csv(f)
        unknown = sorted(set(labels.tolist()) - set(label_map))
        if unknown:
            raise ActionrecError(f"{f}: label number(s) {unknown} are not in the label map")
        cam = points * np.array([-1.0, -1.0, 1.0])  # Kinect (x left, y up) -> camera axes (x right, y down)
        person = stem.rsplit("_", 1)[-1]
        for view in yaws:
            clip = clip_id(stem, view)
            save_keypoints(out / clip, cam, KINECT_V1, fps, view)
            group_rows.append((clip, f"person{person}"))
            for a, b, num in _runs(labels):
                lab = label_map[num]
                stats.segments[lab] += 1
                stats.frame_labels[lab] += b - a
                if lab != background:
                    ann_rows.append((clip, f"{a / fps:.4f}", f"{b / fps:.4f}", lab))
            stats.clips += 1
            stats.frames += len(labels)
            stats.groups[f"person{person}"] += len(labels)
    write_text(out / ANNOTATIONS, format_csv(["video", "start", "end", "label"], ann_rows))
    write_text(out / GROUPS, format_csv(["clip", "group"], group_rows))
    write_json(out / MARKER, {"source": str(src.resolve()), "fps": fps, "yaw": yaws[0] if len(yaws) == 1 else list(yaws), "labels": {str(k): v for k, v in label_map.items()},
                              "clips": stats.clips, "frames": stats.frames, "written": sorted(set(planned))})
    for stale in sorted(earlier - set(planned)):  # an earlier import's clips this one does not have (other yaws)
        (out / stale).unlink(missing_ok=True)
    (out / PENDING_MARKER).unlink()
    return stats

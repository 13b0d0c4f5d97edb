"""Which paths a command may write: a new or empty folder, or that command's own earlier output.

Every command that writes (train, evaluate, augment, synth, export, record, demo) calls ``claim_output``
on its output before any work. The claim refuses, with one line, a file, a folder holding anything else
(a user's files, another command's output, the input dataset itself), a place inside the input, and a
place that cannot be written (read-only file system, permission). It creates nothing.

A command recognises its own output by the marker file it writes:

    model directory   config.json with kind, classes and embedder (train, export; the demo's model)
    report folder     report.json with classes, folds and models, or folds/fold*.npz (evaluate, resumes)
    score report      report.json as evaluate's, with not_in_model (score; a rerun replaces it)
    lever table       levers.json / levers.md and a report folder per row (tools/levers.py, resumes)
    synth dataset     synth.json, or .synth-pending.json while it renders (synth; it checks the config)
    augment output    augment.json (augment; it checks the settings)
    demo folder       demo.json (demo)
    dataset           groups.csv or annotations.csv, or only label folders (record adds takes to it)

A model directory is replaced whole, so an existing one is replaced only with ``overwrite``; the other
kinds are resumed or added to in place.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from actionrec.errors import ActionrecError, from_os_error
from actionrec.util.atomic import is_temp_name, new_temp_file


def _json_object(path: Path) -> dict | None:
    """``path`` read as a JSON object (a marker actionrec wrote), or None."""
    try:
        if not path.is_file() or path.stat().st_size > 1 << 22:  # markers are small; never slurp a big file
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _json_keys(path: Path, keys: tuple[str, ...]) -> bool:
    """Whether ``path`` is a JSON object with all of ``keys``."""
    data = _json_object(path)
    return data is not None and all(k in data for k in keys)


def _entries(folder: Path) -> list[Path]:
    """What a folder holds, leaving out the temp files actionrec's own killed writes leave behind."""
    return sorted(p for p in folder.iterdir() if not is_temp_name(p.name))


def _is_model(folder: Path) -> bool:
    return _json_keys(folder / "config.json", ("kind", "classes", "embedder"))


_FOLD_FILE = re.compile(r"^fold\d+-[0-9a-f]{16}\.npz$")  # evaluate's per-fold results


_SIZE_DIR = re.compile(r"^\d+x\d+$")  # evaluate --size A,B: a report per size beside the shared folds/


def _report_of(folder: Path, scored: bool) -> bool:
    """report.json of ``evaluate`` (``scored`` False) or of ``score`` (True: it names the model it judged)."""
    data = _json_object(folder / "report.json")
    return data is not None and all(k in data for k in ("classes", "folds", "models")) and ("not_in_model" in data) == scored


def _is_report(folder: Path) -> bool:
    if _report_of(folder, scored=False):
        return True
    # An evaluation killed before its report: folds/ with finished folds (or none yet) and, for a size list,
    # the reports of the sizes done.
    folds, rest = folder / "folds", [p for p in _entries(folder) if p.name != "folds"]
    return (folds.is_dir() and all(_FOLD_FILE.match(p.name) for p in _entries(folds))
            and all(_SIZE_DIR.match(p.name) and p.is_dir() and _report_of(p, scored=False) for p in rest))


def _is_score_report(folder: Path) -> bool:
    return _report_of(folder, scored=True)


def _is_lever_table(folder: Path) -> bool:
    """tools/levers.py's folder, even one killed before its first row was done: its table and a report per row."""
    entries = _entries(folder)
    return bool(entries) and all((p.name in ("levers.json", "levers.md") and p.is_file())
                                 or (re.fullmatch(r"row\d+", p.name) is not None and p.is_dir() and _is_report(p))
                                 for p in entries)


def _is_synth(folder: Path) -> bool:
    return (folder / "synth.json").is_file() or (folder / ".synth-pending.json").is_file()


def _is_augment(folder: Path) -> bool:
    return (folder / "augment.json").is_file()


def _is_demo(folder: Path) -> bool:
    return _json_keys(folder / "demo.json", ("options",))


def _is_dataset(folder: Path) -> bool:
    if (folder / "groups.csv").is_file() or (folder / "annotations.csv").is_file():
        return True
    visible = [p for p in _entries(folder) if not p.name.startswith(".")]
    return bool(visible) and all(p.is_dir() for p in visible) and _only_clips(folder)  # label folders, as record makes them


def _only_clips(folder: Path, limit: int = 20000) -> bool:
    """Whether every visible file below ``folder`` is where a clip can be: a video or keypoint clip in a label
    folder, an image in a frame folder inside one. A folder of photo albums (``2019_paris/a.jpg``) is not a
    dataset to record into."""
    from actionrec.data.keypoints import KEYPOINT_SUFFIX
    from actionrec.data.video import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS

    for n, path in enumerate(folder.rglob("*")):
        rel = path.relative_to(folder).parts
        if n >= limit:
            return False  # not a dataset record makes in minutes; not worth walking further
        if any(part.startswith(".") for part in rel) or not path.is_file():
            continue
        name = path.name.lower()
        clip = len(rel) >= 2 and (name.endswith(VIDEO_EXTENSIONS) or name.endswith(KEYPOINT_SUFFIX))
        frame = len(rel) >= 3 and name.endswith(IMAGE_EXTENSIONS)
        if not (clip or frame):
            return False
    return True


@dataclass(frozen=True)
class OutputKind:
    noun: str  # as the refusal names it: "model directory"
    owns: Callable[[Path], bool]  # whether an existing, non-empty folder is this kind's output
    replaced: bool = False  # the command swaps in a new folder whole (so an existing one needs overwrite)
    must_exist: bool = False  # the command adds files to an existing output of its kind (export)
    own_files: tuple[str, ...] = ()  # what a replaced folder may hold: anything else stops the replacement

    @property
    def a(self) -> str:
        """The noun with its article: "an evaluation report folder"."""
        return f"{'an' if self.noun[0] in 'aeiou' else 'a'} {self.noun}"


# What train and export write into a model directory (learn/models.py, live/exported.py).
MODEL_OWN_FILES = ("model.keras", "backbone.keras", "config.json", "history.json", "embedder.tflite", "classifier.tflite", "savedmodel")

MODEL = OutputKind("model directory", _is_model, replaced=True, own_files=MODEL_OWN_FILES)
MODEL_FILES = OutputKind("model directory", _is_model, must_exist=True)  # export writes into a model
REPORT = OutputKind("evaluation report folder", _is_report)
SCORE = OutputKind("score report folder", _is_score_report)
LEVERS = OutputKind("lever table folder", _is_lever_table)
SYNTH = OutputKind("synthetic dataset", _is_synth)
AUGMENT = OutputKind("augment output", _is_augment)
DEMO = OutputKind("demo folder", _is_demo)
DATASET = OutputKind("dataset", _is_dataset)

# For naming what a refused folder holds instead. The dataset test comes last: it is the loosest.
_KNOWN = (MODEL, REPORT, SCORE, DEMO, AUGMENT, SYNTH, DATASET)


def claim_output(path: str | os.PathLike, kind: OutputKind, *, overwrite: bool = False,
                 inputs: Iterable[str | os.PathLike] = (), option: str = "--out") -> Path:
    """Check, before any work, that ``path`` may receive ``kind``'s output; raise one ``ActionrecError`` if not.

    ``inputs`` are the dataset folders the command reads: the output may be neither one of them, nor
    inside one, nor hold one. ``option`` is how the refusal names the path's option.
    """
    path = Path(path)
    for source in inputs:
        _check_apart(path, Path(source), kind, option)
    if path.is_symlink() and not path.exists():
        raise ActionrecError(f"{path}: is a link to nothing; expected a folder for the {kind.noun}")
    if path.exists():
        if not path.is_dir():
            expected = kind.a if kind.must_exist else f"a new or empty folder for the {kind.noun}"
            raise ActionrecError(f"{path}: exists and is a file, not a folder; expected {expected} "
                                 f"(this file is left as it is; choose another {option})")
        try:
            held = _entries(path)
        except OSError as exc:
            raise from_os_error(exc, path, "cannot read the folder") from None
        if held or kind.must_exist:
            _check_owned(path, held, kind, overwrite, option)
        check_writable(path, path)
    elif kind.must_exist:
        raise ActionrecError(f"{path}: does not exist; expected {kind.a}")
    else:
        check_writable(path, _nearest_existing(path))
    return path


def _check_apart(path: Path, source: Path, kind: OutputKind, option: str) -> None:
    out, src = path.resolve(), source.resolve()
    if out == src:
        raise ActionrecError(f"{path}: is the dataset {source} itself; choose another {option} for the {kind.noun}")
    if src.is_relative_to(out):
        raise ActionrecError(f"{path}: holds the dataset {source}; choose another {option} for the {kind.noun}")
    if out.is_relative_to(src):
        raise ActionrecError(f"{path}: is inside the dataset {source} (which would read it as a label "
                             f"folder); choose an {option} outside it")


def _check_owned(path: Path, held: list[Path], kind: OutputKind, overwrite: bool, option: str) -> None:
    if kind.owns(path):
        if kind.replaced and not overwrite:
            raise ActionrecError(f"{path}: holds {kind.a} already; pass --overwrite to replace it, "
                                 f"or choose another {option}")
        foreign = [p.name for p in held if p.name not in kind.own_files] if kind.replaced else []
        if foreign:  # replacing the folder would delete them: they are not ours to delete
            raise ActionrecError(f"{path}: holds {', '.join(foreign[:3])} besides the {kind.noun}'s own files; "
                                 f"move {'it' if len(foreign) == 1 else 'them'} out first (nothing was replaced)")
        return
    other = next((k.a for k in _KNOWN if k.noun != kind.noun and k.owns(path)), None)
    if other is not None:
        what = f"holds {other}"
    elif not held:
        what = "is empty"
    else:
        names = ", ".join(p.name for p in held[:3]) + (f" and {len(held) - 3} more" if len(held) > 3 else "")
        what = f"holds {names}"
    expected = f"expected {kind.a}" if kind.must_exist else f"expected a new or empty folder or {kind.a}"
    raise ActionrecError(f"{path}: {what}, not {kind.a}; {expected} (nothing there was touched; "
                         f"choose another {option})")


def _nearest_existing(path: Path) -> Path:
    """The folder a missing ``path`` would be created in (its closest existing ancestor)."""
    for parent in path.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise ActionrecError(f"{path}: cannot be created, {parent} is a file, not a folder")
            return parent
    raise ActionrecError(f"{path}: no existing folder above it")  # pragma: no cover (the root exists)


def check_writable(path: Path, folder: Path) -> None:
    """Create and delete a temp file in ``folder``: the one test that sees read-only mounts, permissions
    and ACLs alike (root passes ``os.access`` for everything but a read-only mount). The name is an
    atomic-write temp name, so a probe killed midway is swept like any other."""
    try:
        fd, name = new_temp_file(folder / "write-check")
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        where = f"cannot write in {folder}" if folder != path else "cannot write there"
        raise from_os_error(exc, path, where) from None

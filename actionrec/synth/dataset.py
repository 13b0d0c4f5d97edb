"""Synthetic fighters: labelled videos of moves where the truth is known.

Each synthetic person (a *group*: its own body, clothes, tempo and style) performs keyframed moves in front
of a webcam: close enough that the standing fighter fills most of the frame height, in a room that is
dimmer and out of focus behind them. At the model's 100x56 pixels MobileNet must see the fighter, not the
room: a small figure in front of a busy, sharp backdrop made the moves unlearnable. Two kinds of output, in
the folder layout the dataset loader reads::

    OUT/<coarse>/<fine>/pNN_cMM.mp4   one move per clip (2-2.6 s), e.g. OUT/kick/back/p03_c02.mp4
    OUT/sparring/pNN_sMM.mp4          a long video of moves separated by idling and walking
    OUT/annotations.csv               video,start,end,label: segments tiling every sparring video
    OUT/groups.csv                    clip,group: the person in every video (for grouped folds)
    OUT/preview.png                   contact sheet: a row per class, key moments of a few people
    OUT/synth.json                    the config, written last: its presence means "complete"

With ``RenderOptions.keypoints`` every video is a keypoint clip instead (``.kp.npz``: the joints where the
picture would show them, ``synth/keypoints.py``), in the same layout: no pixels, for pose models. Cameras
(``RenderOptions.camera``, ``synth/camera.py``) are drawn per video: front, side or between, high or low,
near or far, mirrored, full body or waist up.

The roundhouse and the back kick share their fully extended pose exactly; they differ only in how they
get there (the roundhouse chambers to the side and sweeps round, turning its back to the camera; the back
kick turns away with the knee drawn in, passing the chest past the camera, and drives straight back). By
default each kick returns to guard along the *other* kick's path, so the two are time reverses of each
other: every frame of one appears in the other and only the order tells them apart (the article's point).

Everything random derives from ``np.random.default_rng([seed, person, class, index])``, so a killed run
resumes to the same bytes a fresh run writes, and each clip is written atomically.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from actionrec.data.datasets import SYNTH_PENDING, format_csv
from actionrec.data.keypoints import load_keypoints, save_keypoints
from actionrec.data.video import is_complete_video, write_video
from actionrec.errors import ActionrecError
from actionrec.synth.options import SynthConfig, RenderOptions
from actionrec.synth.plan import ClipPlan, plan_dataset
from actionrec.synth.keypoints import JOINT_NAMES, keypoint_clip
from actionrec.synth.render import render, write_preview
from actionrec.util.atomic import remove_stale_temps, write_json, write_text


@dataclass(frozen=True)
class SynthSummary:
    out: Path
    clips: int  # class-folder clips
    sparring: int  # sparring videos
    rendered: int  # videos written by this call (0 when the folder was already complete)
    seconds: float  # wall time of this call
    class_counts: dict[str, int]
    groups_csv: Path
    annotations_csv: Path
    preview: Path
    config_json: Path
    remade: bool = False  # a dataset of another config was in the folder and was replaced (``remake``)

    @property
    def remade_note(self) -> str:
        """What to add to a log line about this call: why everything was rendered again, or nothing."""
        return "; an earlier version's, with other options, replaced" if self.remade else ""


_CONFIG_NAME = "synth.json"
_PENDING_NAME = SYNTH_PENDING  # the config of an unfinished run, so a resume can check it (load_dataset refuses it)


def synthesize(out: str | Path, people: int = 6, clips_per_class: int = 6, seed: int = 0,
               sparring_per_person: int = 1, sparring_seconds: float = 40.0,
               options: RenderOptions | None = None, remake: bool = False) -> SynthSummary:
    """Render a synthetic dataset into ``out`` (see the module docstring for the layout).

    Cached: a complete folder with the same config is left alone. Resumable: videos already written by
    an interrupted run with the same config are kept. A folder made with another config is refused, unless
    ``remake``: the folder is the caller's own cache (the demo's, inside the folder it claimed), and a
    dataset an earlier version made there with other options is removed and made again. A folder that
    holds no synthetic dataset is refused either way.
    """
    started = time.perf_counter()
    out = Path(out)
    config = SynthConfig(seed, people, clips_per_class, sparring_per_person, sparring_seconds,
                         options or RenderOptions())
    wanted = config.to_dict()
    remade = _check_folder(out, wanted, remake)
    plans = plan_dataset(config)
    if not (out / _CONFIG_NAME).exists():
        out.mkdir(parents=True, exist_ok=True)
        _remove_stale_temp_files(out)
        write_json(out / _PENDING_NAME, wanted)
    rendered = 0
    for plan in plans:
        if config.options.keypoints:
            rendered += _write_keypoints(out, plan, config)
        # Written atomically and checked before the rename, but re-checked: earlier versions committed
        # videos a full disk had cut short.
        elif not is_complete_video(out / plan.path):
            frames, _ = render(plan)
            write_video(out / plan.path, frames, plan.fps)
            rendered += 1
    if rendered or not (out / _CONFIG_NAME).exists():
        write_text(out / "groups.csv", _groups_csv(plans))
        write_text(out / "annotations.csv", _annotations_csv(plans))
        write_preview(out, config, plans)
        write_json(out / _CONFIG_NAME, {**wanted, "counts": _counts(plans, config.options.classes)})
        (out / _PENDING_NAME).unlink(missing_ok=True)
    clips = [p for p in plans if p.label != "sparring"]
    return SynthSummary(
        out=out, clips=len(clips), sparring=len(plans) - len(clips), rendered=rendered,
        seconds=time.perf_counter() - started, class_counts=_counts(plans, config.options.classes)["classes"],
        groups_csv=out / "groups.csv", annotations_csv=out / "annotations.csv",
        preview=out / "preview.png", config_json=out / _CONFIG_NAME, remade=remade,
    )


def _write_keypoints(out: Path, plan: ClipPlan, config: SynthConfig) -> int:
    """Write a plan's keypoint clip unless a readable one is there (written atomically, so a file that loads
    is complete); 1 when written."""
    path = out / plan.path
    try:
        load_keypoints(path)
        return 0
    except ActionrecError:
        pass
    points = keypoint_clip(plan, config.options.keypoint_noise, config.seed)
    save_keypoints(path, points, JOINT_NAMES, plan.fps)
    return 1


def _remove_stale_temp_files(out: Path) -> None:
    """Drop the temp files a killed run left behind in the dataset's folders (only those whose writer is gone)."""
    for folder in [out, *(p for p in out.rglob("*") if p.is_dir())]:
        remove_stale_temps(folder)


def _check_folder(out: Path, wanted: dict, remake: bool = False) -> bool:
    """Refuse a folder holding another dataset (or anything else); accept an empty or matching one. With
    ``remake``, remove a synthetic dataset of another config instead of refusing it: True when it did."""
    if remake:
        _remove_discarded(out)  # what an interrupted removal left
    if not out.exists():
        return False
    if not out.is_dir():
        raise ActionrecError(f"{out}: exists and is not a folder; expected a folder for the synthetic dataset")
    for name in (_CONFIG_NAME, _PENDING_NAME):
        marker = out / name
        if marker.exists():
            try:
                found = json.loads(marker.read_text())
            except (OSError, ValueError) as e:
                raise ActionrecError(f"{marker}: unreadable ({e}); expected the JSON that synthesize writes") from e
            if not isinstance(found, dict):
                raise ActionrecError(f"{marker}: not a JSON object; expected the JSON that synthesize writes")
            found.pop("counts", None)
            if found != wanted:
                if remake:
                    _discard(out)
                    return True
                diff = sorted(k for k in set(found) | set(wanted) if found.get(k) != wanted.get(k))
                raise ActionrecError(
                    f"{out}: holds a synthetic dataset made with a different config (differs in "
                    f"{', '.join(diff)}: {', '.join(f'{k}={found.get(k)!r}' for k in diff)}); "
                    f"delete it or choose another folder"
                )
            return False
    if any(out.iterdir()):
        raise ActionrecError(
            f"{out}: folder is not empty and holds no {_CONFIG_NAME}; expected an empty or new folder"
        )
    return False


def _discarded(out: Path) -> Path:
    return out.with_name(f".{out.name}.discarded")


def _discard(out: Path) -> None:
    """Remove a dataset folder: renamed away first (atomic), so an interrupted removal never leaves a
    half-deleted dataset under the real name; the next call finishes it."""
    os.replace(out, _discarded(out))
    _remove_discarded(out)


def _remove_discarded(out: Path) -> None:
    if _discarded(out).exists():
        shutil.rmtree(_discarded(out))


def _counts(plans: list[ClipPlan], names: tuple[str, ...]) -> dict:
    classes = {c: sum(p.label == c for p in plans) for c in names}
    segments = [s for p in plans if p.label == "sparring" for s in p.segments()]
    return {
        "people": len({p.person.pid for p in plans}), "clips": sum(classes.values()), "classes": classes,
        "sparring_videos": sum(p.label == "sparring" for p in plans),
        "sparring_segments": {c: sum(s.label == c for s in segments) for c in names},
    }


def _groups_csv(plans: list[ClipPlan]) -> str:
    return format_csv(["clip", "group"], [[p.path, p.person.pid] for p in plans])


def _annotations_csv(plans: list[ClipPlan]) -> str:
    rows = [[p.path, f"{s.start:.3f}", f"{s.end:.3f}", s.label]
            for p in plans if p.label == "sparring" for s in p.segments()]
    return format_csv(["video", "start", "end", "label"], rows)



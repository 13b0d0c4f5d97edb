"""Which per-frame features a model sees: parts ``mobilenet`` (the article's, ``FeatureSpec()``), ``pose`` and
``diff``, alone or joined with ``+`` (``both`` = ``mobilenet+pose``). The command line's default, when
``--features`` is left out, is ``default_features``.

``diff`` is the motion stream: MobileNet on the absolute difference of consecutive frames at the model's
rate, so that what moves is what is seen. Parts are concatenated per frame in ``PARTS`` order,
``[mobilenet (1024), pose (POSE_DIM = 166), diff (1024)]``; each is cached per clip on its own
(``features/frames.py``), so ``both+diff`` reuses what ``mobilenet``, ``pose`` and ``diff`` runs stored.
A model records its ``FeatureSpec`` in config.json (the kind in its canonical spelling, ``canonical_kind``)
and refuses windows of other features. ``:body`` after a kind with pose (``pose:body``) is the view of the
pose part that keeps only what every pose source has (``POSE_JOINTS``).

Pose runs on the decoded source frame, not on the model's 100x56 input (a 56-px-high person has no
joints to find), with its long side capped at ``POSE_LONG_SIDE`` px: the detector sees 224x224 and the
landmark model a 256x256 crop, so a person spanning up to 256 px of a 640-px frame keeps every pixel the
models use, while a 1080p source would only cost resize time.
"""

from __future__ import annotations

import hashlib
from itertools import combinations
from dataclasses import asdict, dataclass, fields

import numpy as np

from actionrec.data.video import FrameSpec
from actionrec.errors import ActionrecError
from actionrec.features.mobilenet import EMBEDDING_DIM
from actionrec.features.pose.assets import SPECS as POSE_MODEL_SPECS
from actionrec.features.pose.tracker import PoseOptions
from actionrec.features.pose.vector import CHANNELS, JOINT, NO_PERSON, POSE_DIM

# The parts a frame's features can have, in their order in the vector, with their sizes: the one place
# that knows them. ``pose`` stays second so that a ``both`` model's pose columns keep their place.
PARTS = {"mobilenet": EMBEDDING_DIM, "pose": POSE_DIM, "diff": EMBEDDING_DIM}
# Accepted names of several parts; ``both`` (from before ``diff``) is also the canonical spelling of its two.
SYNONYMS = {"both": ("mobilenet", "pose")}
# Which columns of the pose vector a model sees. "all": the whole vector. "body": x and y of the 17 joints
# that every source has (BlazePose on a real person, a Kinect, a COCO detector, the synthetic figure's exact
# joints) and the no-person flag, the rest zero: z, visibility, presence, the face, fingers and heels are
# each source's own (a Kinect has no visibility; BlazePose's z is its own guess), so a model that reads them
# learns its training source, not the move. The width stays POSE_DIM, so caches and exports are shared.
POSE_JOINTS = ("all", "body")
BODY_JOINTS = ("nose", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
               "left_index", "right_index", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
               "right_ankle", "left_foot_index", "right_foot_index")


def _body_mask() -> np.ndarray:
    mask = np.zeros(POSE_DIM, np.float32)
    for name in BODY_JOINTS:
        j = JOINT[name] * len(CHANNELS)
        mask[j:j + 2] = 1.0  # x, y
    mask[NO_PERSON] = 1.0
    return mask


BODY_MASK = _body_mask()
POSE_LONG_SIDE = 640
POSE_FORMAT = 2  # bump when the pose vector or the way a clip is run changes (2: small people's finer pixels)
# PoseOptions fields that do not change a pose: where the files are and how many threads run them.
_NOT_IN_KEY = ("models", "num_threads")


@dataclass(frozen=True)
class FeatureSpec:
    """The features per frame and the settings of the pose part (the MobileNet part has EmbedderConfig)."""

    kind: str = "mobilenet"
    pose_long_side: int = POSE_LONG_SIDE
    pose_options: PoseOptions = PoseOptions()
    pose_joints: str = "all"

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", canonical_kind(self.kind))
        if self.pose_joints not in POSE_JOINTS:
            raise ActionrecError(f"pose joints {self.pose_joints!r}: expected one of {'|'.join(POSE_JOINTS)}")
        if int(self.pose_long_side) < 64:
            raise ActionrecError(f"pose long side {self.pose_long_side}: expected at least 64 px")
        object.__setattr__(self, "pose_long_side", int(self.pose_long_side))

    @property
    def parts(self) -> tuple[str, ...]:
        """The parts of a frame's vector, in their order (``PARTS``')."""
        return kind_parts(self.kind)

    @property
    def uses_mobilenet(self) -> bool:
        """The appearance part: MobileNet on the frame itself."""
        return "mobilenet" in self.parts

    @property
    def uses_pose(self) -> bool:
        return "pose" in self.parts

    @property
    def uses_diff(self) -> bool:
        """The motion part: MobileNet on the difference from the previous frame at the model's rate."""
        return "diff" in self.parts

    @property
    def runs_mobilenet(self) -> bool:
        """MobileNet (its weights, its embedder) is needed: for the appearance part, the motion part or both."""
        return self.uses_mobilenet or self.uses_diff

    @property
    def dim(self) -> int:
        return sum(PARTS[p] for p in self.parts)

    def part_slice(self, part: str) -> slice:
        """Where ``part`` sits in a frame's feature vector (empty when the spec has no such part)."""
        if part not in self.parts:
            return slice(0, 0)
        start = sum(PARTS[p] for p in self.parts[: self.parts.index(part)])
        return slice(start, start + PARTS[part])

    @property
    def pose_slice(self) -> slice:
        """Where the pose part sits in a frame's feature vector."""
        return self.part_slice("pose")

    @classmethod
    def parse(cls, text: str) -> "FeatureSpec":
        """``--features``: a kind, with ``:body`` after pose or both for the body joints' view (``pose:body``)."""
        kind, _, joints = text.partition(":")
        return cls(kind, pose_joints=joints or "all")

    def view_pose(self, vectors: np.ndarray) -> np.ndarray:
        """The pose vectors (..., POSE_DIM) as this model sees them (``pose_joints``)."""
        return vectors if self.pose_joints == "all" else (vectors * BODY_MASK).astype(np.float32)

    def to_dict(self) -> dict:
        opts = asdict(self.pose_options)
        opts["models"] = None  # a path on one machine, not a setting of the features
        d = {"kind": self.kind, "pose_long_side": self.pose_long_side, "pose_options": opts}
        if self.pose_joints != "all":  # older models have no such key: the whole vector
            d["pose_joints"] = self.pose_joints
        return d

    @classmethod
    def from_dict(cls, d: dict | None) -> "FeatureSpec":
        """A model's recorded features; a model from before pose has none: MobileNet."""
        if d is None:
            return cls()
        if not isinstance(d, dict):
            raise ActionrecError(f"features {d!r}: expected an object with a kind")
        known = {f.name for f in fields(PoseOptions)}
        given = d.get("pose_options") or {}
        if not isinstance(given, dict):
            raise ActionrecError(f"pose_options {given!r}: expected an object of pose settings")
        opts = {k: v for k, v in given.items() if k in known}
        long_side = d.get("pose_long_side", POSE_LONG_SIDE)
        if not isinstance(long_side, int) or isinstance(long_side, bool) or long_side < 1:
            raise ActionrecError(f"pose_long_side {long_side!r}: expected a whole number of pixels >= 1")
        return cls(str(d.get("kind", "mobilenet")), long_side, PoseOptions(**opts), str(d.get("pose_joints", "all")))

    def pose_key(self, frame_spec: FrameSpec) -> "PoseKey":
        return PoseKey(self, frame_spec)

    def describe_difference(self, other: "FeatureSpec") -> str:
        a, b = self.to_dict(), other.to_dict()
        a.update(a.pop("pose_options")), b.update(b.pop("pose_options"))
        a.setdefault("pose_joints", "all"), b.setdefault("pose_joints", "all")
        return "; ".join(f"{k}: {a[k]!r} vs {b.get(k)!r}" for k in a if a[k] != b.get(k)) or "identical"

    def require(self, other: "FeatureSpec", source: str = "features") -> None:
        """Raise unless ``other`` gives this spec's features (the pose settings count only with pose)."""
        same = other.kind == self.kind and (not self.uses_pose or other.to_dict() == self.to_dict())
        if not same:
            raise ActionrecError(f"{source} are {other.name} features but the model was trained on {self.name} "
                                 f"({self.describe_difference(other)}); use --features {self.name}")

    @property
    def name(self) -> str:
        """As ``--features`` takes it."""
        return self.kind + (f":{self.pose_joints}" if self.pose_joints != "all" else "")


# What the command line trains on when ``--features`` is left out: appearance and motion. (The library's
# ``FeatureSpec()`` stays MobileNet alone, as models from before pose and diff record it.) On real clips of
# small people (survfight-dev, 224x224, 5 folds grouped by source) the shipped LSTM on mobilenet+diff
# reached window accuracy 0.807 / 0.757 / 0.829 (seeds 0 / 1 / 2) against 0.677 / 0.631 / 0.697 on
# mobilenet alone, and led the better frame baseline by 0.078 / 0.063 / 0.080; on the demo's 24 synthetic
# people its fine macro-F1 rose from 0.911 to 0.941.
# The price is a second MobileNet pass per frame (on the difference), in embed and live alike.
DEFAULT_KIND = "mobilenet+diff"


def default_features(finetune: int = 0, article: bool = False) -> "FeatureSpec":
    """The features of a model trained without ``--features``: ``DEFAULT_KIND``, except MobileNet alone for
    ``--finetune`` (it tunes the appearance network only) and ``--article`` (the article's frame model)."""
    return FeatureSpec("mobilenet" if finetune or article else DEFAULT_KIND)


def check_augment_features(spec: "FeatureSpec", augment: int) -> None:
    """Refuses ``augment`` copies of clips with pose features: a copy is augmented model inputs (the model's
    size), which MobileNet and the motion stream embed, while a pose needs the source frame's pixels."""
    if spec.uses_pose:
        raise ActionrecError(f"--augment {augment} with --features {spec.name}: augmented copies are model-size "
                             "frames, and pose features need the source's pixels; expected features without pose "
                             "(mobilenet, diff or mobilenet+diff)")


def kind_parts(kind: str) -> tuple[str, ...]:
    """The parts a features name stands for, in ``PARTS`` order: ``both+diff`` -> (mobilenet, pose, diff).

    Parts joined with ``+`` in any order; ``both`` stands for mobilenet+pose."""
    names = str(kind).strip().lower().split("+")
    given = [q for n in names for q in SYNONYMS.get(n, (n,))]
    if not all(n in PARTS for n in given) or len(set(given)) != len(given):
        raise ActionrecError(f"features {kind!r}: expected one of {'|'.join(FEATURE_KINDS)} "
                             f"(parts {', '.join(PARTS)} joined with +; mobilenet+pose is both)")
    return tuple(p for p in PARTS if p in given)


def canonical_kind(kind: str) -> str:
    """The one spelling of a features name, as config.json records it: ``diff+mobilenet`` -> ``mobilenet+diff``,
    ``mobilenet+pose`` -> ``both`` (the name models had before ``diff``)."""
    name = "+".join(kind_parts(kind))
    for short, parts in SYNONYMS.items():
        name = name.replace("+".join(parts), short, 1)
    return name


# Every accepted combination in its canonical spelling: mobilenet, pose, diff, both, mobilenet+diff, ...
FEATURE_KINDS = tuple(canonical_kind("+".join(c)) for n in range(1, len(PARTS) + 1) for c in combinations(PARTS, n))


@dataclass(frozen=True)
class PoseKey:
    """Everything that changes a clip's pose vectors: the cache folder is named by its hash."""

    features: FeatureSpec
    frame_spec: FrameSpec

    def to_dict(self) -> dict:
        opts = {k: v for k, v in asdict(self.features.pose_options).items() if k not in _NOT_IN_KEY}
        return {"format": POSE_FORMAT, "fps": self.frame_spec.fps, "long_side": self.features.pose_long_side,
                "options": opts, "models": {n: s.sha256 for n, s in sorted(POSE_MODEL_SPECS.items())}}

    def key(self) -> str:
        return "pose-" + hashlib.sha256(repr(sorted(self.to_dict().items())).encode()).hexdigest()[:16]


def pose_entry_problem(vectors: np.ndarray) -> str | None:
    """What is wrong with cached pose vectors beyond shape and finiteness: the no-person flag is 0 or 1."""
    flags = vectors[:, NO_PERSON]
    if not np.all((flags == 0.0) | (flags == 1.0)):
        return "no-person flags other than 0 and 1"
    return None

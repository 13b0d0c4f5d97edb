"""How the LSTM trains, chosen from the amount of training data, for every option left at None.

What decides is the number of window positions in the training clips (every frame that can end a full
window, whatever the stride): ``DataSize.positions``. Below ``SMALL_DATA`` positions the data is "small":

- No early stopping, no validation groups: every training group trains, for all ``epochs``. On small real
  data the validation loss is lowest in epochs 0-3 and rises while accuracy on unseen groups still
  improves, so early stopping hands back an almost untrained model. survfight-dev (real surveillance
  clips, 5 folds grouped by source, 224x224, about 740 positions per fold): LSTM window accuracy 0.65
  with early stopping (2 seeds), 0.71 training every epoch on every group (3 seeds).
- Three LSTMs side by side, their probabilities averaged in one model (``members``; ``--members 1`` for
  one). On survfight-dev, seeds 0-5 of the folds (window accuracy): 0.792 / 0.791 / 0.829 / 0.782 /
  0.833 / 0.812 against 0.807 / 0.757 / 0.829 / 0.771 / 0.804 / 0.795 for one LSTM, higher or equal for 5
  of the 6 seeds, a mean of 0.807 against 0.794 and a worst seed of 0.782 against 0.757. Small data
  trains in minutes, so about twice the training is cheap there; live runs three small LSTMs beside the
  features. (Trained as separate fits with their own batch order, seeds 0-2: 0.816 / 0.783 / 0.832, but
  three times every small training's fixed costs, and TensorFlow warned of retracing.)
- Beside each LSTM's last state, the mean of the window's frames (after the projection; ``window_mean``,
  ``--no-window-mean`` for the state alone): the frame baseline that averages its window (frame_mean) is
  strong on some splits of real data, and this hands the LSTM that view too. survfight-dev, seeds 0-5 of
  the folds, three LSTMs each: 0.805 / 0.806 / 0.834 / 0.800 / 0.841 / 0.801 against 0.792 / 0.791 /
  0.829 / 0.782 / 0.833 / 0.812, higher for 5 of the 6 seeds, a mean of 0.815 against 0.807 and a worst
  seed of 0.800 against 0.782.
- The other regularizers (AdamW weight decay, cosine decay, label smoothing, temporal augmentation) are
  options (``fixed_by_user``, the command line's ``--weight-decay`` etc.) but stay off: added to this
  rule on survfight-dev they moved the LSTM by -0.046 to +0.030, a mean of -0.006 to +0.001 over 3 seeds,
  within the 0.05-0.07 that separates seeds (docs/small-real-data.md); so did averaging the weights
  of the second half of the epochs (-0.001 / -0.005 / -0.003; tried, not kept).

With more data the validation groups are worth having, and the settings tuned on synthetic fighters
stay, with one LSTM and no window mean (the demo's tables were measured so): early stopping on 20 % of the groups (8 synthetic people, 4 folds, about 4400 positions per fold:
window accuracy 0.75 with early stopping, 0.69 training every epoch).

The frame baseline keeps its own settings (the article's model with early stopping), never this rule.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from dataclasses import asdict, dataclass, replace

import numpy as np

from actionrec.errors import ActionrecError
from actionrec.learn.fitting import SCHEDULES
from actionrec.learn.temporal import TemporalAugment

SMALL_DATA = 2000  # window positions: survfight-dev folds have ~740, 8 synthetic people ~4400, PRECOG ~4300


@dataclass(frozen=True)
class DataSize:
    positions: int  # frames of the training clips that can end a full window (stride-independent)
    windows: int  # training windows at the chosen stride, validation groups included
    groups: int  # groups (people, sources) in training, validation groups included
    clips: int

    @classmethod
    def of(cls, windows, rows: np.ndarray) -> "DataSize":
        rows = np.asarray(rows)
        clip_ids = windows.clip_ids[rows]
        if windows.clip_rows is not None:
            _, first = np.unique(clip_ids, return_index=True)
            spans = windows.clip_rows[rows[first]]
            positions = int(np.maximum(spans[:, 1] - spans[:, 0] - windows.n + 1, 0).sum())
        else:
            positions = len(rows)
        return cls(positions, len(rows), len(set(windows.groups[rows].tolist())), len(set(clip_ids.tolist())))

    @property
    def small(self) -> bool:
        return self.positions < SMALL_DATA

    def to_dict(self) -> dict:
        return {**asdict(self), "small": self.small}


# Plentiful data: the settings the synthetic demo was tuned with (fine macro-F1 0.916 on 24 people; dropout
# 0.5 over 0.3: 0.916 vs 0.901).
LARGE = dict(projection=128, input_dropout=0.5, dropout=0.5, window_mean=False, patience=8, val_fraction=0.2, weight_decay=0.0,
             schedule="constant", label_smoothing=0.0, temporal=TemporalAugment.none(), side_swap=0.0, members=1)
SMALL = dict(LARGE, patience=0, val_fraction=0.0, members=3, window_mean=True)
FRAME = dict(patience=8, val_fraction=0.2, weight_decay=0.0, schedule="constant", label_smoothing=0.0,
             temporal=TemporalAugment.none(), side_swap=0.0, members=1)


LSTM_KEYS = ("projection", "input_dropout", "dropout", "window_mean")  # the rest of a rule's keys are TrainOptions'


def fixed_by_user(early_stopping: bool | None = None, weight_decay: float | None = None, schedule: str | None = None,
                  label_smoothing: float | None = None, temporal: bool | None = None, projection: int | None = None,
                  input_dropout: float | None = None, dropout: float | None = None, members: int | None = None,
                  window_mean: bool | None = None) -> dict:
    """The regularizers a user fixed (None: left to the rule), as keys of ``LARGE``; checked here, before any
    embedding. ``temporal`` True: ``TemporalAugment()``'s crops, speed jitter and frame drops."""
    chosen: dict = {}
    if early_stopping is not None:
        chosen.update((k, LARGE[k] if early_stopping else SMALL[k]) for k in ("patience", "val_fraction"))
    if temporal is not None:
        chosen["temporal"] = TemporalAugment() if temporal else TemporalAugment.none()
    if schedule is not None:
        if schedule not in SCHEDULES:
            raise ActionrecError(f"--schedule {schedule!r}: expected one of {', '.join(SCHEDULES)}")
        chosen["schedule"] = schedule
    for name, value, top in (("weight_decay", weight_decay, None), ("label_smoothing", label_smoothing, 1.0),
                             ("input_dropout", input_dropout, 1.0), ("dropout", dropout, 1.0)):
        if value is None:
            continue
        if not value >= 0 or (top is not None and value >= top):
            flag = "--" + name.replace("_", "-")
            raise ActionrecError(f"{flag} {value:g}: expected a number >= 0" + (f" and < {top:g}" if top else ""))
        chosen[name] = float(value)
    if projection is not None:
        if projection < 0:
            raise ActionrecError(f"--projection {projection}: expected 0 (none) or a whole number of units")
        chosen["projection"] = int(projection)
    if members is not None:
        if members < 1:
            raise ActionrecError(f"--members {members}: expected 1 (one LSTM) or more LSTMs to average")
        chosen["members"] = int(members)
    if window_mean is not None:
        chosen["window_mean"] = bool(window_mean)
    return chosen


def with_fixed(lstm, train, chosen: dict):
    """(lstm, train) with the options in ``chosen`` (from ``fixed_by_user`` or a rule) set."""
    return (replace(lstm, **{k: v for k, v in chosen.items() if k in LSTM_KEYS}),
            replace(train, **{k: v for k, v in chosen.items() if k not in LSTM_KEYS}))


def resolve(kind: str, lstm, train, size: DataSize | None):
    """(lstm, train) with every None option replaced by its value for data of this size.

    ``size`` None: as for plentiful data (a model built without data to look at, e.g. for timing).
    """
    if kind == "frame":
        return lstm, _fill(train, FRAME)
    chosen = SMALL if size is not None and size.small else LARGE
    return _fill(lstm, chosen), _fill(train, chosen)


def _fill(options, chosen: dict):
    fields = vars(options)
    return replace(options, **{k: v for k, v in chosen.items() if k in fields and fields[k] is None})


def rule_fingerprint() -> str:
    """A digest of this rule: its thresholds, settings and the code that applies them.

    ``evaluate`` keys its finished folds by the options as the user gave them; a fold trained under an
    earlier rule (another threshold, other small-data settings) must not be reused for the same options,
    so the key carries this too. Editing ``resolve``, ``_fill`` or ``DataSize`` changes it, as does any
    setting; an edit elsewhere in this module does not."""
    settings = json.dumps({"SMALL_DATA": SMALL_DATA, "LARGE": LARGE, "SMALL": SMALL, "FRAME": FRAME},
                          sort_keys=True, default=repr)
    try:
        code = "".join(inspect.getsource(f) for f in (resolve, _fill, DataSize))
    except OSError:  # no source files (a frozen install): the settings alone
        code = ""
    return hashlib.sha256((settings + code).encode()).hexdigest()[:16]

"""How the LSTM trains, chosen from the amount of training data, for every option left at None.

What decides is the number of window positions in the training clips (every frame that can end a full
window, whatever the stride): ``DataSize.positions``. Below ``SMALL_DATA`` positions the data is "small":

- No early stopping, no validation groups: every training group trains, for all ``epochs``. On small real
  data the validation loss is lowest in epochs 0-3 and rises while accuracy on unseen groups still
  improves, so early stopping hands back an almost untrained model. survfight-dev (real surveillance
  clips, 5 folds grouped by source, 224x224, about 740 positions per fold): LSTM window accuracy 0.65
  with early stopping (2 seeds), 0.71 training every epoch on every group (3 seeds).
- The other regularizers (AdamW weight decay, cosine decay, label smoothing, temporal augmentation) are
  available but stay off: alone or together they moved survfight-dev by less than the spread between
  seeds (see the issue-16 table).

With more data the validation groups are worth having, and the settings tuned on synthetic fighters
stay: early stopping on 20 % of the groups (8 synthetic people, 4 folds, about 4400 positions per fold:
window accuracy 0.75 with early stopping, 0.69 training every epoch).

The frame baseline keeps its own settings (the article's model with early stopping), never this rule.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

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
LARGE = dict(projection=128, input_dropout=0.5, dropout=0.5, patience=8, val_fraction=0.2, weight_decay=0.0,
             schedule="constant", label_smoothing=0.0, temporal=TemporalAugment.none(), side_swap=0.0)
SMALL = dict(LARGE, patience=0, val_fraction=0.0)
FRAME = dict(patience=8, val_fraction=0.2, weight_decay=0.0, schedule="constant", label_smoothing=0.0,
             temporal=TemporalAugment.none(), side_swap=0.0)


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

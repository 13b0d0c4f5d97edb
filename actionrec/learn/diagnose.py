"""Warnings read off the learning curves of an evaluation: a model that memorises its training groups.

The sign (issue 16, seen on real surveillance clips in every fold): the loss on unseen groups is lowest
in the first epochs and rises from there while the training loss falls towards 0. The model learns the
training sources (the place, the people) along with the action; early stopping on that loss would hand
back an almost untrained epoch (learn/regularization.py trains small data every epoch instead).
"""

from __future__ import annotations

import numpy as np

EARLY_EPOCHS = 3  # "from the first epochs": the best validation loss is in one of these
RISE = 1.10  # the last validation loss is at least 10 % above the best
TRAIN_FALL = 0.7  # while the last training loss is below 70 % of the one at the best epoch

# Measured: --augment lifted the LSTM on synthetic people (0.78 -> 0.88) and lowered it on survfight-dev
# (3 seeds, -0.021 on average; README, Augmentation), so it is offered as a thing to try, not a cure.
ADVICE = ("more groups (people or sources) help it generalise, and for people small in the frame a larger --size; "
          "augmented copies (--augment N) are worth a try (they helped synthetic people, not real surveillance clips)")


def memorises(history: dict) -> bool:
    """Whether one fit's history shows validation loss rising from the first epochs as training loss falls."""
    val, loss = history.get("val_loss") or [], history.get("loss") or []
    if len(val) < EARLY_EPOCHS + 2 or len(loss) != len(val):
        return False  # too short to tell (or no validation groups)
    val, loss = np.asarray(val, float), np.asarray(loss, float)
    best = int(np.argmin(val))
    return best < EARLY_EPOCHS and val[-1] >= RISE * val[best] and loss[-1] <= TRAIN_FALL * loss[best]


def memorising_warnings(histories: list[dict[str, dict]]) -> list[dict]:
    """One warning per model (``frame``, ``lstm``) whose fits memorise in at least half of the folds.

    ``histories``: per fold, model name -> that fold's training history.
    """
    out = []
    models = sorted({m for h in histories for m in h})
    for model in models:
        runs = [h[model] for h in histories if model in h]
        hits = [i + 1 for i, h in enumerate(runs) if memorises(h)]
        if runs and 2 * len(hits) >= len(runs):
            # Without held-out groups (small data trains on all of them) the test fold's loss was recorded instead.
            monitored = any(runs[i - 1].get("val_source") == "monitor" for i in hits)
            what = "the test folds' (recorded, never used to stop)" if monitored else "validation"
            out.append({
                "model": model,
                "kind": "memorising",
                "folds": hits,
                "message": (f"{model}: {what} loss was lowest in the first {EARLY_EPOCHS} epochs and then rose "
                            f"while the training loss fell, in {len(hits)} of {len(runs)} folds (folds "
                            f"{', '.join(map(str, hits))}): it memorises the training groups; {ADVICE}"),
            })
    return out

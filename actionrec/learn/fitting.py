"""The pieces of one Keras fit: batches (with temporal augmentation), the optimizer and its schedule, the
loss, and early stopping that always hands back the best epoch's weights.

Kept apart from ``models`` (what is trained and saved) so that both stay short; only ``models`` calls it.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

import numpy as np

from actionrec.errors import ActionrecError
from actionrec.learn.side_swap import SWAP_STREAM, swap_sides_in_batch
from actionrec.learn.temporal import TemporalAugment, augment_rows, batch_rng, clip_bounds, relabel
from actionrec.learn.windows import WindowSet

SCHEDULES = ("cosine", "plateau", "constant")


class _Targets:
    """Class indices as the loss wants them: as they are, or one-hot (label smoothing of several classes)."""

    def __init__(self, n_classes: int, one_hot: bool):
        self.eye = np.eye(n_classes, dtype=np.float32) if one_hot and n_classes > 2 else None

    def __call__(self, y: np.ndarray) -> np.ndarray:
        return y if self.eye is None else self.eye[y]


def batches(windows: WindowSet, rows: np.ndarray, y: np.ndarray, batch: int, flat: bool, shuffle_seed: int | None,
            n_classes: int = 2, one_hot: bool = False, temporal: TemporalAugment | None = None,
            frame_y: np.ndarray | None = None, policy: str = "last", pose: slice | None = None, side_swap: float = 0.0):
    """A Keras PyDataset gathering windows batch by batch (overlapping windows are never copied whole).

    With ``temporal`` (training only), each batch's windows are varied by ``augment_rows``, drawn from
    ``[shuffle_seed, epoch, batch]``; ``frame_y`` (class index per frame row, -1 for other classes) gives
    the varied windows' labels. With ``side_swap`` > 0 and ``pose`` (the pose columns), that share of
    the training windows has left and right swapped in a run of frames (``side_swap.py``).
    """
    import keras

    to_y = _Targets(n_classes, one_hot)
    if temporal is not None and temporal.active:
        if flat or shuffle_seed is None or frame_y is None:
            raise ActionrecError("temporal augmentation needs sequence windows, a seed and frame labels")
        lo, hi = clip_bounds(windows)
    else:
        temporal = None

    class Gather(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.epoch = 0
            self.order = self._order()

        def __len__(self):
            return max(1, int(np.ceil(len(self.order) / batch)))

        def __getitem__(self, i):
            sel = self.order[i * batch : (i + 1) * batch]
            idx, labels = windows.index[sel], y[sel]
            if temporal is not None:
                idx = augment_rows(idx, lo[sel], hi[sel], temporal, batch_rng(shuffle_seed, self.epoch, i))
                varied = relabel(idx, frame_y, policy)
                # A varied window whose label is not a model class (a background the model never saw) keeps its own.
                labels = np.where(varied >= 0, varied, labels)
            x = windows.frames[idx]
            if side_swap and pose is not None and shuffle_seed is not None:
                x = swap_sides_in_batch(x, pose, side_swap, batch_rng(shuffle_seed, self.epoch, i, SWAP_STREAM))
            return (x[:, -1] if flat else x), to_y(labels)

        def _order(self):
            if shuffle_seed is None:
                return rows
            return np.random.default_rng([shuffle_seed, self.epoch]).permutation(rows)

        def on_epoch_end(self):
            self.epoch += 1
            self.order = self._order()

    return Gather()


def optimizer(learning_rate: float, weight_decay: float, schedule: str, total_steps: int):
    """AdamW (decoupled weight decay) when ``weight_decay`` > 0, else Adam; cosine decay over all steps."""
    import keras

    if schedule not in SCHEDULES:
        raise ActionrecError(f"learning-rate schedule {schedule!r}: expected one of {', '.join(SCHEDULES)}")
    lr = learning_rate
    if schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=max(1, total_steps), alpha=0.05)
    if weight_decay > 0:
        return keras.optimizers.AdamW(lr, weight_decay=weight_decay)
    return keras.optimizers.Adam(lr)


def loss(n_classes: int, label_smoothing: float):
    """The loss and whether it wants one-hot targets (smoothing a sparse target needs the full vector)."""
    import keras

    if n_classes == 2:
        return keras.losses.BinaryCrossentropy(label_smoothing=label_smoothing), False
    if label_smoothing:
        return keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing), True
    return keras.losses.SparseCategoricalCrossentropy(), False


def members_loss(base):
    """``base`` (a Keras loss) on each member of stacked predictions (batch, members, k), summed over the
    members, per sample (so class weights apply as for one model). The sum, not the mean: each member's
    gradient is then exactly that of its own loss, as if it trained alone (the members share the batches,
    not their weights); a mean would scale it by 1/members, which Adam undoes only up to its epsilon
    (measured: predictions 0.05 apart after 3 epochs). ``train`` divides the logged losses by the members."""
    import keras
    from keras import ops

    class _MembersLoss(keras.losses.Loss):
        def __init__(self):
            super().__init__(name=f"members_{base.name}")

        def call(self, y_true, y_pred):
            return ops.sum(ops.stack([base.call(y_true, y_pred[:, k]) for k in range(y_pred.shape[1])], axis=1), axis=1)

    return _MembersLoss()


def best_epoch_callback(patience: int):
    """Early stopping on ``val_loss`` that always ends with the best epoch's weights.

    Keras' own EarlyStopping restores only when it has a best epoch to restore and is easy to configure
    so that it does not; this one restores at the end of every fit that had a validation loss, stopped
    early or not, and writes ``best_epoch`` (0-based) into the history it is given.
    """
    import keras

    class BestEpoch(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.best, self.best_epoch, self.best_weights, self.wait = np.inf, None, None, 0

        def on_epoch_end(self, epoch, logs=None):
            current = (logs or {}).get("val_loss")
            if current is None or not np.isfinite(current):
                return
            if current < self.best:
                self.best, self.best_epoch, self.wait = float(current), epoch, 0
                self.best_weights = [np.array(w) for w in self.model.get_weights()]
            else:
                self.wait += 1
                if patience and self.wait >= patience:
                    self.model.stop_training = True

        def on_train_end(self, logs=None):
            if self.best_weights is not None:
                self.model.set_weights(self.best_weights)

    return BestEpoch()


def plateau_callback():
    """Halve the learning rate when the validation loss has not improved for 3 epochs."""
    import keras

    return keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=3, min_lr=1e-5, verbose=0)


@contextlib.contextmanager
def stop_on_interrupt(callbacks: list) -> Iterator[None]:
    """Ctrl-C during the fit ends it at the next batch, and ``KeyboardInterrupt`` is raised once it returned.

    A KeyboardInterrupt raised in the middle of a step, inside TensorFlow's C++ runtime, crashed the process
    here ("free(): invalid next size", exit -6) or left it hanging, so the signal only asks the fit to stop;
    a second Ctrl-C interrupts at once, as before. Only the main thread can own SIGINT: elsewhere this is a
    no-op.
    """
    import keras

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    asked = threading.Event()

    class StopWhenAsked(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if asked.is_set():
                self.model.stop_training = True

    def on_sigint(signum, frame):
        if asked.is_set():
            raise KeyboardInterrupt
        asked.set()

    callbacks.append(StopWhenAsked())
    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if asked.is_set():
        raise KeyboardInterrupt

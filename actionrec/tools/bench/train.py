"""The LSTM's training step, timed."""

from __future__ import annotations

import time

import numpy as np

from actionrec.features.mobilenet import EMBEDDING_DIM


def bench_lstm_train_step(window: int = 16, batch_size: int = 64, classes: int = 7, steps: int = 20, seed: int = 0) -> dict:
    """Milliseconds per optimizer step of the default LSTM on one batch of windows (after warm-up)."""
    from actionrec.learn.models import FrameOptions, LSTMOptions, _build

    rng = np.random.default_rng(seed)
    x = rng.random((batch_size, window, EMBEDDING_DIM), np.float32)
    y = rng.integers(0, classes, batch_size)
    stats = (np.zeros(EMBEDDING_DIM), np.ones(EMBEDDING_DIM))
    model = _build("lstm", classes, window, FrameOptions(), LSTMOptions(window=window), 1e-3, stats)
    for _ in range(3):
        model.train_on_batch(x, y)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        model.train_on_batch(x, y)
        times.append(1000 * (time.perf_counter() - start))
    return {"lstm_train_step_ms": round(float(np.median(times)), 2), "lstm_train_batch": batch_size}



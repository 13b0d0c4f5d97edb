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




def bench_finetune_epoch(blocks: tuple[int, ...] = (0, 2, 4), frame_spec=None, window: int = 16, windows: int = 256,
                         classes: int = 7, weights=None, seed: int = 0, epochs: int = 3) -> dict:
    """Cost of one training epoch of the LSTM per fine-tuned block count K: the median of ``epochs`` epochs
    after a warm-up one.

    K = 0 is the usual training on cached embeddings (batch 64); K > 0 runs MobileNet on every frame of
    every window with the top K blocks trained (``FINETUNE_BATCH`` windows a step), as ``train --finetune``.
    The frames are seeded noise: the cost depends on shapes only. An epoch over W windows takes about
    W x ``ms_per_window``.
    """
    from actionrec.data.video import FrameSpec
    from actionrec.features.mobilenet import check_finetune, tunable_mobilenet
    from actionrec.learn.models import FrameOptions, LSTMOptions, TrainOptions, _build
    from actionrec.learn.train import FINETUNE_BATCH, FINETUNE_LEARNING_RATE

    spec = frame_spec or FrameSpec()
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, windows)
    stats = (np.zeros(EMBEDDING_DIM), np.ones(EMBEDDING_DIM))
    out = {"size": f"{spec.width}x{spec.height}", "window": window, "windows": windows, "epochs_timed": epochs, "per_k": {}}
    for k in blocks:
        tuned = check_finetune(k) > 0
        if tuned:
            x = rng.integers(0, 256, (windows, window, spec.height, spec.width, 3), dtype=np.uint8)
            backbone, batch, lr = tunable_mobilenet(spec, weights, k), FINETUNE_BATCH, FINETUNE_LEARNING_RATE
        else:
            x = rng.random((windows, window, EMBEDDING_DIM), np.float32)
            backbone, batch, lr = None, TrainOptions.batch_size, TrainOptions.learning_rate
        model = _build("lstm", classes, window, FrameOptions(), LSTMOptions(window=window), lr, stats,
                       options=TrainOptions(), backbone=backbone)
        model.fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0)  # warm-up: tracing
        times = []
        for _ in range(epochs):
            start = time.perf_counter()
            model.fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0)
            times.append(time.perf_counter() - start)
        seconds = float(np.median(times))
        out["per_k"][str(k)] = {"seconds_per_epoch": round(seconds, 2), "ms_per_window": round(1000 * seconds / windows, 2),
                                "batch": batch}
    return out

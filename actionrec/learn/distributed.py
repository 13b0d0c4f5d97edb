"""Evaluation folds as Ray tasks (``actionrec evaluate --ray [--ray-address ADDRESS]``; the ``ray`` extra).

Each unfinished fold is one task: it runs ``evaluate.run_fold`` (both models trained on the fold's training
people, tested on its held-out ones) and returns the ``FoldResult``. The driver saves each result as it
comes back, atomically, as the serial loop does: an interrupted evaluation resumes at the folds not yet
saved, and a task whose worker dies is rerun by Ray (``max_retries``) with nothing half-written.

Same seed, same report as a serial run: a task runs the same code with the same seeds, and keeps
TensorFlow's default thread pools, as the serial run does. That matters: on this 2-core machine a fold was
bit-identical in a new process with the default pools, and differed in the 7th digit with one thread.
On a cluster whose nodes have another core count, expect such differences (one thread also changed the
frame baseline's accuracy in the 3rd digit: small differences grow over training).

What it buys is machines, not cores: serial training already keeps both cores of this machine busy, so
two folds side by side on a local cluster took 77 s against 59 s one after the other (worker start-up
included; ``tests``' order dataset, 40 epochs). K folds on K nodes take about one fold's time.

The dataset's features go to Ray's object store once and are shared by every task on a node; the frames
are not needed (augmented copies, ``--augment``, are made on the worker from the clips' paths: on a
multi-machine cluster the dataset must be on shared storage at the same path).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Iterator

from actionrec.data.datasets import Clip
from actionrec.learn.embedded import EmbeddedDataset
from actionrec.learn.report import FoldResult
from actionrec.util.ray_cluster import RayOptions, get_or_explain, joined

Fold = tuple[int, list[Clip], list[Clip]]  # (index, training clips, test clips)


def _fold_task(data: EmbeddedDataset, classes: list[str], train_clips: list[Clip], test_clips: list[Clip],
               options) -> FoldResult:
    from actionrec.learn.evaluate import run_fold  # here: evaluate imports this module when asked for Ray

    return run_fold(data, classes, train_clips, test_clips, options)


def run_folds_ray(data: EmbeddedDataset, classes: list[str], folds: list[Fold], options,
                  ray_options: RayOptions | None = None) -> Iterator[tuple[int, FoldResult]]:
    """(fold index, result) of every fold of ``folds``, in the order they finish on the cluster."""
    ray_options = ray_options or RayOptions()
    pending: dict = {}  # ObjectRef -> fold index
    with joined(ray_options) as ray:
        # The loaded MobileNet stays here: tasks load one only if they augment (most never do).
        shared = ray.put(replace(data, embedder=None))
        task = ray.remote(_fold_task).options(num_cpus=ray_options.cpus_per_worker, max_retries=ray_options.retries)
        for k, tr, te in folds:
            pending[task.remote(shared, classes, tr, te, options)] = k
        try:
            while pending:
                [ref], _ = ray.wait(list(pending), num_returns=1)
                k = pending.pop(ref)
                yield k, get_or_explain(ray, ref, f"evaluation fold {k + 1}", ray_options.retries)
        finally:
            for ref in pending:  # given up on (an error, Ctrl-C): a joined cluster does not go on training them
                ray.cancel(ref, force=True)

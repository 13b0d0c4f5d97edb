"""``actionrec evaluate --ray``: the folds run as Ray tasks on conftest's local 2-CPU cluster and give the
serial run's report with the same seed, fold by fold, to the last bit; an interrupted run resumes.
"""

from __future__ import annotations

import numpy as np
import pytest

from actionrec.learn.evaluate import evaluate, evaluate_options
from actionrec.learn.report import MODEL_NAMES, FoldResult
from actionrec.util.ray_cluster import RayOptions

pytestmark = [pytest.mark.ray, pytest.mark.slow]

# Few epochs: the two runs are compared with each other, not judged.
OPTIONS = evaluate_options(folds=2, window=8, stride=1, epochs=3, seed=1)


def _folds(out):
    return [FoldResult.load(f) for f in sorted((out / "folds").glob("fold*.npz"))]


def test_folds_on_ray_give_the_serial_report_and_resume(ray_cluster, order_data, tmp_path):
    serial = evaluate(order_data, tmp_path / "serial", OPTIONS, log=lambda *_: None)
    out = tmp_path / "ray"
    log = []
    report = evaluate(order_data, out, OPTIONS, log=log.append, ray=RayOptions())
    assert sum("training on Ray" in line for line in log) == 2 and sum("done: frame_last" in line for line in log) == 2
    assert report["models"] == serial["models"] and report["groups_per_fold"] == serial["groups_per_fold"]
    for ours, theirs in zip(_folds(out), _folds(tmp_path / "serial"), strict=True):
        np.testing.assert_array_equal(ours.y_true, theirs.y_true)
        for m in MODEL_NAMES:
            np.testing.assert_array_equal(ours.proba[m], theirs.proba[m], err_msg=m)

    # Interrupted after the first fold: a rerun sends only the missing one.
    first, second = sorted((out / "folds").glob("fold*.npz"))
    stamp = first.stat().st_mtime_ns
    second.unlink()
    log.clear()
    again = evaluate(order_data, out, OPTIONS, log=log.append, ray=RayOptions())
    assert sum("done earlier" in line for line in log) == 1 and sum("training on Ray" in line for line in log) == 1
    assert first.stat().st_mtime_ns == stamp and second.is_file() and again["models"] == report["models"]


def test_a_failing_fold_is_one_line(ray_cluster, order_data, tmp_path):
    """A fold that raises on the worker (here: a window longer than every clip) is one clear error."""
    from actionrec.errors import ActionrecError

    bad = evaluate_options(folds=2, window=50, stride=1, epochs=1, seed=1)
    with pytest.raises(ActionrecError) as info:
        evaluate(order_data, tmp_path / "bad", bad, log=lambda *_: None, ray=RayOptions())
    assert "shorter than the window" in str(info.value) and "\n" not in str(info.value)

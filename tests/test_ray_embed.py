"""``actionrec embed --ray``: a local 2-CPU Ray cluster (started once for the module) embeds a tiny real
dataset into the same cache as the single-process path, resumes, and reruns the clips of killed workers.

np.savez stamps each zip member with the time it was written, so no two writes of an entry are the same
bytes (the single-process path's neither): entries are compared as arrays, exactly, plus their file names.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="the optional ray extra is not installed: pip install 'actionrec[ray]'")

from actionrec.data.datasets import load_dataset  # noqa: E402
from actionrec.data.video import FrameSpec  # noqa: E402
from actionrec.errors import ActionrecError  # noqa: E402
from actionrec.features.cache import embed_dataset  # noqa: E402
from actionrec.features.distributed import NAMESPACE, WORKER_NAME, RayOptions, embed_dataset_ray  # noqa: E402

from conftest import build_class_dataset  # noqa: E402

pytestmark = [pytest.mark.ray, pytest.mark.slow]

SPEC = FrameSpec()


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, namespace=NAMESPACE, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, embedder):
    """The tiny class-folder dataset (4 clips: 2 videos, 2 frame folders) and its single-process cache."""
    root = build_class_dataset(tmp_path_factory.mktemp("ray") / "ds", frames=20)
    clips = load_dataset(root).clips
    single = root.parent / "single"
    embed_dataset(clips, SPEC, single, embedder=embedder)
    return clips, single


def _entries(cache: Path) -> dict[str, dict[str, np.ndarray]]:
    out = {}
    for f in sorted(cache.rglob("*.npz")):
        with np.load(f, allow_pickle=False) as z:
            out[str(f.relative_to(cache))] = {k: z[k] for k in z.files}
    return out


def _assert_same_cache(a: Path, b: Path) -> None:
    ea, eb = _entries(a), _entries(b)
    assert ea and list(ea) == list(eb)  # same config folder, same clip digests, no leftover parts
    for name in ea:
        for key in ("embeddings", "times"):
            assert ea[name][key].dtype == eb[name][key].dtype, (name, key)
            np.testing.assert_array_equal(ea[name][key], eb[name][key], err_msg=f"{name} {key}")


def test_cluster_embeds_the_single_process_cache_and_resumes(cluster, dataset, tmp_path, weights_path):
    clips, single = dataset
    frames, counts = [], []
    out = embed_dataset_ray(clips, SPEC, tmp_path / "cache", weights_path, progress=frames.append,
                            on_clip=lambda done, total: counts.append((done, total)))
    _assert_same_cache(single, tmp_path / "cache")
    assert sorted(out) == sorted(c.id for c in clips)
    assert sum(frames) == sum(len(e.times) for e in out.values()) > 0
    assert counts[0] == (0, 4) and counts[-1] == (4, 4) and len(counts) == 5

    # Resume: every clip cached, so nothing is sent and no entry is rewritten.
    stamps = {f: f.stat().st_mtime_ns for f in (tmp_path / "cache").rglob("*.npz")}
    counts.clear()
    again = embed_dataset_ray(clips, SPEC, tmp_path / "cache", weights_path, on_clip=lambda d, t: counts.append((d, t)))
    assert counts == [(4, 4)]
    assert {f: f.stat().st_mtime_ns for f in stamps} == stamps
    for c in clips:
        np.testing.assert_array_equal(again[c.id].embeddings, out[c.id].embeddings)


def _kill_workers_when_they_appear(done: list, killed: list) -> threading.Thread:
    """Kill every clip worker as soon as it exists (while it loads MobileNet, its clips already queued)."""

    def work() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            names = [a["name"] for a in ray.util.list_named_actors(all_namespaces=True)
                     if a["name"].startswith(WORKER_NAME)]
            if len(names) >= 2:
                for name in names:
                    ray.kill(ray.get_actor(name, namespace=NAMESPACE), no_restart=False)
                killed.append((names, len(done)))
                return
            time.sleep(0.02)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


def test_a_killed_worker_has_its_clips_rerun(cluster, dataset, tmp_path, weights_path):
    clips, single = dataset
    done, killed = [], []
    thread = _kill_workers_when_they_appear(done, killed)
    embed_dataset_ray(clips, SPEC, tmp_path / "cache", weights_path, options=RayOptions(workers=2),
                      on_clip=lambda d, t: done.append(d) if d else None)
    thread.join()
    # Both workers were killed before any clip came back: every clip was rerun on a restarted worker.
    assert killed and killed[0][1] == 0, killed
    _assert_same_cache(single, tmp_path / "cache")


def test_workers_that_keep_dying_are_one_error(cluster, dataset, tmp_path, weights_path):
    clips, _ = dataset
    done, killed = [], []
    thread = _kill_workers_when_they_appear(done, killed)
    with pytest.raises(ActionrecError, match="the Ray worker embedding it died; 0 restarts allowed"):
        embed_dataset_ray(clips, SPEC, tmp_path / "cache", weights_path, options=RayOptions(workers=2, retries=0))
    thread.join()
    assert killed and killed[0][1] == 0, killed

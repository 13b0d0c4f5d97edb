"""``actionrec bench embed --ray``: frames/s of one process next to a local Ray cluster of 1 and 2 workers.

All three embed the same clips (synthetic 320x240 30 fps videos, as ``bench embed``) in one run. Workers are
started and warmed up (MobileNet loaded and traced, one clip each) before timing: a cluster is started once
for a collection that takes hours, so its start-up is not the throughput. Runs alternate (single, 1 worker,
2 workers) so other load on the machine hits all three alike; figures are medians.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from actionrec.data.digest import clip_digest
from actionrec.data.video import FrameSpec
from actionrec.features.cache import embed_clip
from actionrec.features.distributed import run_on, start_workers
from actionrec.features.mobilenet import Embedder, EmbedderConfig, resolve_weights
from actionrec.util.ray_cluster import NAMESPACE, RayOptions, import_ray
from actionrec.tools.bench.embed import synthetic_video


@dataclass(frozen=True)
class _Clip:
    id: str
    path: Path


def bench_embed_ray(frame_spec: FrameSpec = FrameSpec(), weights: str | os.PathLike | None = None,
                    clips: int = 4, frames: int = 300, repeats: int = 3, cpus: int = 2) -> dict:
    """Frames/s (wall clock over ``clips`` clips of ``frames`` source frames) of one process and of 1 and 2 workers."""
    ray = import_ray()
    weights_path = resolve_weights(weights)
    config = EmbedderConfig.with_weights(frame_spec, weights_path)
    with tempfile.TemporaryDirectory(prefix="actionrec-bench-ray-") as tmp:
        paths = [synthetic_video(Path(tmp) / f"clip{i}.mp4", frames=frames, seed=i) for i in range(clips)]
        todo = {clip_digest(p): [_Clip(p.stem, p)] for p in paths}
        embedder = Embedder(frame_spec, weights_path)
        n_frames = sum(len(embed_clip(p, embedder).times) for p in paths)  # also the single process's warm-up

        def single() -> float:
            start = time.perf_counter()
            for p in paths:
                embed_clip(p, embedder)
            return n_frames / (time.perf_counter() - start)

        started = not ray.is_initialized()
        if started:
            # One logical CPU more than the cores: both pools (1 + 2 workers of 1 CPU each) stay alive, so the
            # runs can alternate; an idle pool only waits, the cores are still ``cpus``.
            ray.init(num_cpus=cpus + 1, namespace=NAMESPACE, include_dashboard=False, log_to_driver=False,
                     runtime_env={"env_vars": {"TF_CPP_MIN_LOG_LEVEL": "2"}})
        try:
            pools = {k: start_workers(ray, frame_spec, str(weights_path), config, RayOptions(workers=k))
                     for k in (1, 2)}

            def cluster(k: int) -> float:
                start = time.perf_counter()
                got = sum(len(e.times) for _, e in run_on(ray, pools[k], todo))
                assert got == n_frames, (got, n_frames)
                return n_frames / (time.perf_counter() - start)

            for k in pools:  # warm-up: every worker has loaded and run its model
                first = dict(list(todo.items())[:k])
                list(run_on(ray, pools[k], first))
            runs: dict[str, list[float]] = {"single": [], "ray_1": [], "ray_2": []}
            for _ in range(repeats):
                runs["single"].append(single())
                runs["ray_1"].append(cluster(1))
                runs["ray_2"].append(cluster(2))
            for pool in pools.values():
                for actor in pool:
                    ray.kill(actor)
        finally:
            if started:
                ray.shutdown()
    med = {k: float(np.median(v)) for k, v in runs.items()}
    return {
        "single_fps": round(med["single"], 1),
        "ray_1_worker_fps": round(med["ray_1"], 1),
        "ray_2_workers_fps": round(med["ray_2"], 1),
        "ratio_2_workers_to_single": round(med["ray_2"] / med["single"], 3),
        "ratio_1_worker_to_single": round(med["ray_1"] / med["single"], 3),
        "runs": {k: [round(x, 1) for x in v] for k, v in runs.items()},
        "frames_per_run": n_frames,
        "clips": clips,
        "cores": cpus,
        "frame_spec": frame_spec.to_dict(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }

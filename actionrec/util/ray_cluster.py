"""Joining or starting a Ray cluster, and turning what a Ray task raised into one line (the ``ray`` extra).

Used by ``embed --ray`` (``features.distributed``) and ``evaluate --ray`` (``learn.distributed``). Ray is
imported only when one of them is called: a user who never installs the extra sees nothing of it.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Iterator

from actionrec.errors import ActionrecError

RAY_MISSING = "--ray needs the optional Ray extra: pip install 'actionrec[ray]'"
NAMESPACE = "actionrec"
RETRIES = 3  # restarts of a dead worker, and reruns of each task it held


def import_ray():
    """The ``ray`` module, or one line saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ActionrecError(RAY_MISSING) from None
    return ray


@dataclass
class RayOptions:
    address: str | None = None  # None: start a local cluster (or use the one this process already joined)
    workers: int | None = None  # embedding actors; None: one per CPU the cluster has, divided by cpus_per_worker
    cpus_per_worker: int = 1  # CPUs Ray reserves for each actor or task
    local_cpus: int | None = None  # a local cluster's CPUs; None: Ray's default (every core)
    retries: int = RETRIES
    # The dataset and its cache are on storage every node sees at the same path: workers write the cache
    # themselves (any features) instead of sending every clip's features through the driver.
    shared_storage: bool = False


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """Refuse a HOST:PORT (or ray://HOST:PORT) that nothing answers at: ``ray.init`` would retry it for
    minutes before giving up. ``auto`` and other forms are left to Ray."""
    import socket

    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if address == "auto" or not sep or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except (OSError, ValueError) as exc:
        raise ActionrecError(f"--ray-address {address}: nothing answers there ({exc.strerror or exc}); "
                             "expected a running Ray head's HOST:PORT (ray start --head) or auto") from None


def connect(ray, options: RayOptions) -> bool:
    """Join (or start) the cluster; True when this call started it (and so should shut it down)."""
    if ray.is_initialized():
        return False
    env = {"env_vars": {"TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}}
    try:
        if options.address:
            check_reachable(options.address)
            ray.init(address=options.address, namespace=NAMESPACE, runtime_env=env, log_to_driver=False)
        else:
            # No dashboard on a local cluster: it is a web server the user did not ask for, and costs start-up time.
            ray.init(num_cpus=options.local_cpus, namespace=NAMESPACE, runtime_env=env, include_dashboard=False,
                     log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = options.address or "a local cluster"
        raise ActionrecError(f"--ray {where}: cannot start or join the Ray cluster ({first_line(exc)})") from None
    return True


@contextlib.contextmanager
def joined(options: RayOptions) -> Iterator:
    """The ``ray`` module, joined to the cluster for the block; a cluster it started is shut down after it.

    Nested uses share one cluster: a command that embeds and then evaluates on Ray starts one, not two."""
    ray = import_ray()
    started = connect(ray, options)
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


def get_or_explain(ray, ref, what: str, retries: int = RETRIES):
    """``ray.get(ref)``; a failure becomes one line naming ``what`` (a clip, a fold) and the cause.

    An ``ActionrecError`` raised on the worker (bad input) is passed on as it is."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        cause = exc.cause if isinstance(getattr(exc, "cause", None), Exception) else exc
        if isinstance(cause, ActionrecError):
            raise ActionrecError(str(cause)) from None
        raise ActionrecError(f"{what}: failed on a Ray worker ({type(cause).__name__}: {first_line(cause)})") from None
    except ray.exceptions.RayActorError as exc:  # an actor died, and is out of restarts
        raise ActionrecError(f"{what}: the Ray worker running it died; {retries} restarts allowed "
                             f"({first_line(exc)})") from None
    except ray.exceptions.WorkerCrashedError as exc:  # a task's worker died, and the task is out of retries
        raise ActionrecError(f"{what}: the Ray worker running it died; {retries} retries allowed "
                             f"({first_line(exc)})") from None


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

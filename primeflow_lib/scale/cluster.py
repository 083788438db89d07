"""Sweeps on a Dask cluster: chunks of trials go to the cluster's workers, results come back in
order and are identical to the in-process run (each trial is computed independently, by the same
compiled kernels, whichever worker runs it).

Off unless ``PRIMEFLOW_DASK_ADDRESS`` names a scheduler (``tcp://host:8786``): the tuner and the
options sweep then run in-process, as always.

=====================================  ==========================================================
variable                               meaning
=====================================  ==========================================================
``PRIMEFLOW_DASK_ADDRESS``             the Dask scheduler (``dask scheduler`` on one machine,
                                       ``dask worker tcp://host:8786`` on each of the others)
``PRIMEFLOW_CLUSTER_TRIALS_PER_TASK``  configurations per task (default 10,000): big enough that
                                       shipping the bars and the per-bar returns back is small
                                       next to the work; a study smaller than that runs as one
                                       task per indicator
``PRIMEFLOW_CLUSTER_TIMEOUT_S``        how long to wait for the scheduler to answer (default 10)
=====================================  ==========================================================

Why Dask and not Ray (measured; docs/scaling.md): ``dask`` + ``distributed`` are pure Python,
24 MB installed, a 2-worker local cluster starts in seconds; Ray's wheel is 202 MB unpacked with
native services (raylet, GCS, object store, dashboard) this job does not use. The workers import
the same ``primeflow_lib`` and compile (or load from the numba cache) the same kernels as the
process that submits.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from primeflow_lib.warehouse_errors import WarehouseError

ADDRESS_ENV = "PRIMEFLOW_DASK_ADDRESS"
PER_TASK_ENV = "PRIMEFLOW_CLUSTER_TRIALS_PER_TASK"
TIMEOUT_ENV = "PRIMEFLOW_CLUSTER_TIMEOUT_S"
DEFAULT_PER_TASK = 10_000


class ClusterError(WarehouseError):
    """The cluster named in the settings cannot be used; the message names the setting."""


def cluster_address() -> str | None:
    """``PRIMEFLOW_DASK_ADDRESS`` or ``None`` (in-process)."""
    return os.environ.get(ADDRESS_ENV, "").strip() or None


def trials_per_task() -> int:
    """``PRIMEFLOW_CLUSTER_TRIALS_PER_TASK`` (default 10,000)."""
    raw = os.environ.get(PER_TASK_ENV, "").strip()
    if not raw:
        return DEFAULT_PER_TASK
    if not raw.isdigit() or int(raw) < 1:
        raise ClusterError(f"{PER_TASK_ENV}={raw!r}: expected a whole number of configurations >= 1")
    return int(raw)


_CLIENTS: dict[str, Any] = {}


def client(address: str | None = None) -> Any:
    """A connected ``distributed.Client`` for ``address`` (default :func:`cluster_address`),
    reused within the process.

    Raises:
        ClusterError: the scheduler does not answer in ``PRIMEFLOW_CLUSTER_TIMEOUT_S`` seconds,
            or ``distributed`` is not installed (naming the setting and its value).
    """
    address = address or cluster_address()
    if address is None:
        raise ClusterError(f"{ADDRESS_ENV} is not set: no cluster to send work to")
    if address in _CLIENTS and _CLIENTS[address].status == "running":
        return _CLIENTS[address]
    try:
        from distributed import Client
    except ImportError:
        raise ClusterError(f"{ADDRESS_ENV}={address}: the 'distributed' package is missing; install the "
                           "scale extra (make install-scale)") from None
    timeout = float(os.environ.get(TIMEOUT_ENV) or 10)
    try:
        c = Client(address, timeout=f"{timeout}s", set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise ClusterError(f"{ADDRESS_ENV}={address}: the Dask scheduler did not answer within {timeout:.0f} s "
                           f"({type(exc).__name__}: {exc}); the sweep was not run (no in-process fallback: "
                           f"unset {ADDRESS_ENV} to run in-process)") from None
    _CLIENTS[address] = c
    return c


def chunks(n: int, per_task: int) -> list[tuple[int, int]]:
    """``[lo, hi)`` ranges of at most ``per_task`` covering ``range(n)``."""
    return [(lo, min(lo + per_task, n)) for lo in range(0, n, per_task)]


def map_chunks(fn: Callable[..., Any], args: Sequence[tuple], *, shared: tuple = (), address: str | None = None) -> list:
    """``[fn(*shared, *a) for a in args]`` on the cluster, in order. ``shared`` (e.g. the bars)
    is sent to the workers once, not with every task."""
    c = client(address)
    shared_f = [c.scatter(x, broadcast=True) for x in shared]
    futures = [c.submit(fn, *shared_f, *a, pure=False) for a in args]
    try:
        return c.gather(futures)
    except OSError as exc:
        raise ClusterError(f"{ADDRESS_ENV}={c.scheduler.address}: lost the cluster during the sweep: {exc}") from None

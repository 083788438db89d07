"""Pooled PostgreSQL connections for the Dagster instance in PrimeFlow's daemon and run workers.

``dagster-postgres`` 0.29 opens a **new PostgreSQL connection for every storage call** of the
daemon and of each run worker (its engines use SQLAlchemy's ``NullPool``; only the webserver
keeps a pooled connection). On the scale profile that is about a hundred connections a second
during a backfill (each event a run writes, each query of the backfill loop, run queue and
sensors), and each costs ~9 ms of CPU here (password authentication on both sides and a new
server process): measured, PostgreSQL alone used ~13 s of CPU during an 8-session backfill of
~25 s on 2 cores, taken from the runs. :func:`pool_instance_connections` makes the engines
``dagster-postgres`` creates in this process keep a small pool instead (as the webserver's do),
with ``pool_pre_ping`` (a dropped connection is replaced, not reported as an error) and
``pool_recycle``. It patches a Dagster internal (``create_pg_engine`` as imported by the three
storage modules); a test fails if Dagster renames or moves it. SQLite instances (the embedded
profile) are not touched.

Called by the daemon entry point (:mod:`primeflow_pipelines.daemon`) and the warm run worker
(:mod:`primeflow_pipelines.launcher_worker`), before they create any engine. A forked process
drops the pooled connections it inherited (SQLAlchemy's recipe for ``fork``) and opens its own.
``PRIMEFLOW_PG_POOL=0`` turns it off.
"""

from __future__ import annotations

import functools
import importlib
import os
from typing import Any

#: the modules of dagster-postgres that create engines with ``NullPool``
STORAGE_MODULES = ("dagster_postgres.event_log.event_log", "dagster_postgres.run_storage.run_storage",
                   "dagster_postgres.schedule_storage.schedule_storage")
POOL_ENV = "PRIMEFLOW_PG_POOL"
#: connections kept open per engine, and how many more may be opened at busy moments
POOL_SIZE, MAX_OVERFLOW, RECYCLE_S = 2, 10, 3600

_APPLIED = False


def _per_process(engine: Any) -> None:
    """SQLAlchemy's recipe for pools and ``fork``: a pooled connection opened by another process
    (the parent) is dropped, not used or closed, when this process checks it out."""
    from sqlalchemy import event, exc

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, record) -> None:
        record.info["pid"] = os.getpid()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection, record, proxy) -> None:
        if record.info.get("pid") != os.getpid():
            record.dbapi_connection = proxy.dbapi_connection = None
            raise exc.DisconnectionError("connection opened by another process")


def pool_instance_connections() -> bool:
    """Make ``dagster-postgres`` engines created from now on in this process pooled. Returns
    False (and changes nothing) when dagster-postgres is not installed or ``PRIMEFLOW_PG_POOL=0``."""
    global _APPLIED
    if os.environ.get(POOL_ENV, "1").strip() == "0":
        return False
    if _APPLIED:
        return True
    try:
        modules = [importlib.import_module(m) for m in STORAGE_MODULES]
    except ImportError:
        return False
    from sqlalchemy import pool as sa_pool

    for mod in modules:
        original = getattr(mod, "create_pg_engine", None)
        if original is None:
            raise RuntimeError(f"{mod.__name__} no longer has create_pg_engine: the PostgreSQL pool patch "
                               f"({__name__}) needs updating; set {POOL_ENV}=0 to run without it")

        @functools.wraps(original)
        def create_pg_engine(postgres_url: str, token_provider: Any = None, *, _original=original, **kw: Any):
            if kw.get("poolclass") is sa_pool.NullPool:
                kw.pop("poolclass")
                kw.update(pool_size=POOL_SIZE, max_overflow=MAX_OVERFLOW, pool_recycle=RECYCLE_S,
                          pool_pre_ping=True)
            engine = _original(postgres_url, token_provider, **kw)
            if kw.get("pool_pre_ping"):
                _per_process(engine)
            return engine

        mod.create_pg_engine = create_pg_engine
    _APPLIED = True
    return True

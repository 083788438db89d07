"""Check the scale profile's settings before starting anything: the PostgreSQL instance, the lake
and the Dask cluster. Each problem is a clear error naming the setting and its value (never the
password); nothing falls back to the embedded profile."""

from __future__ import annotations

import os

from primeflow_lib.warehouse_errors import WarehouseError

PG_ENV = ("PRIMEFLOW_PG_HOST", "PRIMEFLOW_PG_PORT", "PRIMEFLOW_PG_USER", "PRIMEFLOW_PG_PASSWORD", "PRIMEFLOW_PG_DB")


class ScaleSettingError(WarehouseError):
    """A scale-profile setting is missing or wrong; the message names it."""


def check_postgres(timeout_s: int = 5) -> str:
    """Connect to the PostgreSQL instance ``deploy/scale/dagster.yaml`` names; returns
    ``host:port/db`` or raises :class:`ScaleSettingError` saying which setting is wrong."""
    missing = [k for k in PG_ENV if not os.environ.get(k)]
    if missing:
        raise ScaleSettingError(f"the scale profile's PostgreSQL settings are not set: {', '.join(missing)}")
    host, port, user, db = (os.environ[k] for k in ("PRIMEFLOW_PG_HOST", "PRIMEFLOW_PG_PORT", "PRIMEFLOW_PG_USER",
                                                     "PRIMEFLOW_PG_DB"))
    where = f"PRIMEFLOW_PG_HOST={host} PRIMEFLOW_PG_PORT={port}"
    if not port.isdigit():
        raise ScaleSettingError(f"PRIMEFLOW_PG_PORT={port!r} is not a port number")
    import psycopg2

    try:
        con = psycopg2.connect(host=host, port=int(port), user=user, password=os.environ["PRIMEFLOW_PG_PASSWORD"],
                               dbname=db, connect_timeout=timeout_s)
    except psycopg2.OperationalError as exc:
        text = " ".join(str(exc).split())
        if "password authentication failed" in text:
            raise ScaleSettingError(f"{where}: PostgreSQL refused user PRIMEFLOW_PG_USER={user}: wrong "
                                    "PRIMEFLOW_PG_PASSWORD (password authentication failed)") from None
        if "does not exist" in text and "database" in text:
            raise ScaleSettingError(f"{where}: database PRIMEFLOW_PG_DB={db} does not exist") from None
        raise ScaleSettingError(f"{where}: PostgreSQL does not answer: {text}") from None
    con.close()
    return f"{host}:{port}/{db}"


def check_lake() -> str:
    """Open (create if missing) every lake table; returns a description or ``"off"``."""
    import duckdb

    from primeflow_lib.lake import delta
    from primeflow_lib.lake.settings import lake_settings

    s = lake_settings()
    if s is None:
        return "off (PRIMEFLOW_LAKE_URI not set: every table in DuckDB)"
    con = duckdb.connect()
    try:
        delta.attach(con, s)
    finally:
        con.close()
    return f"{s.describe()}: {len(s.tables)} tables ({', '.join(s.tables)})"


def check_cluster() -> str:
    """Connect to the Dask scheduler, if one is named; returns a description."""
    from primeflow_lib.scale import cluster

    addr = cluster.cluster_address()
    if addr is None:
        return "off (PRIMEFLOW_DASK_ADDRESS not set: sweeps run in-process)"
    c = cluster.client(addr)
    n = len(c.scheduler_info().get("workers", {}))
    return f"{cluster.ADDRESS_ENV}={addr}: {n} workers, {cluster.trials_per_task():,} configurations per task"

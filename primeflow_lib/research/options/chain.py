"""Reading ``market.option_chain`` snapshots for ``iv_source: chain`` runs."""

from __future__ import annotations

import datetime as dt
import os

import duckdb
import pandas as pd

from primeflow_lib.research.errors import RunConfigError

CHAIN_COLUMNS = ("trade_date", "underlying", "expiry", "right", "strike", "iv")


def chain_from_connection(
    con: duckdb.DuckDBPyConnection, underlying: str, end: dt.date | str | None = None
) -> pd.DataFrame:
    """Snapshots of ``underlying`` dated on or before ``end`` (all when None), columns
    :data:`CHAIN_COLUMNS`. An empty frame when there are none (the run then names the field)."""
    cols = ", ".join(f'"{c}"' for c in CHAIN_COLUMNS)
    sql = f"SELECT {cols} FROM market.option_chain WHERE upper(underlying) = upper(?)"
    params: list = [underlying]
    if end:
        sql += " AND trade_date <= ?"
        params.append(pd.Timestamp(end).date())
    try:
        return con.execute(sql + " ORDER BY trade_date, expiry, strike", params).df()
    except duckdb.CatalogException:
        raise RunConfigError(
            "options.iv_source: 'chain' but the warehouse has no market.option_chain table; "
            "materialize market/option_chain or set iv_source: realized"
        ) from None


def load_chain(
    underlying: str, end: dt.date | str | None = None, path: str | os.PathLike | None = None
) -> pd.DataFrame:
    """:func:`chain_from_connection` on the warehouse read copy (opened read-only; file from
    ``path``, env ``PRIMEFLOW_READ_DUCKDB`` or ``var/primeflow_read.duckdb``)."""
    from primeflow_lib.research.data import READ_DUCKDB_ENV, read_duckdb_path

    db = read_duckdb_path(path)
    if not db.is_file():
        raise RunConfigError(
            f"options.iv_source: 'chain' needs the warehouse read copy, not found at {db} "
            f"(set {READ_DUCKDB_ENV} or --db)"
        )
    con = duckdb.connect(str(db), read_only=True)
    try:
        return chain_from_connection(con, underlying, end)
    finally:
        con.close()

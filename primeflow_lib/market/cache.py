"""What is stored per vendor, symbol and timeframe, and clearing it (``primeflow cache``).

The warehouse is the cache: a session already stored for a vendor and the requested symbols is
not fetched again unless the run asks for ``refresh``. "Timeframes" map to tables:

============  =========================  ===============
timeframe     table                      symbol column
============  =========================  ===============
``universe``  ``market.universe``        ``ticker``
``1d``        ``market.ohlcv_daily``     ``ticker``
``1m``        ``market.ohlcv_intraday``  ``ticker``
``chain``     ``market.option_chain``    ``underlying``
``prints``    ``flow.option_prints``     ``underlying``
============  =========================  ===============
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import duckdb
import pandas as pd

TIMEFRAMES: dict[str, tuple[str, str]] = {
    "universe": ("market.universe", "ticker"),
    "1d": ("market.ohlcv_daily", "ticker"),
    "1m": ("market.ohlcv_intraday", "ticker"),
    "chain": ("market.option_chain", "underlying"),
    "prints": ("flow.option_prints", "underlying"),
}


class CacheError(ValueError):
    """Bad cache request (unknown timeframe, empty filter, invalid symbol)."""


def check_symbol(symbol: str | None) -> str | None:
    """``symbol`` upper-cased if it matches the project's ticker pattern
    (:data:`primeflow_lib.vendors.http.TICKER_RE`: ``SPY``, ``BRK.B``), None for None; anything
    else (``../../etc/passwd``) raises :class:`CacheError` naming the value."""
    from primeflow_lib.vendors.http import TICKER_RE

    if symbol is None:
        return None
    s = symbol.strip().upper()
    if not TICKER_RE.fullmatch(s):
        raise CacheError(f"--symbol {symbol!r} is not a valid symbol (expected e.g. 'SPY' or 'BRK.B': "
                         "letters/digits, at most one '.' class suffix)")
    return s


def _timeframe(tf: str) -> tuple[str, str]:
    try:
        return TIMEFRAMES[tf]
    except KeyError:
        raise CacheError(f"unknown timeframe {tf!r}; one of {', '.join(TIMEFRAMES)}") from None


def cached_symbols(con: duckdb.DuckDBPyConnection, timeframe: str, vendor: str, day: dt.date) -> set[str]:
    """Symbols stored for ``vendor`` on ``day`` in the timeframe's table."""
    table, col = _timeframe(timeframe)
    rows = con.execute(
        f'SELECT DISTINCT "{col}" FROM {table} WHERE trade_date = ? AND vendor = ?', [day, vendor]
    ).fetchall()
    return {r[0] for r in rows}


def is_cached(con: duckdb.DuckDBPyConnection, timeframe: str, vendor: str, day: dt.date,
              symbols: Sequence[str] | None) -> bool:
    """True when ``day`` is stored for ``vendor`` and covers every symbol in ``symbols`` (or has
    any rows, when ``symbols`` is None)."""
    have = cached_symbols(con, timeframe, vendor, day)
    if symbols is None:
        return bool(have)
    return bool(have) and set(symbols) <= have


def list_cache(con: duckdb.DuckDBPyConnection, *, vendor: str | None = None, symbol: str | None = None,
               timeframe: str | None = None) -> pd.DataFrame:
    """One row per (timeframe, vendor, symbol): sessions stored, first and last date, rows."""
    symbol = check_symbol(symbol)
    frames = []
    for tf, (table, col) in TIMEFRAMES.items():
        if timeframe and tf != timeframe:
            continue
        clauses, params = ["TRUE"], []
        if vendor:
            clauses.append("vendor = ?")
            params.append(vendor)
        if symbol:
            clauses.append(f'"{col}" = ?')
            params.append(symbol.upper())
        frames.append(con.execute(
            f"SELECT '{tf}' AS timeframe, vendor, \"{col}\" AS symbol, count(DISTINCT trade_date) AS sessions, "
            f"min(trade_date) AS first, max(trade_date) AS last, count(*) AS rows FROM {table} "
            f"WHERE {' AND '.join(clauses)} GROUP BY ALL ORDER BY symbol", params).df())
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=["timeframe", "vendor", "symbol", "sessions", "first", "last", "rows"])
    return pd.concat(frames, ignore_index=True)


def clear_cache(con: duckdb.DuckDBPyConnection, *, timeframe: str, vendor: str | None = None,
                symbol: str | None = None, start: dt.date | None = None, end: dt.date | None = None) -> int:
    """Delete stored rows of a timeframe matching the filters, in one transaction; returns the
    number of rows deleted. At least one of vendor / symbol / start / end is required, so a typo
    never wipes a whole table."""
    table, col = _timeframe(timeframe)
    symbol = check_symbol(symbol)
    if start and end and start > end:
        raise CacheError(f"--start {start} is after --end {end}")
    if not any((vendor, symbol, start, end)):
        raise CacheError("give at least one of --vendor, --symbol, --start, --end")
    clauses, params = [], []
    for cond, val in ((f'"{col}" = ?', symbol.upper() if symbol else None), ("vendor = ?", vendor),
                      ("trade_date >= ?", start), ("trade_date <= ?", end)):
        if val is not None:
            clauses.append(cond)
            params.append(val)
    where = " AND ".join(clauses)
    con.execute("BEGIN TRANSACTION")
    try:
        n = con.execute(f"SELECT count(*) FROM {table} WHERE {where}", params).fetchall()[0][0]
        con.execute(f"DELETE FROM {table} WHERE {where}", params)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return n


def clear_all(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Delete every row of every cached table (:data:`TIMEFRAMES`, the same tables
    :func:`list_cache` lists) in one transaction; returns rows deleted per timeframe. Tables
    not created yet count 0."""
    existing = {f"{a}.{b}" for a, b in con.execute(
        "SELECT table_schema, table_name FROM information_schema.tables").fetchall()}
    out: dict[str, int] = {}
    con.execute("BEGIN TRANSACTION")
    try:
        for tf, (table, _col) in TIMEFRAMES.items():
            if table not in existing:
                out[tf] = 0
                continue
            out[tf] = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
            con.execute(f"DELETE FROM {table}")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return out

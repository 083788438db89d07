"""What the warehouse caches, for the workbench's Data page: the ``primeflow cache list`` view
(:func:`primeflow_lib.market.cache.list_cache` on the read copy) with the NYSE sessions missing between
each series' first and last stored session, and clearing (``primeflow cache clear``).
"""

from __future__ import annotations

import datetime as dt
import os

import pandas as pd

from primeflow_lib.market.cache import TIMEFRAMES, CacheError, clear_cache, list_cache
from primeflow_lib.research.gaps import missing_sessions
from primeflow_lib.warehouse import connect, publish_read_copy
from primeflow_lib.workbench.readcopy import existing_tables, read_frame, require

PathLike = str | os.PathLike | None
COLUMNS = ["timeframe", "vendor", "symbol", "sessions", "first", "last", "rows"]


def stored_sessions(path: PathLike = None) -> pd.DataFrame:
    """``timeframe, vendor, symbol, dates`` (sorted list of stored sessions) per series."""
    p = require(path)
    have = existing_tables(p)
    frames = []
    with connect(p, read_only=True) as con:
        for tf, (table, col) in TIMEFRAMES.items():
            if table not in have:
                continue
            frames.append(con.execute(
                f"SELECT '{tf}' AS timeframe, vendor, \"{col}\" AS symbol, "
                f"list(DISTINCT trade_date ORDER BY trade_date) AS dates FROM {table} GROUP BY ALL"
            ).df())
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=["timeframe", "vendor", "symbol", "dates"])
    return pd.concat(frames, ignore_index=True)


def inventory(path: PathLike = None, *, vendor: str | None = None, symbol: str | None = None,
              timeframe: str | None = None) -> pd.DataFrame:
    """The cache list (one row per timeframe, vendor, symbol: sessions, first, last, rows) plus
    ``gaps`` (sessions missing inside the span) and ``missing`` (the first few, as text)."""
    p = require(path)
    have = existing_tables(p)
    with connect(p, read_only=True) as con:
        if not all(t in have for t, _ in TIMEFRAMES.values()):
            # list_cache reads every table; before the first materialization some are absent
            parts = []
            for tf, (t, _) in TIMEFRAMES.items():
                if t in have and (timeframe is None or tf == timeframe):
                    parts.append(list_cache(con, vendor=vendor, symbol=symbol, timeframe=tf))
            df = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=COLUMNS)
        else:
            df = list_cache(con, vendor=vendor, symbol=symbol, timeframe=timeframe)
    if df.empty:
        return df.assign(gaps=pd.Series(dtype="int64"), missing=pd.Series(dtype="object"))
    sessions = stored_sessions(p).set_index(["timeframe", "vendor", "symbol"])["dates"]
    gaps, shown = [], []
    for key in zip(df["timeframe"], df["vendor"], df["symbol"], strict=True):
        miss = missing_sessions(list(sessions.get(key, [])))
        gaps.append(len(miss))
        shown.append(", ".join(str(d) for d in miss[:5]) + (" ..." if len(miss) > 5 else ""))
    return df.assign(gaps=gaps, missing=shown)


def clear(*, timeframe: str, vendor: str | None = None, symbol: str | None = None,
          start: dt.date | None = None, end: dt.date | None = None,
          warehouse: PathLike = None, read_copy: PathLike = None) -> int:
    """Delete cached rows like ``primeflow cache clear`` (one transaction on a short write
    connection), then republish the read copy. Returns rows deleted.

    Raises:
        CacheError: unknown timeframe, or no filter at all (a whole table is never wiped).
    """
    with connect(warehouse) as con:
        n = clear_cache(con, timeframe=timeframe, vendor=vendor, symbol=symbol, start=start, end=end)
        publish_read_copy(con=con, dst=read_copy)
    return n


def clear_preview(*, timeframe: str, vendor: str | None = None, symbol: str | None = None,
                  start: dt.date | None = None, end: dt.date | None = None,
                  path: PathLike = None) -> dict:
    """What clearing these filters would delete, from the read copy: ``{"table", "rows",
    "sessions", "first", "last", "symbols", "what"}`` (``what``: one sentence for the
    confirmation). Validates in the page's terms (the CLI's flags are not on the page).

    Raises:
        CacheError: no filter (a whole table is never cleared from the page), From after To, or
            an unknown timeframe; the message names the page's fields.
    """
    if timeframe not in TIMEFRAMES:
        raise CacheError(f"Timeframe {timeframe!r} is not one of {', '.join(TIMEFRAMES)}")
    if not any((vendor, symbol, start, end)):
        raise CacheError("Pick a vendor, a symbol or a date range: the Data page never clears a whole "
                         "table (`primeflow cache clear --all` does, after asking)")
    if start and end and start > end:
        raise CacheError(f"From ({start}) is after To ({end})")
    table, col = TIMEFRAMES[timeframe]
    if table not in existing_tables(path):
        return {"table": table, "rows": 0, "sessions": 0, "first": None, "last": None, "symbols": 0,
                "what": f"nothing: {table} does not exist yet"}
    clauses, params = ["TRUE"], []
    for cond, val in ((f'"{col}" = ?', symbol), ("vendor = ?", vendor), ("trade_date >= ?", start),
                      ("trade_date <= ?", end)):
        if val is not None:
            clauses.append(cond)
            params.append(val)
    row = read_frame(f"SELECT count(*) AS n, count(DISTINCT trade_date) AS s, min(trade_date) AS a, "
                     f'max(trade_date) AS b, count(DISTINCT "{col}") AS k FROM {table} '
                     f"WHERE {' AND '.join(clauses)}", params, path).iloc[0]
    n, sess = int(row["n"]), int(row["s"])
    first = None if pd.isna(row["a"]) else pd.Timestamp(row["a"]).date()
    last = None if pd.isna(row["b"]) else pd.Timestamp(row["b"]).date()
    who = symbol or f"{int(row['k'])} symbol{'s' if int(row['k']) != 1 else ''}"
    what = (f"{n:,} rows of {table} ({who}{', vendor ' + vendor if vendor else ''}) on {sess:,} "
            f"session{'s' if sess != 1 else ''}, {first} .. {last}" if n else
            f"no rows of {table} match")
    return {"table": table, "rows": n, "sessions": sess, "first": first, "last": last,
            "symbols": int(row["k"]), "what": what}

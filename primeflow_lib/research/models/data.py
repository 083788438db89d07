"""Bars for the model lab, from the warehouse read copy or a CSV, with the source named.

A CSV of 1-minute bars (the Massive aggregate shape, possibly with pre- and post-market bars)
is cut to the regular session (09:30-16:00 New York) when ``regular_only`` and resampled to
``timeframe`` within sessions (:func:`primeflow_lib.research.timeframes.resample_intraday`).
Daily CSVs are used as they are.
"""

from __future__ import annotations

import datetime as dt
import os

import pandas as pd

from primeflow_lib.research.data import (
    NEW_YORK,
    TIME_ALIASES,
    load_csv,
    load_warehouse_bars,
    validate_bars,
)
from primeflow_lib.research.errors import ResearchError
from primeflow_lib.research.timeframes import (
    DAILY,
    REGULAR_SESSION_MINUTES,
    SESSION_OPEN,
    resample_intraday,
)


def read_csv_bars(path: str | os.PathLike) -> pd.DataFrame:
    """:func:`~primeflow_lib.research.data.load_csv`, but time stamps with UTC offsets (a file
    spanning a daylight-saving change holds both -05:00 and -04:00) are read as instants and
    turned into New York wall time first."""
    from pathlib import Path

    p = Path(path)
    if not p.is_file():
        raise ResearchError(f"CSV file not found: {p}")
    head = pd.read_csv(p, nrows=5, dtype=str)
    tcol = next((c for c in head.columns if c.strip().lower() in TIME_ALIASES), None)
    if tcol is None or not head[tcol].str.contains(r"[+-]\d\d:\d\d$", regex=True).any():
        return load_csv(p)
    raw = pd.read_csv(p, dtype=str, keep_default_na=False)
    ts = pd.to_datetime(raw[tcol], utc=True, errors="coerce")
    bad = ts.isna().to_numpy().nonzero()[0]
    if bad.size:
        i = int(bad[0])
        raise ResearchError(f"{p}: {tcol} {raw[tcol].iloc[i]!r} at data row {i + 1} (file line {i + 2}) is not a time")
    raw[tcol] = ts.dt.tz_convert(NEW_YORK).dt.tz_localize(None).astype(str)
    return validate_bars(raw, str(p), first_line=2)


def regular_session(bars: pd.DataFrame) -> pd.DataFrame:
    """Only the bars that start inside 09:30-16:00 New York time."""
    off = bars.index - bars.index.normalize()
    keep = (off >= SESSION_OPEN) & (off < SESSION_OPEN + pd.Timedelta(minutes=REGULAR_SESSION_MINUTES))
    return bars[keep]


def load_model_bars(
    symbol: str | None = None,
    csv: str | os.PathLike | None = None,
    timeframe: str = DAILY,
    start: dt.date | str | None = None,
    end: dt.date | str | None = None,
    regular_only: bool = True,
    db: str | os.PathLike | None = None,
    vendor: str | None = None,
) -> tuple[pd.DataFrame, str]:
    """``(bars, source)``: the bar frame and where it came from, in words."""
    if csv:
        bars = read_csv_bars(csv)
        if start:
            bars = bars[bars.index >= pd.Timestamp(start)]
        if end:
            bars = bars[bars.index < pd.Timestamp(end) + pd.Timedelta(days=1)]
        intraday = len(bars) > 1 and (bars.index.normalize() == bars.index).mean() < 0.5
        if intraday:
            if regular_only:
                bars = regular_session(bars)
            if timeframe == DAILY:
                raise ResearchError(f"timeframe: {timeframe!r} but {csv} holds intraday bars; "
                                    "choose an intraday timeframe (1m 5m 15m 30m 1h 4h)")
            if timeframe != "1m":
                bars = validate_bars(resample_intraday(bars, timeframe).drop(columns="trade_date"), str(csv))
        if bars.empty:
            raise ResearchError(f"{csv}: no bars between {start or '-'} and {end or '-'}")
        cut = " regular session" if intraday and regular_only else ""
        return bars, f"csv {csv} ({timeframe}{cut})"
    if not symbol:
        raise ResearchError("give a symbol (--symbol) or a CSV file (--csv)")
    bars = load_warehouse_bars(symbol, start, end, timeframe, db, vendor)
    if timeframe != DAILY and regular_only:
        bars = regular_session(bars)
    vendors = ""
    try:
        import duckdb

        from primeflow_lib.research.data import read_duckdb_path

        con = duckdb.connect(str(read_duckdb_path(db)), read_only=True)
        try:
            table = "ohlcv_daily" if timeframe == DAILY else "ohlcv_intraday"
            vendors = ",".join(r[0] for r in con.execute(
                f"SELECT DISTINCT vendor FROM market.{table} WHERE ticker = ? ORDER BY 1", [symbol]).fetchall())
        finally:
            con.close()
    except Exception:  # noqa: BLE001 - the vendor is a label; the bars already loaded
        vendors = "unknown"
    return bars, f"warehouse market.{'ohlcv_daily' if timeframe == DAILY else 'ohlcv_intraday'} {symbol} (vendor {vendors})"

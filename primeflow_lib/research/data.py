"""Bar data for the workbench: validation, the user's CSV, and the warehouse read copy.

The workbench's bar frame
-------------------------
Every function in :mod:`primeflow_lib.research` takes bars as a pandas DataFrame with

* a ``DatetimeIndex`` named ``ts``: naive America/New_York wall time, bar *start* for intraday
  bars, midnight of the session date for daily bars; strictly ascending, no duplicates;
* float64 columns ``open``, ``high``, ``low``, ``close`` (USD, all > 0, ``low <= open, close <=
  high``) and ``volume`` (shares, >= 0); optionally ``vwap``.

A *panel* (several tickers, used by ``momentum_rotation``) is the same in long form with a
``ticker`` column and ``ts`` as a column.

:func:`validate_bars` turns anything close to that (a CSV with ``Date,Open,High,Low,Close,Volume``,
a ``market.ohlcv_daily`` or ``market.ohlcv_intraday`` extract) into the bar frame, or raises
:class:`~primeflow_lib.research.errors.BarsError` naming the field, the value and the row.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from primeflow_lib.research.errors import BarsError, DataSourceError
from primeflow_lib.research.timeframes import DAILY, resample_intraday, timeframe_minutes

PRICE_FIELDS = ("open", "high", "low", "close")
BAR_FIELDS = (*PRICE_FIELDS, "volume")
# Accepted names for the time column, in order of preference (case-insensitive).
TIME_ALIASES = ("ts", "date", "datetime", "timestamp", "time", "trade_date")
READ_DUCKDB_ENV = "PRIMEFLOW_READ_DUCKDB"
DEFAULT_READ_DUCKDB = "var/primeflow_read.duckdb"
NEW_YORK = "America/New_York"


class OHLCV(NamedTuple):
    """Contiguous float64 arrays of one bar frame (``vwap`` is None when the bars have none)."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    vwap: np.ndarray | None


def as_arrays(bars: pd.DataFrame) -> OHLCV:
    """The bar frame's columns as contiguous float64 arrays (TA-Lib and numba need exactly that)."""

    def col(name: str) -> np.ndarray:
        return np.ascontiguousarray(bars[name].to_numpy(dtype=np.float64))

    vwap = col("vwap") if "vwap" in bars.columns else None
    return OHLCV(col("open"), col("high"), col("low"), col("close"), col("volume"), vwap)


def _show(value: object) -> str:
    """A value as the user wrote it: text quoted, numbers plain (never ``np.float64(...)``)."""
    if isinstance(value, (bool, np.bool_)):
        return repr(bool(value))
    if isinstance(value, (int, float, np.integer, np.floating)):
        return repr(float(value)) if isinstance(value, (float, np.floating)) else repr(int(value))
    return repr(str(value)) if isinstance(value, str) else repr(value)


def _when(t: pd.Timestamp) -> str:
    return str(t.date()) if t == t.normalize() else str(t)


def _row_label(pos: int, rows: np.ndarray | None, first_line: int | None) -> str:
    row = int(rows[pos]) if rows is not None else pos
    label = f"row {row + 1}"
    if first_line is not None:
        label += f" (file line {row + first_line})"
    return label


def validate_bars(
    df: pd.DataFrame,
    source: str = "bars",
    *,
    first_line: int | None = None,
    _rows: np.ndarray | None = None,
) -> pd.DataFrame:
    """Check OHLCV bars and return them in the workbench's bar frame (see module docs).

    Args:
        df: bars with a time column (``ts``, ``Date``, ``datetime``, ``timestamp``, ``time`` or
            ``trade_date``, any case) or a DatetimeIndex, and ``open high low close volume``
            columns (any case). Extra columns are ignored except ``vwap``. Time-zone aware
            timestamps are converted to America/New_York and made naive.
        source: what the bars are (a file name, ``market.ohlcv_daily AAPL``), used in messages.
        first_line: for files, the line number of the first data row (2 for a CSV with a
            header), so messages can say ``row 5 (file line 6)``.

    Returns:
        A new DataFrame: DatetimeIndex ``ts`` and float64 ``open high low close volume``
        (+ ``vwap``).

    Raises:
        BarsError: a missing column, an empty frame, an unparseable or missing value, a duplicate
            or out-of-order time, a price <= 0, a negative volume, or a bar whose high/low do not
            contain its open/close. The message names the field, the value and the row.
    """
    if df is None or len(df) == 0:
        raise BarsError(f"{source}: no bars (the input is empty)")
    lower = {str(c).strip().lower(): c for c in df.columns}

    time_col = next((lower[a] for a in TIME_ALIASES if a in lower), None)
    if time_col is not None:
        raw_time = df[time_col]
        time_name = str(time_col)
    elif isinstance(df.index, pd.DatetimeIndex):
        raw_time = pd.Series(df.index, index=df.index)
        time_name = df.index.name or "index"
    else:
        raise BarsError(
            f"{source}: missing column 'Date' (or one of {list(TIME_ALIASES)}); "
            f"found columns {[str(c) for c in df.columns]}"
        )
    missing = [f for f in BAR_FIELDS if f not in lower]
    if missing:
        raise BarsError(
            f"{source}: missing column {missing[0].capitalize()!r} "
            f"(needs {[f.capitalize() for f in BAR_FIELDS]} and a date); "
            f"found columns {[str(c) for c in df.columns]}"
        )

    def where(pos: int) -> str:
        return _row_label(pos, _rows, first_line)

    raw_time = raw_time.reset_index(drop=True)
    if pd.api.types.is_datetime64_any_dtype(raw_time.dtype):
        ts = pd.to_datetime(raw_time)
    else:
        as_text = raw_time.astype("string").str.strip()
        try:
            ts = pd.to_datetime(as_text, errors="coerce", format="mixed")
        except ValueError:
            # offsets that change over the file (-05:00 / -04:00 across DST): read as instants
            ts = pd.to_datetime(as_text, errors="coerce", format="mixed", utc=True)
    bad = ts.isna().to_numpy()
    if bad.any():
        pos = int(np.argmax(bad))
        value = raw_time.iloc[pos]
        what = "is missing" if pd.isna(value) or str(value).strip() == "" else "is not a date"
        raise BarsError(f"{source}: {where(pos)}: field {time_name!r} value {_show(value)} {what}")
    if getattr(ts.dt, "tz", None) is not None:
        ts = ts.dt.tz_convert(NEW_YORK).dt.tz_localize(None)
    ts_values = ts.to_numpy(dtype="datetime64[ns]")

    out: dict[str, np.ndarray] = {}
    raws: dict[str, pd.Series] = {}
    fields = list(BAR_FIELDS) + (["vwap"] if "vwap" in lower else [])
    for field in fields:
        raw = df[lower[field]].reset_index(drop=True)
        num = pd.to_numeric(raw, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        bad = ~np.isfinite(num)
        if field == "vwap":
            # vwap is optional per row (vendors omit it); only text that is not a number is bad.
            text = raw.astype("string").str.strip()
            bad &= (text != "").to_numpy(dtype=bool, na_value=False)
        if bad.any():
            pos = int(np.argmax(bad))
            value = raw.iloc[pos]
            blank = pd.isna(value) or str(value).strip() == ""
            what = "is missing" if blank else "is not a finite number"
            raise BarsError(
                f"{source}: {where(pos)} (date {_when(ts.iloc[pos])}): field {lower[field]!r} "
                f"value {_show(value)} {what}"
            )
        out[field] = num
        raws[field] = raw

    def fail(mask: np.ndarray, field: str, rule: str) -> None:
        if mask.any():
            pos = int(np.argmax(mask))
            raise BarsError(
                f"{source}: {where(pos)} (date {_when(ts.iloc[pos])}): field {lower[field]!r} "
                f"value {_show(raws[field].iloc[pos])} {rule}"
            )

    for field in PRICE_FIELDS:
        fail(out[field] <= 0, field, "must be > 0")
    fail(out["volume"] < 0, "volume", "must be >= 0")
    fail(
        out["high"] < np.maximum(np.maximum(out["open"], out["close"]), out["low"]),
        "high",
        "is below the bar's open, close or low",
    )
    fail(
        out["low"] > np.minimum(out["open"], out["close"]),
        "low",
        "is above the bar's open or close",
    )

    if len(ts_values) > 1:
        step = np.diff(ts_values)
        dup = np.concatenate([[False], step == np.timedelta64(0, "ns")])
        if dup.any():
            pos = int(np.argmax(dup))
            raise BarsError(
                f"{source}: {where(pos)}: field {time_name!r} value {_when(ts.iloc[pos])!r} "
                f"duplicates {where(pos - 1)}"
            )
        back = np.concatenate([[False], step < np.timedelta64(0, "ns")])
        if back.any():
            pos = int(np.argmax(back))
            raise BarsError(
                f"{source}: {where(pos)}: field {time_name!r} value {_when(ts.iloc[pos])!r} "
                f"is earlier than {where(pos - 1)} ({_when(ts.iloc[pos - 1])}); "
                "dates must be ascending"
            )

    frame = pd.DataFrame(out, index=pd.DatetimeIndex(ts_values, name="ts"))
    return frame


def validate_panel(df: pd.DataFrame, source: str = "panel") -> pd.DataFrame:
    """Validate a multi-ticker panel (long form with a ``ticker`` column) ticker by ticker.

    Returns a long frame with columns ``ticker, ts, open, high, low, close, volume`` sorted by
    ``ticker, ts``. Row numbers in errors refer to the rows of ``df`` as given.
    """
    lower = {str(c).strip().lower(): c for c in df.columns}
    if "ticker" not in lower:
        raise BarsError(
            f"{source}: missing column 'ticker' (a panel has one row per ticker and bar)"
        )
    tick = df[lower["ticker"]].astype("string")
    parts = []
    positions = np.arange(len(df))
    for name in pd.unique(tick.dropna()):
        mask = (tick == name).to_numpy(dtype=bool, na_value=False)
        bars = validate_bars(df.loc[mask], f"{source} ticker {name}", _rows=positions[mask])
        bars = bars.reset_index()
        bars.insert(0, "ticker", str(name))
        parts.append(bars)
    if not parts:
        raise BarsError(f"{source}: no bars (no ticker values)")
    return pd.concat(parts, ignore_index=True)


def load_csv(path: str | os.PathLike) -> pd.DataFrame:
    """Read the user's OHLCV CSV (``Date,Open,High,Low,Close,Volume``; names in any case, extra
    columns such as ``Adj Close`` ignored) and validate it with :func:`validate_bars`.

    Errors name the file, the field, the value and the data row with its file line.
    """
    p = Path(path)
    if not p.is_file():
        raise BarsError(f"CSV file not found: {p}")
    try:
        raw = pd.read_csv(p, dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise BarsError(
            f"{p}: the file is empty (expected a header Date,Open,High,Low,Close,Volume)"
        ) from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise BarsError(f"{p}: not a readable CSV file: {exc}") from None
    return validate_bars(raw, str(p), first_line=2)


def read_duckdb_path(path: str | os.PathLike | None = None) -> Path:
    """The warehouse read copy: ``path``, else env ``PRIMEFLOW_READ_DUCKDB``, else
    ``var/primeflow_read.duckdb``."""
    return Path(path or os.environ.get(READ_DUCKDB_ENV) or DEFAULT_READ_DUCKDB)


def _as_date(value: dt.date | str | None, name: str) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise DataSourceError(f"{name} {value!r} is not a date (YYYY-MM-DD)") from None


def load_warehouse_bars(
    symbol: str | Sequence[str],
    start: dt.date | str | None = None,
    end: dt.date | str | None = None,
    timeframe: str = "1d",
    path: str | os.PathLike | None = None,
    vendor: str | None = None,
) -> pd.DataFrame:
    """Bars of one symbol (or a panel of several) from the warehouse read copy.

    Daily timeframes read ``market.ohlcv_daily``; intraday ones (``1m 5m 15m 30m 1h 4h``) read
    ``market.ohlcv_intraday`` and resample within sessions
    (:func:`primeflow_lib.research.timeframes.resample_intraday`). ``start``/``end`` are inclusive
    session dates. The file is opened read-only, so the pipeline's writer is never blocked.

    Returns:
        The bar frame for one symbol; a validated panel (see :func:`validate_panel`) for a list.

    Raises:
        DataSourceError: the file, the table or the symbol is missing, or no bars in the range.
    """
    import duckdb

    db = read_duckdb_path(path)
    if not db.is_file():
        raise DataSourceError(
            f"warehouse read copy not found at {db} (set {READ_DUCKDB_ENV} or materialize "
            "the market assets first)"
        )
    con = duckdb.connect(str(db), read_only=True)
    try:
        return bars_from_connection(con, symbol, start, end, timeframe, vendor, where=str(db))
    finally:
        con.close()


def fetch_hint(symbol: str, start: dt.date | None, timeframe: str, vendor: str | None) -> str:
    """How to store a missing symbol or range: the ``primeflow fetch`` command line."""
    cmd = f"primeflow fetch --symbol {symbol} --start {start or 'YYYY-MM-DD'}"
    if timeframe != "1d":
        cmd += f" --timeframe {timeframe}"
    if vendor:
        cmd += f" --vendor {vendor}"
    return f"fetch it with `{cmd}` (then `primeflow publish` if the pipeline is not running)"


def bars_from_connection(
    con,
    symbol: str | Sequence[str],
    start: dt.date | str | None = None,
    end: dt.date | str | None = None,
    timeframe: str = "1d",
    vendor: str | None = None,
    *,
    where: str = "warehouse",
) -> pd.DataFrame:
    """:func:`load_warehouse_bars` on an open DuckDB connection (the pipeline passes its own,
    so it reads the live file it is writing). ``where`` names the source in errors."""
    db = where
    symbols = [symbol] if isinstance(symbol, str) else list(symbol)
    daily = timeframe == DAILY
    if not daily:
        timeframe_minutes(timeframe)  # validates the name before touching the file
    table = "ohlcv_daily" if daily else "ohlcv_intraday"
    time_expr = "trade_date" if daily else "ts"
    start_d, end_d = _as_date(start, "start"), _as_date(end, "end")
    found = con.execute(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_schema = 'market' AND table_name = ?",
        [table],
    ).fetchone()[0]
    if not found:
        raise DataSourceError(f"table market.{table} not found in {db}")
    sql = (
        f"SELECT ticker, {time_expr} AS ts, open, high, low, close, volume, vwap "
        f"FROM market.{table} WHERE ticker IN (SELECT unnest(?))"
    )
    params: list = [symbols]
    if start_d is not None:
        sql += " AND trade_date >= ?"
        params.append(start_d)
    if end_d is not None:
        sql += " AND trade_date <= ?"
        params.append(end_d)
    if vendor is not None:
        sql += " AND vendor = ?"
        params.append(vendor)
    df = con.execute(sql + " ORDER BY ticker, ts", params).df()
    for sym in symbols:
        if (df["ticker"] == sym).any():
            continue
        span = con.execute(
            f"SELECT min(trade_date), max(trade_date), count(*) FROM market.{table} "
            "WHERE ticker = ?",
            [sym],
        ).fetchone()
        hint = fetch_hint(sym, start_d, timeframe, vendor)
        if not span[2]:
            raise DataSourceError(f"symbol {sym!r} not found in market.{table} ({db}); {hint}")
        raise DataSourceError(
            f"no bars for {sym!r} in market.{table} between {start_d or '-'} and "
            f"{end_d or '-'}{' for vendor ' + repr(vendor) if vendor else ''} "
            f"(available {span[0]} to {span[1]}); {hint}"
        )
    if not daily:
        df = resample_intraday(df, timeframe)
    if len(symbols) == 1:
        return validate_bars(df.drop(columns="ticker"), f"market.{table} {symbols[0]}")
    return validate_panel(df, f"market.{table}")


def daily_bars(ohlcv_daily: pd.DataFrame, ticker: str | None = None) -> pd.DataFrame:
    """Turn rows shaped like ``market.ohlcv_daily`` (``trade_date, ticker, open, high, low, close,
    volume, vwap, vendor``) into the workbench's bar frame for one ticker (``ts`` = session date
    at midnight). ``ticker`` may be omitted when the rows hold a single ticker."""
    df = ohlcv_daily
    if "ticker" in df.columns:
        tickers = pd.unique(df["ticker"])
        if ticker is None:
            if len(tickers) != 1:
                raise BarsError(
                    f"daily_bars: rows hold tickers {list(tickers)[:5]}...; pass ticker="
                )
            ticker = str(tickers[0])
        df = df[df["ticker"] == ticker]
        if df.empty:
            raise BarsError(f"daily_bars: no rows for ticker {ticker!r}")
    df = df.sort_values("trade_date")
    return validate_bars(
        df.drop(columns=["ts"], errors="ignore"), f"ohlcv_daily {ticker or ''}".strip()
    )


def data_hash(bars: pd.DataFrame) -> str:
    """16 hex digits of SHA-256 over the bars' timestamps and values (column order as given)."""
    h = hashlib.sha256()
    h.update(
        np.ascontiguousarray(bars.index.to_numpy(dtype="datetime64[ns]")).tobytes()
        if isinstance(bars.index, pd.DatetimeIndex)
        else b""
    )
    for col in bars.columns:
        values = bars[col].to_numpy()
        if values.dtype.kind in "fiub":
            h.update(np.ascontiguousarray(values, dtype=np.float64).tobytes())
        else:
            h.update("\x1f".join(map(str, values)).encode())
    return h.hexdigest()[:16]

"""Timeframes: resampling 1-minute bars within sessions, and bars per year for annualisation.

Timeframe names: ``1m 5m 15m 30m 1h 4h`` (intraday, anchored at the 09:30 ET session open) and
``1d`` (one bar per session, as in ``market.ohlcv_daily``).

Session anchoring: an intraday bar of N minutes covers ``[09:30 + k*N, 09:30 + (k+1)*N)`` of one
session. The last bar of a session is shorter when N does not divide the session (``1h`` bars:
09:30, 10:30, ..., 15:30 - the 15:30 bar holds 30 minutes; ``4h``: 09:30 and 13:30), and a bar
never spans two sessions, so the overnight gap is always between bars.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from primeflow_lib.research.errors import BarsError

DAILY = "1d"
TIMEFRAME_MINUTES: dict[str, int] = {"1m": 1, "5m": 5, "15m": 15, "30m": 30, "1h": 60, "4h": 240}
TIMEFRAMES: tuple[str, ...] = (DAILY, *TIMEFRAME_MINUTES)
TRADING_DAYS_PER_YEAR = 252
REGULAR_SESSION_MINUTES = 390  # 09:30-16:00 ET
SESSION_OPEN = pd.Timedelta(hours=9, minutes=30)


def timeframe_minutes(timeframe: str) -> int:
    """Minutes per bar of an intraday timeframe; a clear error for unknown names."""
    try:
        return TIMEFRAME_MINUTES[timeframe]
    except KeyError:
        raise BarsError(
            f"timeframe {timeframe!r} is not intraday; choose one of {list(TIMEFRAME_MINUTES)}"
        ) from None


def bars_per_session(timeframe: str) -> int:
    """Bars in a full regular session: ``ceil(390 / minutes)`` (1 for ``1d``)."""
    if timeframe == DAILY:
        return 1
    return math.ceil(REGULAR_SESSION_MINUTES / timeframe_minutes(timeframe))


def periods_per_year(timeframe: str) -> int:
    """Annualisation factor: 252 trading days x bars per session (``1d`` -> 252, ``5m`` -> 19,656,
    ``1h`` -> 1,764). Used by every annualised metric."""
    if timeframe not in TIMEFRAMES:
        raise BarsError(f"unknown timeframe {timeframe!r}; choose one of {list(TIMEFRAMES)}")
    return TRADING_DAYS_PER_YEAR * bars_per_session(timeframe)


def resample_intraday(bars: pd.DataFrame, timeframe: str) -> pd.DataFrame:
    """Resample 1-minute bars to ``timeframe`` within each session (see module docs).

    Args:
        bars: 1-minute bars with a ``ts`` column or DatetimeIndex (bar start, naive New York
            time) and ``open high low close volume``; optional ``vwap``, ``ticker`` and
            ``trade_date`` (the session; taken from the date of ``ts`` when absent).
        timeframe: one of ``1m 5m 15m 30m 1h 4h``.

    Returns:
        One row per (ticker,) session and bucket, ``ts`` = bucket start: open = first open,
        high = max, low = min, close = last close, volume = sum, vwap = volume-weighted mean of
        the 1-minute vwaps (NaN when the bucket traded no volume or has no vwap), and
        ``trade_date``.
        Same index/column layout as the input (``ts`` as index if it came as the index).
    """
    minutes = timeframe_minutes(timeframe)
    ts_in_index = "ts" not in bars.columns
    df = bars.reset_index() if ts_in_index else bars.copy()
    if "ts" not in df.columns:
        raise BarsError("resample_intraday: bars need a 'ts' column or a DatetimeIndex named 'ts'")
    df["ts"] = pd.to_datetime(df["ts"])
    session = (
        pd.to_datetime(df["trade_date"]) if "trade_date" in df.columns else df["ts"].dt.normalize()
    )
    offset = (df["ts"] - session - SESSION_OPEN) // pd.Timedelta(minutes=1)
    df["_session"] = session
    df["_bucket"] = np.floor_divide(offset.to_numpy(), minutes)
    keys = (["ticker"] if "ticker" in df.columns else []) + ["_session", "_bucket"]
    df = df.sort_values([*keys[:-2], "ts"], kind="stable")
    has_vwap = "vwap" in df.columns
    if has_vwap:
        df["_pv"] = df["vwap"] * df["volume"]
        df["_v_with_vwap"] = df["volume"].where(df["vwap"].notna(), 0.0)
    agg = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
    if has_vwap:
        agg |= {"_pv": "sum", "_v_with_vwap": "sum"}
    out = df.groupby(keys, sort=True).agg(agg).reset_index()
    if has_vwap:
        with np.errstate(invalid="ignore", divide="ignore"):
            out["vwap"] = np.where(
                out["_v_with_vwap"] > 0, out["_pv"] / out["_v_with_vwap"], np.nan
            )
        out = out.drop(columns=["_pv", "_v_with_vwap"])
    out["ts"] = out["_session"] + SESSION_OPEN + pd.to_timedelta(out["_bucket"] * minutes, unit="m")
    out["trade_date"] = out["_session"].dt.date
    out = out.drop(columns=["_session", "_bucket"])
    front = (["ticker"] if "ticker" in out.columns else []) + ["trade_date", "ts"]
    out = out[front + [c for c in out.columns if c not in front]]
    if ts_in_index:
        out = out.set_index("ts")
    return out

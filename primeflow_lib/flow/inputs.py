"""Reading what :func:`primeflow_lib.flow.engine.score_batch` needs from the warehouse, causally.

One reader for the daily partitions and the near-live job:

* 1-minute bars of the session (near-live: only bars that *closed* by ``until``) and of the
  ``flow.rvol_lookback_sessions`` sessions before it;
* daily bars of the ``market_regime.trend_lookback_days`` (+5) sessions *before* the session;
* the previous session's chain snapshot (open interest as of the open, IV, delta);
* the previous session's dealer gamma levels (``market.gamma_exposure``);
* the session's level-2 book minutes (``market.l2_features``; near-live: only minutes that
  closed by ``until``), empty when no L2 source writes them;
* earlier flow events for swing memory (``swing.repeat_lookback_days`` sessions), plus, for
  near-live, the session's earlier batches from ``live.flow_events``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb
import pandas as pd

from primeflow_lib import calendar
from primeflow_lib.flow.engine import HISTORY_COLUMNS
from primeflow_lib.schema import Table
from primeflow_lib.schema import market as ms


def select_sql(t: Table, where: str) -> str:
    """``SELECT <declared columns> FROM <table> WHERE <where>`` (identifiers from declarations)."""
    cols = ", ".join(f'"{c}"' for c in t.column_names)
    return f"SELECT {cols} FROM {t.fqn} WHERE {where}"


def load_scoring_inputs(
    con: duckdb.DuckDBPyConnection,
    day: dt.date,
    tickers: list[str],
    cfg: dict[str, Any],
    *,
    until: dt.datetime | None = None,
    live_history: bool = False,
    bars_1m: pd.DataFrame | None = None,
    history: pd.DataFrame | None = None,
) -> dict[str, pd.DataFrame]:
    """``{"bars_1m", "daily_bars", "chain", "gamma", "l2", "history"}`` for scoring ``day``'s prints of
    ``tickers`` (plus the regime benchmark). See the module doc for what is read.

    A caller scoring a range of sessions may pass ``bars_1m`` (already sliced with
    :func:`bars_for_day`) and ``history`` it keeps in memory, so they are not read again."""
    bench = cfg["market_regime"]["benchmark"]
    names = sorted(set(tickers) | {bench})
    rvol_days = calendar.sessions_before(day, cfg["flow"]["rvol_lookback_sessions"])
    hist_days = calendar.sessions_before(day, cfg["swing"]["repeat_lookback_days"])
    prev = calendar.previous_session(day)
    if bars_1m is not None:
        bars = bars_1m
    else:
        bars = read_bars(con, names, rvol_days[0] if rvol_days else day, day, until=until)
    daily, chain = read_daily_and_chain(con, day, tickers, cfg)
    cols = ", ".join(f'"{c}"' for c in HISTORY_COLUMNS)
    if history is None:
        history = con.execute(
            f"SELECT {cols} FROM flow.flow_events WHERE trade_date BETWEEN ? AND ?",
            [hist_days[0] if hist_days else prev, prev]).df()
    if live_history:
        today = con.execute(f"SELECT {cols} FROM live.flow_events WHERE trade_date = ?", [day]).df()
        history = pd.concat([history, today], ignore_index=True) if len(today) else history
    gamma = read_gamma_levels(con, day, tickers)
    l2 = read_l2_features(con, day, tickers, until=until)
    return {"bars_1m": bars, "daily_bars": daily, "chain": chain, "gamma": gamma, "l2": l2, "history": history}


def read_daily_and_chain(
    con: duckdb.DuckDBPyConnection, day: dt.date, tickers: list[str], cfg: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(daily_bars, chain)`` for scoring ``day``'s prints of ``tickers`` (plus the regime
    benchmark): daily bars of the ``market_regime.trend_lookback_days`` (+5) sessions before
    ``day`` and the previous session's chain snapshot."""
    return read_daily_before(con, day, tickers, cfg), read_chain_before(con, day, tickers, cfg)


def read_daily_before(
    con: duckdb.DuckDBPyConnection, day: dt.date, tickers: list[str], cfg: dict[str, Any]
) -> pd.DataFrame:
    """The daily bars of :func:`read_daily_and_chain` (``market.ohlcv_daily``)."""
    names = sorted(set(tickers) | {cfg["market_regime"]["benchmark"]})
    trend_days = calendar.sessions_before(day, cfg["market_regime"]["trend_lookback_days"] + 5)
    prev = calendar.previous_session(day)
    return con.execute(
        select_sql(ms.OHLCV_DAILY, "ticker IN (SELECT unnest(?)) AND trade_date BETWEEN ? AND ?"),
        [names, trend_days[0] if trend_days else prev, prev]).df()


def read_chain_before(
    con: duckdb.DuckDBPyConnection, day: dt.date, tickers: list[str], cfg: dict[str, Any]
) -> pd.DataFrame:
    """The chain snapshot of :func:`read_daily_and_chain` (``market.option_chain`` of the
    session before ``day``)."""
    names = sorted(set(tickers) | {cfg["market_regime"]["benchmark"]})
    return con.execute(
        select_sql(ms.OPTION_CHAIN, "underlying IN (SELECT unnest(?)) AND trade_date = ?"),
        [names, calendar.previous_session(day)]).df()


def read_bars(con: duckdb.DuckDBPyConnection, tickers: list[str], start: dt.date, end: dt.date,
              *, until: dt.datetime | None = None) -> pd.DataFrame:
    """1-minute bars of ``tickers`` for sessions ``start``..``end`` sorted by (trade_date, ticker,
    ts); with ``until`` only bars that closed by then."""
    where = "ticker IN (SELECT unnest(?)) AND trade_date BETWEEN ? AND ?"
    params: list = [tickers, start, end]
    if until is not None:
        where += " AND ts + INTERVAL 1 MINUTE <= ?"
        params.append(until)
    return con.execute(select_sql(ms.OHLCV_INTRADAY, where) + " ORDER BY trade_date, ticker, ts", params).df()


def bars_for_day(bars: pd.DataFrame, day: dt.date, cfg: dict[str, Any]) -> pd.DataFrame:
    """The slice of a :func:`read_bars` frame :func:`load_scoring_inputs` would read for ``day``."""
    rvol_days = calendar.sessions_before(day, cfg["flow"]["rvol_lookback_sessions"])
    d = bars["trade_date"].to_numpy(dtype="datetime64[D]")
    lo = pd.Timestamp(rvol_days[0] if rvol_days else day).to_datetime64().astype("datetime64[D]")
    hi = pd.Timestamp(day).to_datetime64().astype("datetime64[D]")
    i, j = d.searchsorted(lo, "left"), d.searchsorted(hi, "right")
    return bars.iloc[i:j]


def history_rows(events: pd.DataFrame) -> pd.DataFrame:
    """The :data:`HISTORY_COLUMNS` of scored events (to keep as memory for later sessions)."""
    return events[list(HISTORY_COLUMNS)]


def read_gamma_levels(con: duckdb.DuckDBPyConnection, day: dt.date, tickers: list[str]) -> pd.DataFrame:
    """``market.gamma_exposure`` rows of ``tickers`` for the session before ``day`` (the levels
    the flow context of ``day`` may use: the chain snapshot behind them was taken after that
    session's close). Empty when that session's levels are not stored."""
    prev = calendar.previous_session(day)
    return con.execute(
        select_sql(ms.GAMMA_EXPOSURE, "underlying IN (SELECT unnest(?)) AND trade_date = ?"),
        [sorted(set(tickers)), prev]).df()


def read_l2_features(con: duckdb.DuckDBPyConnection, day: dt.date, tickers: list[str], *,
                     until: dt.datetime | None = None) -> pd.DataFrame:
    """``market.l2_features`` rows of ``tickers`` for ``day`` (with ``until``: only minutes that
    closed by then), sorted by ticker and minute. Empty when no L2 source writes them."""
    where = "ticker IN (SELECT unnest(?)) AND trade_date = ?"
    params: list = [sorted(set(tickers)), day]
    if until is not None:
        where += " AND ts + INTERVAL 1 MINUTE <= ?"
        params.append(until)
    return con.execute(select_sql(ms.L2_FEATURES, where) + " ORDER BY ticker, ts", params).df()

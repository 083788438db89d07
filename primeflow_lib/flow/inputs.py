"""Reading what :func:`primeflow_lib.flow.engine.score_batch` needs from the warehouse, causally.

One reader for the daily partitions and the near-live job:

* 1-minute bars of the session (near-live: only bars that *closed* by ``until``) and of the
  ``flow.rvol_lookback_sessions`` sessions before it;
* daily bars of the ``market_regime.trend_lookback_days`` (+5) sessions *before* the session;
* the previous session's chain snapshot (open interest as of the open, IV, delta);
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
) -> dict[str, pd.DataFrame]:
    """``{"bars_1m", "daily_bars", "chain", "history"}`` for scoring ``day``'s prints of
    ``tickers`` (plus the regime benchmark). See the module doc for what is read."""
    bench = cfg["market_regime"]["benchmark"]
    names = sorted(set(tickers) | {bench})
    rvol_days = calendar.sessions_before(day, cfg["flow"]["rvol_lookback_sessions"])
    trend_days = calendar.sessions_before(day, cfg["market_regime"]["trend_lookback_days"] + 5)
    hist_days = calendar.sessions_before(day, cfg["swing"]["repeat_lookback_days"])
    prev = calendar.previous_session(day)
    bar_where = "ticker IN (SELECT unnest(?)) AND trade_date BETWEEN ? AND ?"
    bar_params: list = [names, rvol_days[0] if rvol_days else day, day]
    if until is not None:
        bar_where += " AND ts + INTERVAL 1 MINUTE <= ?"
        bar_params.append(until)
    bars = con.execute(select_sql(ms.OHLCV_INTRADAY, bar_where) + " ORDER BY ticker, ts", bar_params).df()
    daily = con.execute(
        select_sql(ms.OHLCV_DAILY, "ticker IN (SELECT unnest(?)) AND trade_date BETWEEN ? AND ?"),
        [names, trend_days[0] if trend_days else prev, prev]).df()
    chain = con.execute(
        select_sql(ms.OPTION_CHAIN, "underlying IN (SELECT unnest(?)) AND trade_date = ?"), [names, prev]).df()
    cols = ", ".join(f'"{c}"' for c in HISTORY_COLUMNS)
    history = con.execute(
        f"SELECT {cols} FROM flow.flow_events WHERE trade_date BETWEEN ? AND ?",
        [hist_days[0] if hist_days else prev, prev]).df()
    if live_history:
        today = con.execute(f"SELECT {cols} FROM live.flow_events WHERE trade_date = ?", [day]).df()
        history = pd.concat([history, today], ignore_index=True) if len(today) else history
    return {"bars_1m": bars, "daily_bars": daily, "chain": chain, "history": history}

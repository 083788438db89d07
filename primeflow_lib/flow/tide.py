"""Net-premium tide: how directional premium builds through the session, minute by minute.

**Definition** (``marts.tide_minute``, ``dbt_like_sql/tide_minute.sql``)::

    net_call_premium = premium of calls at the ask side - premium of calls at the bid side
    net_put_premium  = premium of puts at the ask side  - premium of puts at the bid side
    net_premium      = net_call_premium - net_put_premium
                     = (calls at ask + puts at bid) - (calls at bid + puts at ask)

Ask side = ``above_ask``, ``ask``, ``to_ask``; bid side = ``bid``, ``below_bid``, ``to_bid``
(:mod:`primeflow_lib.flow.side`). Orders at mid, multi-leg and stock-option orders (no
directional read) and late prints are left out. An order counts in the minute of its last
print; the ``cum_*`` columns are running sums from the session's first minute. Premium is USD
(price x size x 100). Positive net premium leans bullish (calls bought, puts sold).

Scopes: ``ticker`` (one underlying, with its 1-minute close), ``market`` (every ticker of the
session summed, with the regime benchmark's close, ``market_regime.benchmark``) and ``sector``
(the tickers of one sector of ``desk.sectors`` summed; no price line: a sector has no single
price).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import pandas as pd

TIDE_MART = "marts.tide_minute"
SCOPES = ("market", "ticker", "sector")
VALUE_COLUMNS = ("call_ask_premium", "call_bid_premium", "put_ask_premium", "put_bid_premium", "orders")


class TideError(ValueError):
    """A tide request that cannot be answered (unknown scope or sector, mart not built)."""


def sectors(cfg: Mapping[str, Any]) -> dict[str, list[str]]:
    """``desk.sectors``: sector -> tickers."""
    return {str(k): [str(t).upper() for t in v] for k, v in ((cfg.get("desk") or {}).get("sectors") or {}).items()}


def tide_query(scope: str, name: str, day: dt.date, cfg: Mapping[str, Any]) -> tuple[str, list[Any]]:
    """``(sql, params)`` of one tide series from :data:`TIDE_MART` (see the module doc)."""
    if scope not in SCOPES:
        raise TideError(f"tide scope must be one of {', '.join(SCOPES)}, got {scope!r}")
    if scope == "ticker":
        return (f"SELECT * FROM {TIDE_MART} WHERE scope = 'ticker' AND name = ? AND trade_date = ? "
                "ORDER BY minute", [str(name).upper(), day])
    if scope == "market":
        bench = str((cfg.get("market_regime") or {}).get("benchmark", "SPY"))
        return (f"SELECT t.* EXCLUDE (price), b.close AS price, ? AS price_ticker FROM {TIDE_MART} t "
                "LEFT JOIN market.ohlcv_intraday b ON b.ticker = ? AND b.ts = t.minute "
                "WHERE t.scope = 'market' AND t.trade_date = ? ORDER BY t.minute", [bench, bench, day])
    secs = sectors(cfg)
    if name not in secs:
        raise TideError(f"unknown sector {name!r} (desk.sectors: {', '.join(secs) or 'none'})")
    sums = ", ".join(f"sum({c}) AS {c}" for c in VALUE_COLUMNS)
    return (f"""
        WITH s AS (
            SELECT trade_date, minute, {sums}, count(DISTINCT name) AS tickers
            FROM {TIDE_MART} WHERE scope = 'ticker' AND trade_date = ? AND name IN (SELECT unnest(?::VARCHAR[]))
            GROUP BY ALL
        )
        SELECT 'sector' AS scope, ? AS name, trade_date, minute, NULL::DOUBLE AS price, {", ".join(VALUE_COLUMNS)},
               call_ask_premium - call_bid_premium AS net_call_premium,
               put_ask_premium - put_bid_premium AS net_put_premium,
               (call_ask_premium - call_bid_premium) - (put_ask_premium - put_bid_premium) AS net_premium,
               sum(call_ask_premium - call_bid_premium) OVER w AS cum_net_call_premium,
               sum(put_ask_premium - put_bid_premium) OVER w AS cum_net_put_premium,
               sum((call_ask_premium - call_bid_premium) - (put_ask_premium - put_bid_premium)) OVER w
                   AS cum_net_premium, tickers
        FROM s WINDOW w AS (ORDER BY minute ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
        ORDER BY minute""", [day, secs[name], name])


def leaders_query(day: dt.date, n: int = 10) -> tuple[str, list[Any]]:
    """``(sql, params)``: each ticker's net premium at the close of ``day`` (the last
    cumulative value), the ``n`` most bullish and the ``n`` most bearish."""
    return (f"""
        WITH last AS (
            SELECT name AS ticker, arg_max(cum_net_premium, minute) AS net_premium,
                   arg_max(cum_net_call_premium, minute) AS net_call_premium,
                   arg_max(cum_net_put_premium, minute) AS net_put_premium, sum(orders) AS orders
            FROM {TIDE_MART} WHERE scope = 'ticker' AND trade_date = ? GROUP BY name
        )
        (SELECT * FROM last ORDER BY net_premium DESC LIMIT ?)
        UNION ALL
        (SELECT * FROM last WHERE ticker NOT IN (SELECT ticker FROM last ORDER BY net_premium DESC LIMIT ?)
         ORDER BY net_premium ASC LIMIT ?)
        ORDER BY net_premium DESC""", [day, int(n), int(n), int(n)])


def sessions_query() -> str:
    """SQL listing the sessions the tide mart holds, newest first."""
    return f"SELECT DISTINCT trade_date FROM {TIDE_MART} ORDER BY trade_date DESC"


def close_value(series: pd.DataFrame) -> float | None:
    """The series' net premium at its last minute (None for an empty series)."""
    if series.empty:
        return None
    return float(series["cum_net_premium"].iloc[-1])

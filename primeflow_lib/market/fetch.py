"""``primeflow fetch``: store any symbol's bars from a vendor into the warehouse, cached.

``fetch_symbol(cfg, "IBM", start, end, timeframe="1d", vendor="alpha_vantage")`` asks the vendor
(through the interface in :mod:`primeflow_lib.vendors`) for the sessions ``start .. end`` that
are not stored yet for that vendor and symbol, validates them like the ingest assets
(:func:`primeflow_lib.market.quality.validate_market_frame`; bad rows go to ``market.quarantine``) and
writes each session in its own short transaction into the same tables the pipeline fills:

* ``1d`` -> ``market.ohlcv_daily``;
* an intraday timeframe (``1m 5m 15m 30m 1h 4h``) -> ``market.ohlcv_intraday`` as 1-minute
  bars (coarser bars are resampled on read, as for every backtest).

Stored sessions are not fetched again unless ``refresh``. Only the fetched ``(session,
ticker)`` rows are replaced (``upsert_rows``): other symbols' rows of those sessions stay.

Bad input is an error, never an empty result: a symbol that fails the project's ticker pattern,
a start after the end, a range without NYSE sessions, an unknown timeframe or vendor, a vendor
that does not serve bars or that symbol (its own error, e.g. ``UnknownTickerError``), or a vendor
that answers with no bars at all.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from primeflow_lib import calendar, warehouse
from primeflow_lib.market import daily_history, quality
from primeflow_lib.schema.market import OHLCV_DAILY, OHLCV_INTRADAY
from primeflow_lib.vendors import get_vendor, vendor_name_for
from primeflow_lib.vendors.base import VendorError
from primeflow_lib.vendors.http import check_tickers

#: timeframes ``fetch`` accepts; every intraday one is stored as 1-minute bars
INTRADAY_TIMEFRAMES = ("1m", "5m", "15m", "30m", "1h", "4h")
FETCH_TIMEFRAMES = ("1d", *INTRADAY_TIMEFRAMES)


class FetchError(ValueError):
    """A fetch request that cannot be served; the message names the field and the value."""


@dataclass
class FetchReport:
    """What a fetch did (sessions are NYSE sessions of the requested range)."""

    symbol: str
    vendor: str
    table: str
    sessions: int
    cached: int
    fetched: int = 0
    rows: int = 0
    quarantined: int = 0
    unserved: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"{self.symbol} from {self.vendor} into {self.table}: {self.sessions} sessions requested, "
               f"{self.cached} already stored (cached), {self.fetched} fetched, {self.rows:,} rows stored, "
               f"{self.quarantined} quarantined"]
        if self.unserved:
            out.append(f"WARNING: {self.vendor} returned no bar for {len(self.unserved)} sessions: "
                       f"{', '.join(self.unserved[:10])}{' ...' if len(self.unserved) > 10 else ''}")
        return out


def _stored_intraday_sessions(con, symbol: str, start: dt.date, end: dt.date, vendor: str) -> set[dt.date]:
    rows = con.execute(
        "SELECT DISTINCT trade_date FROM market.ohlcv_intraday WHERE ticker = ? AND vendor = ? "
        "AND trade_date BETWEEN ? AND ?", [symbol, vendor, start, end]).fetchall()
    return {r[0] for r in rows}


def fetch_symbol(
    cfg: Mapping[str, Any],
    symbol: str,
    start: dt.date,
    end: dt.date | None = None,
    *,
    timeframe: str = "1d",
    vendor: str | None = None,
    refresh: bool = False,
    echo: Callable[[str], None] = lambda _line: None,
) -> FetchReport:
    """Store ``symbol``'s bars for the sessions ``start .. end`` (inclusive; ``end`` default the
    latest completed session) from ``vendor`` (default: the configured bars vendor), see the
    module doc. Returns a :class:`FetchReport`; raises :class:`FetchError` for bad input and the
    vendor's :class:`~primeflow_lib.vendors.base.VendorError` when it cannot serve."""
    try:
        (sym,) = check_tickers("--symbol", [symbol])
    except VendorError as exc:
        raise FetchError(str(exc)) from None
    if timeframe not in FETCH_TIMEFRAMES:
        raise FetchError(f"--timeframe {timeframe!r}: one of {', '.join(FETCH_TIMEFRAMES)}")
    end = end or calendar.latest_completed_session()
    if start > end:
        raise FetchError(f"--start {start} is after --end {end}")
    sessions = calendar.sessions(start, end)
    if not sessions:
        raise FetchError(f"no NYSE sessions between --start {start} and --end {end}")
    name = vendor or vendor_name_for("bars", cfg)
    v = get_vendor(name, cfg)
    v.check_ready("bars")
    daily = timeframe == "1d"
    table = OHLCV_DAILY if daily else OHLCV_INTRADAY
    with warehouse.connect() as con:
        warehouse.ensure_tables(con)
        if refresh:
            have: set[dt.date] = set()
        elif daily:
            have = {d for d, _t in daily_history.stored_pairs(con, [sym], sessions[0], sessions[-1], v.name)}
        else:
            have = _stored_intraday_sessions(con, sym, sessions[0], sessions[-1], v.name)
    todo = [d for d in sessions if d not in have]
    report = FetchReport(sym, v.name, table.fqn, len(sessions), len(sessions) - len(todo))
    if not todo:
        echo(f"{sym}: all {len(sessions)} sessions {sessions[0]} .. {sessions[-1]} already stored from {v.name} "
             "(cached; --refresh fetches them again)")
        return report
    echo(f"fetching {sym} {'daily' if daily else '1-minute'} bars {todo[0]} .. {todo[-1]} from {v.name} "
         f"({len(todo)} sessions not stored yet)")
    # no connection is open during the vendor call
    bars = v.daily_bars([sym], todo[0], todo[-1]) if daily else v.intraday_bars([sym], todo[0], todo[-1])
    if bars is None or bars.empty:
        raise FetchError(f"{v.name} returned no {'daily' if daily else '1-minute'} bars for {sym} between "
                         f"{todo[0]} and {todo[-1]}")
    bars = bars[bars["ticker"] == sym]
    want = set(todo)
    by_day = {d: g for d, g in bars.groupby(pd.to_datetime(bars["trade_date"]).dt.date, sort=True) if d in want}
    report.unserved = [str(d) for d in todo if d not in by_day]
    with warehouse.connect() as con, warehouse.deferred_checkpoint(con):
        for day, part in by_day.items():
            val = quality.validate_market_frame(table, part, source=v.name, trade_date=day)
            with warehouse.transaction(con):
                if len(val.good):
                    warehouse.upsert_rows(con, table, val.good)
                if len(val.quarantine):
                    warehouse.write_quarantine(con, table.schema, val.quarantine,
                                               source=f"fetch:{v.name}:{table.fqn}:{sym}", trade_date=day)
            report.fetched += 1
            report.rows += len(val.good)
            report.quarantined += val.n_bad
    return report

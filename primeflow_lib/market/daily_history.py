"""Complete daily history (`market.ohlcv_daily`): which ``(session, ticker)`` daily bars a run must hold, and which of
them are not stored yet.

Only the day's universe used to be ingested, so a ticker that entered the top-N late had a
gappy daily series (its daily trend UNKNOWN in the flow context, indicators and regimes warming
up inside the window). A run of the daily-bars asset over sessions ``d0 .. dN`` now makes sure
the warehouse holds, for **every** session from ``lookback`` sessions before ``d0`` to ``dN``,
the daily bars of:

* every ticker that is in the stored universe on any session of ``d0 .. dN`` (the union, so a
  ticker that enters and leaves the top-N has its whole history, not only its universe days),
* the regime benchmark (``market_regime.benchmark``),
* every symbol listed under ``research.symbols`` in the config.

``lookback`` (:func:`history_lookback_sessions`) is the longest warm-up any consumer of daily
bars needs: the research assets (indicators, MFT regimes, the blend preset: their lookback
times two plus a margin, as ``research/*`` assets load it) and the flow context's daily trend
and regime (``market_regime.trend_lookback_days`` + 5 sessions).

Only pairs not yet stored for the vendor are fetched (the warehouse is the cache); what is
stored is never deleted by the backfill. Sessions before the first session of the calendar
(:data:`primeflow_lib.calendar.FIRST_SESSION`) do not exist and are not asked for.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import duckdb
import pandas as pd

from primeflow_lib import calendar
from primeflow_lib.vendors.http import check_tickers

#: sessions added beyond the longest research lookback (the research assets load the same)
HISTORY_WARMUP_MARGIN = 10
#: sessions the flow context reads beyond ``market_regime.trend_lookback_days``
CONTEXT_MARGIN = 5


def history_lookback_sessions(cfg: Mapping[str, Any]) -> int:
    """Sessions of daily bars needed before a session so that nothing computed on it lacks
    history: ``max(research lookback, flow-context lookback)``.

    Research lookback: the largest of the ``research.indicators`` lookbacks, twice the MFT
    regime lookback and twice the ``research.blend_preset`` indicators' lookback (what the
    ``research/*`` assets load), plus :data:`HISTORY_WARMUP_MARGIN`. Flow-context lookback:
    ``market_regime.trend_lookback_days`` + :data:`CONTEXT_MARGIN`. With the packaged
    defaults this is 248 sessions (about a year).
    """
    from primeflow_lib.research import max_lookback, preset

    r = cfg["research"]
    research = max(
        max_lookback({name: None for name in r["indicators"]}),
        max_lookback({"phi_mft": None}) * 2,
        max_lookback({k: None for k in preset(r["blend_preset"], "X").indicators}) * 2,
    ) + HISTORY_WARMUP_MARGIN
    context = int(cfg["market_regime"]["trend_lookback_days"]) + CONTEXT_MARGIN
    return max(research, context)


def configured_symbols(cfg: Mapping[str, Any]) -> list[str]:
    """``research.symbols`` validated with the project's ticker pattern (upper-cased); an
    invalid entry raises :class:`~primeflow_lib.vendors.base.VendorError` naming it."""
    syms = cfg["research"].get("symbols") or []
    return check_tickers("config research.symbols", syms) if syms else []


def history_symbols(universe_by_day: Mapping[dt.date, Sequence[str]], cfg: Mapping[str, Any]) -> list[str]:
    """The tickers whose daily history a run keeps complete: the union of the universe over the
    run's sessions, the benchmark and ``research.symbols``; sorted."""
    names = {t for tickers in universe_by_day.values() for t in tickers}
    names.add(str(cfg["market_regime"]["benchmark"]))
    names.update(configured_symbols(cfg))
    return sorted(names)


def history_sessions(days: Sequence[dt.date], lookback: int) -> list[dt.date]:
    """``lookback`` sessions before the first of ``days``, then ``days`` (oldest first)."""
    days = sorted(days)
    return calendar.sessions_before(days[0], lookback) + list(days)


def stored_pairs(con: duckdb.DuckDBPyConnection, tickers: Sequence[str], start: dt.date, end: dt.date,
                 vendor: str) -> set[tuple[dt.date, str]]:
    """``(trade_date, ticker)`` pairs of ``market.ohlcv_daily`` stored for ``vendor``."""
    rows = con.execute(
        "SELECT trade_date, ticker FROM market.ohlcv_daily WHERE vendor = ? "
        "AND ticker IN (SELECT unnest(?)) AND trade_date BETWEEN ? AND ?",
        [vendor, list(tickers), start, end]).fetchall()
    return {(d, t) for d, t in rows}


def missing_pairs(con: duckdb.DuckDBPyConnection, tickers: Sequence[str], sessions: Sequence[dt.date],
                  vendor: str, *, refresh: Iterable[dt.date] = ()) -> dict[dt.date, list[str]]:
    """Per session, the ``tickers`` with no daily bar stored for ``vendor`` (all of them on the
    sessions in ``refresh``). Sessions with nothing missing are left out."""
    if not sessions or not tickers:
        return {}
    have = stored_pairs(con, tickers, min(sessions), max(sessions), vendor)
    again = set(refresh)
    out: dict[dt.date, list[str]] = {}
    for d in sessions:
        need = list(tickers) if d in again else [t for t in tickers if (d, t) not in have]
        if need:
            out[d] = need
    return out


def keep_pairs(bars: pd.DataFrame, wanted: Mapping[dt.date, Sequence[str]]) -> pd.DataFrame:
    """The rows of a vendor daily-bars frame whose ``(trade_date, ticker)`` is in ``wanted``
    (a range fetch returns stored pairs too; those are not rewritten)."""
    if bars is None or bars.empty or not wanted:
        return bars.iloc[:0] if bars is not None else pd.DataFrame()
    keys = pd.MultiIndex.from_tuples(
        [(pd.Timestamp(d), t) for d, ts in wanted.items() for t in ts], names=["trade_date", "ticker"])
    have = pd.MultiIndex.from_arrays([pd.to_datetime(bars["trade_date"]), bars["ticker"].astype(str)])
    return bars[have.isin(keys)]


def unserved(bars: pd.DataFrame, wanted: Mapping[dt.date, Sequence[str]]) -> dict[str, int]:
    """Per ticker, how many wanted sessions the vendor returned no bar for (a ticker listed
    after the start of the lookback, a halt, a vendor gap): reported, never invented."""
    got = set()
    if bars is not None and len(bars):
        got = set(zip(pd.to_datetime(bars["trade_date"]).dt.date, bars["ticker"].astype(str), strict=True))
    out: dict[str, int] = {}
    for d, ts in wanted.items():
        for t in ts:
            if (d, t) not in got:
                out[t] = out.get(t, 0) + 1
    return dict(sorted(out.items()))

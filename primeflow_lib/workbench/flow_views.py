"""Today's flow for the workbench: signals of the latest session (daily partitions and the
near-live path), what each signal came from, the strategy scorecard, unusual activity and the
ticker's gamma levels.

Sources: ``flow.signals`` / ``live.signals`` (same columns), ``flow.flow_events`` /
``live.flow_events``, ``flow.option_prints``, ``flow.flow_context``, ``live.paper_positions``,
``live.alert_outbox``, the marts ``marts.strategy_scorecard`` and ``marts.unusual_activity``
(``dbt_like_sql/``), and dealer gamma from ``marts.gamma_levels`` / ``market.gamma_exposure``
and ``market.gamma_by_strike`` (:mod:`primeflow_lib.flow.gex`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Sequence
from typing import Any

import pandas as pd

from primeflow_lib.workbench.readcopy import existing_tables, read_frame

#: where signals and their orders live, by source
SIGNAL_TABLES = {"daily": "flow.signals", "live": "live.signals"}
EVENT_TABLES = {"daily": "flow.flow_events", "live": "live.flow_events"}

#: the signal columns the list shows (all declared in primeflow_lib.schema.flow.SIGNALS)
LIST_COLUMNS = (
    "signal_id", "ts", "kind", "ticker", "option_symbol", "direction", "strength", "tags",
    "event_type", "side", "premium", "size", "spot", "otm_pct", "dte", "vol_oi", "iv", "vendor",
)  # fmt: skip

#: tags a signal can carry (flow.signals.tags)
KNOWN_TAGS = ("SIZE", "SWEEP", "AGGRESSIVE", "VOL>OI", "TREND_CONFIRMED", "REPEAT", "BLOCK",
              "GOLDEN", "NEG_GAMMA")

Path = str | os.PathLike | None


def _present(sources: Sequence[str], path: Path) -> dict[str, str]:
    have = existing_tables(path)
    return {s: SIGNAL_TABLES[s] for s in sources if SIGNAL_TABLES[s] in have}


def latest_session(path: Path = None) -> dt.date | None:
    """The newest ``trade_date`` with a signal (daily or live), or None without signals."""
    tables = _present(list(SIGNAL_TABLES), path)
    if not tables:
        return None
    sql = " UNION ALL ".join(f"SELECT max(trade_date) AS d FROM {t}" for t in tables.values())
    d = read_frame(f"SELECT max(d) AS d FROM ({sql})", path=path)["d"].iloc[0]
    return None if pd.isna(d) else pd.Timestamp(d).date()


def session_signals(
    session: dt.date,
    *,
    kinds: Sequence[str] = (),
    tickers: Sequence[str] = (),
    tags: Sequence[str] = (),
    min_strength: float = 0.0,
    sources: Sequence[str] = ("daily", "live"),
    path: Path = None,
) -> pd.DataFrame:
    """Signals of ``session`` from ``sources`` (``daily``: flow.signals, ``live``: live.signals),
    **one row per signal**, strongest first, with a ``sources`` column (``daily``, ``live`` or
    ``daily, live``: the near-live path and the daily partition score the same order into the
    same ``signal_id``) and ``source`` (where the row's values come from: daily when both).

    Args:
        kinds / tickers: keep only these (empty = all).
        tags: keep signals carrying at least one of these tags (empty = all).
        min_strength: keep strength >= this (strength is in [0, 1]).
    """
    tables = _present([s for s in sources if s in SIGNAL_TABLES], path)
    cols = ", ".join(f'"{c}"' for c in LIST_COLUMNS)
    if not tables:
        return pd.DataFrame(columns=["sources", "source", *LIST_COLUMNS])
    where, params = ["trade_date = ?", "strength >= ?"], [session, float(min_strength)]
    if kinds:
        where.append("kind IN (SELECT unnest(?))")
        params.append(list(kinds))
    if tickers:
        where.append("ticker IN (SELECT unnest(?))")
        params.append(list(tickers))
    if tags:
        where.append("list_has_any(string_split(tags, ','), ?)")
        params.append(list(tags))
    parts, all_params = [], []
    for source, t in tables.items():
        parts.append(f"SELECT '{source}' AS source, {cols} FROM {t} WHERE {' AND '.join(where)}")
        all_params += params
    union = " UNION ALL ".join(parts)
    # one row per signal_id: the daily row when both have it (source order: daily < live)
    sql = (f"SELECT string_agg(source, ', ' ORDER BY source) OVER (PARTITION BY signal_id) AS sources, * "
           f"FROM ({union}) QUALIFY row_number() OVER (PARTITION BY signal_id ORDER BY source) = 1 "
           "ORDER BY strength DESC, ts, signal_id")
    return read_frame(sql, all_params, path)


def session_choices(session: dt.date, path: Path = None) -> dict[str, list[str]]:
    """Kinds, tickers and tags present among ``session``'s signals (for the filters)."""
    df = session_signals(session, path=path)
    tags = sorted({t for s in df["tags"].dropna() for t in str(s).split(",") if t})
    return {"kinds": sorted(df["kind"].unique()), "tickers": sorted(df["ticker"].unique()),
            "tags": tags}


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def signal_detail(signal_id: str, source: str = "daily", path: Path = None) -> dict[str, Any]:
    """Everything behind one signal, each part traceable to its rows.

    Returns ``{"signal": dict (JSON columns parsed), "order": dict | None (the flow_events
    row), "prints": DataFrame (flow.option_prints of the order, time order), "context": dict
    (context_json, plus the flow.flow_context row for daily signals), "paper": dict | None
    (live.paper_positions), "alerts": DataFrame (live.alert_outbox rows)}``.

    Raises:
        KeyError: no such signal in the source's table.
    """
    if source not in SIGNAL_TABLES:
        raise KeyError(f"unknown signal source {source!r}; one of {list(SIGNAL_TABLES)}")
    have = existing_tables(path)
    st = SIGNAL_TABLES[source]
    if st not in have:
        raise KeyError(f"no table {st} in the read copy")
    rows = read_frame(f"SELECT * FROM {st} WHERE signal_id = ?", [signal_id], path)
    if rows.empty:
        raise KeyError(f"no signal {signal_id!r} in {st}")
    sig = rows.iloc[0].to_dict()
    for k in ("context_json", "rules_passed", "rules_failed", "score_json"):
        sig[k] = _json(sig.get(k))
    order = None
    et = EVENT_TABLES[source]
    if et in have:
        ev = read_frame(f"SELECT * FROM {et} WHERE event_id = ?", [sig["event_id"]], path)
        order = ev.iloc[0].to_dict() if len(ev) else None
    ids = [p for p in str(sig.get("print_ids") or "").split(",") if p]
    prints = pd.DataFrame()
    if ids and "flow.option_prints" in have:
        prints = read_frame(
            "SELECT * FROM flow.option_prints WHERE trade_date = ? AND print_id IN "
            "(SELECT unnest(?)) ORDER BY sip_ts, seq", [sig["trade_date"], ids], path)
    context = dict(sig["context_json"]) if isinstance(sig["context_json"], dict) else {}
    if source == "daily" and "flow.flow_context" in have:
        ctx = read_frame("SELECT * FROM flow.flow_context WHERE event_id = ?",
                         [sig["event_id"]], path)
        if len(ctx):
            context = {**ctx.iloc[0].to_dict(), **context}
    paper = None
    if "live.paper_positions" in have:
        pp = read_frame("SELECT * FROM live.paper_positions WHERE signal_id = ?", [signal_id], path)
        paper = pp.iloc[0].to_dict() if len(pp) else None
    alerts = pd.DataFrame()
    if "live.alert_outbox" in have:
        alerts = read_frame(
            "SELECT channel, mode, status, created_at, sent_at, is_synthetic, message_text "
            "FROM live.alert_outbox WHERE signal_id = ? ORDER BY created_at", [signal_id], path)
    return {"signal": sig, "order": order, "prints": prints, "context": context,
            "paper": paper, "alerts": alerts}


def strategy_scorecard(path: Path = None) -> pd.DataFrame | None:
    """``marts.strategy_scorecard`` (all sessions), or None before the marts are built."""
    if "marts.strategy_scorecard" not in existing_tables(path):
        return None
    return read_frame("SELECT * FROM marts.strategy_scorecard ORDER BY kind", path=path)


def unusual_activity(session: dt.date, path: Path = None, limit: int = 200) -> pd.DataFrame | None:
    """``marts.unusual_activity`` rows of ``session``, largest premium first (None before the
    marts are built)."""
    if "marts.unusual_activity" not in existing_tables(path):
        return None
    return read_frame("SELECT * FROM marts.unusual_activity WHERE trade_date = ? "
                      "ORDER BY premium DESC LIMIT ?", [session, int(limit)], path)


GAMMA_MART, GAMMA_TABLE, GAMMA_STRIKES = ("marts.gamma_levels", "market.gamma_exposure",
                                         "market.gamma_by_strike")


def gamma_source(path: Path = None) -> str | None:
    """Where the gamma levels are read from: ``marts.gamma_levels`` (levels with regime and
    distances from spot) when the marts are built, else ``market.gamma_exposure``; None when
    the gamma-exposure asset has not been materialized into this warehouse."""
    have = existing_tables(path)
    return next((t for t in (GAMMA_MART, GAMMA_TABLE) if t in have), None)


def gamma_levels(ticker: str, session: dt.date | None = None, path: Path = None,
                 sessions: int = 5, *, before: bool = False) -> pd.DataFrame | None:
    """Dealer gamma levels of ``ticker`` (``underlying``) for its last ``sessions`` chain
    snapshots up to ``session`` (all when None), newest first, from :func:`gamma_source`.

    A row dated D comes from the chain snapshot after D's close, so it applies to the session
    after D. With ``before`` only snapshots dated *before* ``session`` are read: what a signal
    of ``session`` knew (the flow context uses the same row), never the snapshot taken after its
    day (look-ahead). Every row names its sign ``convention`` (``dealer_long_calls_short_puts``
    or ``dealer_short_all``: an assumption, dealer books are not public). GEX is USD of dealer
    delta per 1 % move of the underlying (``total_gex_musd`` in the mart: USD millions). None
    when no gamma table exists.
    """
    src = gamma_source(path)
    if src is None:
        return None
    sql, params = f"SELECT * FROM {src} WHERE underlying = ?", [ticker]
    if session is not None:
        sql += " AND trade_date < ?" if before else " AND trade_date <= ?"
        params.append(session)
    sql += " ORDER BY trade_date DESC LIMIT ?"
    return read_frame(sql, [*params, int(sessions)], path)


def gamma_tickers(session: dt.date | None = None, path: Path = None) -> list[str]:
    """Underlyings with gamma levels up to ``session`` in :func:`gamma_source`, sorted."""
    src = gamma_source(path)
    if src is None:
        return []
    sql, params = f"SELECT DISTINCT underlying FROM {src}", []
    if session is not None:
        sql += " WHERE trade_date <= ?"
        params.append(session)
    return sorted(read_frame(sql, params, path)["underlying"].astype(str))


def gamma_by_strike(ticker: str, session: dt.date, path: Path = None) -> pd.DataFrame | None:
    """``market.gamma_by_strike`` of ``ticker``'s snapshot dated ``session`` (call, put and net
    GEX per strike, every expiry summed), by strike; None when the table does not exist."""
    if GAMMA_STRIKES not in existing_tables(path):
        return None
    return read_frame(f"SELECT * FROM {GAMMA_STRIKES} WHERE underlying = ? AND trade_date = ? "
                      "ORDER BY strike", [ticker, session], path)

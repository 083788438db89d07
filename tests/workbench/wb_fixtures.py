"""A small warehouse and read copy for the workbench tests, built directly from the table
declarations (no Dagster run): two tickers of daily bars, a session of signals (daily and
live) with their order, prints, context, paper positions and an alert, the two marts the Flow
page reads, one recorded backtest, and helpers that add the tables other issues create
(gamma exposure, tuning studies)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import desk_builders
import numpy as np
import pandas as pd

from primeflow_lib import calendar, warehouse
from primeflow_lib.flow.gex import compute_gex
from primeflow_lib.research import RunConfig, preset, run_backtest, write_run
from primeflow_lib.research.tuning import FoldSpec, TuneConfig, phiai_full_auto, write_study
from primeflow_lib.schema.market import GAMMA_BY_EXPIRY, GAMMA_BY_STRIKE, GAMMA_EXPOSURE

ROOT = Path(__file__).resolve().parents[2]
SESSION = dt.date(2024, 12, 31)
TICKERS = ("SPY", "QQQ")
#: runs in research.backtest_runs: dual_sma SPY, buy_and_hold QQQ, the study's OOS run, options
N_RUNS = 4
TUNE = TuneConfig(indicators=("rsi",), trials=24, seed=3, folds=FoldSpec(n_folds=2), pbo_splits=4)
MARTS = ("strategy_scorecard", "unusual_activity", "gamma_levels")

def rows(fqn: str, records: list[dict]) -> pd.DataFrame:
    """Frames with every declared column of ``fqn``: given values, else a neutral default
    (NULL for nullable columns, the session for dates)."""
    return desk_builders.rows(fqn, records, SESSION)


def daily_bars(ticker: str, days: list[dt.date], seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = len(days)
    c = 100 * np.exp(np.cumsum(rng.normal(0.0004, 0.012, n)))
    o = np.r_[c[0], c[:-1]]
    return rows("market.ohlcv_daily", [
        {"trade_date": d, "ticker": ticker, "open": o[i], "high": max(o[i], c[i]) * 1.005,
         "low": min(o[i], c[i]) * 0.995, "close": c[i], "volume": 1e6, "vendor": "synthetic"}
        for i, d in enumerate(days)])


def _signal(sid: str, kind: str, ticker: str, strength: float, tags: str, event: str,
            print_ids: str, hour: int) -> dict:
    return {"signal_id": sid, "trade_date": SESSION, "kind": kind, "ticker": ticker,
            "ts": dt.datetime.combine(SESSION, dt.time(hour, 5)),
            "option_symbol": f"{ticker}250117C00600000", "expiry": dt.date(2025, 1, 17),
            "right": "C", "strike": 600.0, "direction": "BULLISH", "strength": strength,
            "tags": tags, "event_id": event, "event_type": "sweep", "side": "ask",
            "side_confidence": "high", "sentiment": "bullish", "premium": 250_000.0,
            "size": 500, "avg_price": 5.0, "n_prints": 2, "n_exchanges": 2, "dte": 17,
            "vendor": "synthetic", "context_json": json.dumps({"regime": "BULL", "rvol": 1.8}),
            "rules_passed": json.dumps(["premium>=100000"]), "rules_failed": "[]",
            "score_json": json.dumps({"strength": strength}), "print_ids": print_ids}


def build(live: Path, read: Path) -> None:
    """Write the test warehouse to ``live`` and publish its read copy to ``read``."""
    days = calendar.sessions_before(SESSION, 299) + [SESSION]
    with warehouse.connect(live) as con:
        warehouse.ensure_tables(con)
        for i, t in enumerate(TICKERS):
            warehouse.append_rows(con, "market.ohlcv_daily", daily_bars(t, days, i))
        prints = rows("flow.option_prints", [
            {"print_id": f"p{i}", "option_symbol": "SPY250117C00600000", "underlying": "SPY",
             "sip_ts": dt.datetime.combine(SESSION, dt.time(10, 5, i)), "exchange": 300 + i,
             "price": 5.0, "size": 250, "seq": i, "vendor": "synthetic"} for i in range(2)])
        warehouse.append_rows(con, "flow.option_prints", prints)
        warehouse.append_rows(con, "flow.flow_events", rows("flow.flow_events", [
            {"event_id": "ev1", "ticker": "SPY", "option_symbol": "SPY250117C00600000",
             "expiry": dt.date(2025, 1, 17), "right": "C", "strike": 600.0,
             "event_type": "sweep", "side": "ask", "side_confidence": "high",
             "sentiment": "bullish", "n_prints": 2, "n_exchanges": 2, "size": 500,
             "premium": 250_000.0, "avg_price": 5.0, "has_iso": True, "dte": 17,
             "print_ids": "p0,p1", "vendor": "synthetic"}]))
        warehouse.append_rows(con, "flow.flow_context", rows("flow.flow_context", [
            {"event_id": "ev1", "ticker": "SPY", "spot": 590.0, "spot_source": "bar",
             "trend_15m": "UP", "daily_trend": "UP", "or_break": "UP", "regime": "BULL"}]))
        warehouse.append_rows(con, "flow.signals", rows("flow.signals", [
            _signal("sigscalp", "SCALP", "SPY", 0.8, "SWEEP,SIZE", "ev1", "p0,p1", 10),
            _signal("sigswing", "SWING", "QQQ", 0.6, "BLOCK", "ev2", "", 11),
            _signal("sigday", "DAY_TRADE", "SPY", 0.4, "REPEAT", "ev3", "", 12)]))
        warehouse.append_rows(con, "live.signals", rows("live.signals", [
            _signal("siglive", "SCALP", "QQQ", 0.7, "SWEEP", "ev4", "", 13)]))
        warehouse.append_rows(con, "live.paper_positions", rows("live.paper_positions", [
            {"position_id": "sigscalp", "signal_id": "sigscalp", "kind": "SCALP",
             "ticker": "SPY", "direction": "BULLISH", "position": "LONG", "option_side": "LONG",
             "status": "CLOSED", "exit_reason": "TP", "return_pct": 0.004, "option_pnl": 120.0,
             "strike": 600.0, "expiry": dt.date(2025, 1, 17), "right": "C",
             "iv_source": "chain", "vendor": "synthetic"}]))
        warehouse.append_rows(con, "live.alert_outbox", rows("live.alert_outbox", [
            {"alert_key": "a1", "signal_id": "sigscalp", "short_id": "sigscalp"[:8],
             "kind": "SCALP", "channel": "telegram_scalps", "channel_type": "sink",
             "mode": "short", "format_version": 1, "is_synthetic": True, "status": "sent",
             "message_text": "[SYNTHETIC DATA] SCALP SPY 600C sweep $250k"}]))
        write_gamma(con)
        for mart in MARTS:
            text = (ROOT / "dbt_like_sql" / f"{mart}.sql").read_text()
            body = "\n".join(ln for ln in text.splitlines() if not ln.startswith("--"))
            con.execute(f"CREATE OR REPLACE TABLE marts.{mart} AS {body}")
        cfg = preset("dual_sma", "SPY", dataset={"vendor": None})
        spy = warehouse_bars(con, "SPY")
        write_run(con, run_backtest(cfg, spy))
        write_run(con, run_backtest(preset("buy_and_hold", "QQQ"), warehouse_bars(con, "QQQ")))
        study = phiai_full_auto(spy, TUNE, RunConfig.from_dict({"dataset": {"symbol": "SPY"}}))
        write_study(con, study, spy)
        write_run(con, run_backtest(preset("options_bull_put", "SPY"), spy))
        desk_builders.write_desk(con, marts=True)  # the Tape, Market desk and Alert rules pages
    warehouse.publish_read_copy(live, read)


def warehouse_bars(con, ticker: str) -> pd.DataFrame:
    from primeflow_lib.research.data import bars_from_connection

    return bars_from_connection(con, ticker)


def chain(day: dt.date, spot: float) -> pd.DataFrame:
    """A hand-made ``market.option_chain`` snapshot of SPY: strikes 560..620, calls and puts,
    one expiry, more put open interest below spot (so the flip lies inside the grid)."""
    recs = []
    for k in range(560, 621, 10):
        for right, oi in (("C", 4000 if k >= spot else 1500), ("P", 6000 if k < spot else 1000)):
            recs.append({"trade_date": day, "underlying": "SPY", "expiry": dt.date(2025, 1, 17),
                         "right": right, "strike": float(k), "open_interest": oi, "iv": 0.18,
                         "underlying_price": spot, "vendor": "synthetic"})
    return pd.DataFrame(recs)


def write_gamma(con) -> None:
    """``market.gamma_exposure`` / ``gamma_by_strike`` / ``gamma_by_expiry`` of the session and
    the one before, from :func:`compute_gex`, written like the gamma asset (one transaction per
    session, delete-then-insert)."""
    for day, spot in ((calendar.sessions_before(SESSION, 1)[0], 585.0), (SESSION, 590.0)):
        res = compute_gex(chain(day, spot))
        with warehouse.transaction(con):
            warehouse.replace_partition(con, GAMMA_EXPOSURE, res.levels, day)
            warehouse.replace_partition(con, GAMMA_BY_STRIKE, res.by_strike, day)
            warehouse.replace_partition(con, GAMMA_BY_EXPIRY, res.by_expiry, day)


def empty_tables(read: Path, *fqns: str) -> None:
    """Delete every row of ``fqns`` in the read copy (the tables stay: the empty state)."""
    import duckdb

    con = duckdb.connect(str(read))
    try:
        for fqn in fqns:
            con.execute(f"DELETE FROM {fqn}")
    finally:
        con.close()


def spy_bars(read: Path) -> pd.DataFrame:
    """SPY's daily bars from the read copy, as the CLI loads them."""
    import duckdb

    con = duckdb.connect(str(read), read_only=True)
    try:
        return warehouse_bars(con, "SPY")
    finally:
        con.close()

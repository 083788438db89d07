"""A small warehouse for the trader's-desk tests, written through the table declarations and
the real library code (OI change from the chain snapshots, exposure from the chain):

* sessions D0 = 2024-12-30, D1 = 2024-12-31 (the orders), D2 = 2025-01-02 (the next snapshot);
* orders on D1 (``ORDERS``) on SPY (an ETF), AAPL (reports on D1 + 3 days) and NVDA, with a
  multi-leg vertical, a 0DTE block, a late print, a GOLDEN sweep;
* chain snapshots of D1 and D2 for the traded contracts whose OI change makes e1 opening, e6
  closing, e3 mixed (e2's 0DTE contract is gone from D2: unknown);
* 1-minute bars of SPY and AAPL around the orders, for the tide.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pandas as pd

from primeflow_lib import warehouse
from primeflow_lib.flow.open_interest import oi_change
from primeflow_lib.schema import table
from primeflow_lib.schema.desk import OI_CHANGE

ROOT = Path(__file__).resolve().parents[2]
D0, D1, D2 = dt.date(2024, 12, 30), dt.date(2024, 12, 31), dt.date(2025, 1, 2)
_DEFAULTS = {"VARCHAR": "", "DOUBLE": 0.0, "BIGINT": 0, "INTEGER": 0, "BOOLEAN": False, "JSON": "{}"}


def rows(fqn: str, records: list[dict], day: dt.date = D1) -> pd.DataFrame:
    """Frames with every declared column of ``fqn`` (neutral defaults for the rest)."""
    t = table(fqn)
    out = []
    for rec in records:
        row = {}
        for c in t.columns:
            if c.name in rec:
                row[c.name] = rec[c.name]
            elif c.nullable:
                row[c.name] = None
            elif c.type == "DATE":
                row[c.name] = day
            elif c.type == "TIMESTAMP":
                row[c.name] = dt.datetime.combine(day, dt.time(10, 0))
            else:
                row[c.name] = _DEFAULTS[c.type]
        out.append(row)
    return pd.DataFrame(out, columns=t.column_names)


def _sym(t: str, exp: dt.date, right: str, k: float) -> str:
    return f"{t}{exp:%y%m%d}{right}{int(round(k * 1000)):08d}"


def order(eid: str, ticker: str, right: str, strike: float, expiry: dt.date, event_type: str, side: str,
          premium: float, size: int, minute: tuple[int, int], **kw) -> dict:
    senti = {"ask": 1, "above_ask": 1, "to_ask": 1, "bid": -1, "below_bid": -1, "to_bid": -1}.get(side, 0)
    senti *= 1 if right == "C" else -1
    non_dir = event_type in ("multileg", "stock_option")
    return {"event_id": eid, "ticker": ticker, "option_symbol": _sym(ticker, expiry, right, strike), "expiry": expiry,
            "right": right, "strike": strike, "event_type": event_type, "side": side, "side_confidence": "high",
            "sentiment": "neutral" if non_dir or senti == 0 else ("bullish" if senti > 0 else "bearish"),
            "non_directional": non_dir, "n_prints": 2, "n_exchanges": 2, "size": size, "premium": premium,
            "avg_price": premium / size / 100, "first_ts": dt.datetime.combine(D1, dt.time(*minute)),
            "last_ts": dt.datetime.combine(D1, dt.time(*minute)) + dt.timedelta(seconds=20),
            "dte": (expiry - D1).days, "day_volume": size, "open_interest": kw.pop("oi", 1000),
            "vol_oi": kw.pop("vol_oi", size / 1000), "spot": kw.pop("spot", 100.0),
            "otm_pct": kw.pop("otm_pct", 0.02), "print_ids": f"{eid}p0,{eid}p1", "vendor": "synthetic", **kw}


E17 = dt.date(2025, 1, 17)
ORDERS = [
    order("e1", "SPY", "C", 600.0, E17, "sweep", "ask", 1_200_000.0, 1000, (10, 5), has_iso=True, vol_oi=1.5,
          spot=590.0, otm_pct=600 / 590 - 1),
    order("e2", "SPY", "P", 585.0, D1, "block", "bid", 300_000.0, 2000, (10, 30), spot=590.0, otm_pct=1 - 585 / 590,
          vol_oi=0.4),
    order("e3", "AAPL", "C", 250.0, dt.date(2025, 1, 10), "split", "to_ask", 80_000.0, 400, (11, 0), spot=245.0,
          otm_pct=250 / 245 - 1),
    order("e4", "AAPL", "C", 260.0, E17, "multileg", "mid", 200_000.0, 500, (11, 15), structure="vertical"),
    order("e5", "NVDA", "P", 120.0, dt.date(2025, 2, 14), "single", "ask", 20_000.0, 50, (12, 0), is_late=True),
    order("e6", "NVDA", "C", 140.0, dt.date(2025, 1, 3), "sweep", "above_ask", 700_000.0, 1500, (13, 0),
          has_iso=True, vol_oi=2.5, spot=135.0, otm_pct=140 / 135 - 1),
    order("e7", "SPY", "C", 595.0, E17, "sweep", "ask", 520_000.0, 800, (13, 10), spot=590.0),
    order("e8", "SPY", "C", 596.0, E17, "sweep", "above_ask", 650_000.0, 900, (13, 20), spot=590.0),
    order("e9", "SPY", "P", 580.0, E17, "sweep", "bid", 400_000.0, 700, (14, 0), spot=590.0),
    order("e10", "AAPL", "P", 240.0, E17, "block", "ask", 900_000.0, 1200, (14, 30), spot=245.0),
]
#: OI of the traded contracts in the D1 and D2 snapshots (None: not listed)
OI = {"e1": (1000, 2000), "e2": (5000, None), "e3": (3000, 3050), "e4": (800, 800), "e5": (100, 120),
      "e6": (4000, 2400), "e7": (500, 1300), "e8": (600, 1500), "e9": (900, 1000), "e10": (2000, 3300)}
EARNINGS_AAPL = D1 + dt.timedelta(days=3)


def _chain() -> pd.DataFrame:
    recs = []
    for o in ORDERS:
        for day, oi in zip((D1, D2), OI[o["event_id"]], strict=True):
            if oi is None:
                continue
            recs.append({"trade_date": day, "underlying": o["ticker"], "option_symbol": o["option_symbol"],
                         "expiry": o["expiry"], "right": o["right"], "strike": o["strike"], "open_interest": oi,
                         "iv": 0.25, "underlying_price": o["spot"], "vendor": "synthetic"})
    df = pd.DataFrame(recs)
    return rows("market.option_chain", df.to_dict(orient="records"))


def _bars() -> pd.DataFrame:
    recs = []
    for t, px in (("SPY", 590.0), ("AAPL", 245.0)):
        for i in range(5 * 60):
            ts = dt.datetime.combine(D1, dt.time(9, 30)) + dt.timedelta(minutes=i)
            c = px * (1 + 0.0001 * i)
            recs.append({"trade_date": D1, "ts": ts, "ticker": t, "open": c, "high": c, "low": c, "close": c,
                         "volume": 1000.0, "vendor": "synthetic"})
    return rows("market.ohlcv_intraday", recs)


def full_chain(day: dt.date, underlying: str, spot: float) -> pd.DataFrame:
    """A fuller snapshot (expiries day + 24 and + 52 days, strikes 80-120 % of spot in steps of
    5, put skew) so the term structure, exposure and max pain have something to show."""
    recs = []
    for days in (24, 52):
        exp = day + dt.timedelta(days=days)
        for k in range(int(spot * 0.8) // 5 * 5, int(spot * 1.2), 5):
            for r in "CP":
                recs.append({"trade_date": day, "underlying": underlying, "option_symbol": _sym(underlying, exp, r, k),
                             "expiry": exp, "right": r, "strike": float(k), "open_interest": 500 + (k * 7) % 900,
                             "iv": 0.2 + 0.3 * max(0.0, 1 - k / spot) + days / 5000, "underlying_price": spot,
                             "vendor": "synthetic"})
    return rows("market.option_chain", recs, day)


def build(path: Path, *, structure: bool = True, marts: bool = False) -> None:
    """Write the desk day into a new warehouse file ``path`` (:func:`write_desk`)."""
    with warehouse.connect(path) as con:
        warehouse.ensure_tables(con)
        write_desk(con, structure=structure, marts=marts)


def write_desk(con: duckdb.DuckDBPyConnection, *, structure: bool = True, marts: bool = False) -> None:
    """Write the desk day into ``con`` (tables ensured). ``structure``: add the multi-leg
    structure column to ``flow.flow_events`` when the declarations do not have it yet;
    ``marts``: also build the term structure, exposure, IV stats, rule hits and the desk's SQL
    marts with the library code."""
    has = "structure" in table("flow.flow_events").column_names
    write_events(con, rows("flow.flow_events", ORDERS), structure=structure and not has)
    warehouse.append_rows(con, "flow.flow_context", rows("flow.flow_context", [
        {"event_id": o["event_id"], "ticker": o["ticker"], "ts": o["last_ts"], "spot": o["spot"],
         "spot_source": "bar", "trend_15m": "UP", "daily_trend": "UP", "or_break": "UP", "regime": "BULL",
         "rvol": 2.0 if o["ticker"] == "SPY" else 0.8, "rvol_ok": True, "gex_regime": "POSITIVE"}
        for o in ORDERS]))
    warehouse.append_rows(con, "market.option_chain", _chain())
    warehouse.append_rows(con, "market.ohlcv_intraday", _bars())
    warehouse.append_rows(con, "market.earnings", rows("market.earnings", [
        {"ticker": "AAPL", "report_date": EARNINGS_AAPL, "time_of_day": "post-market", "vendor": "synthetic",
         "fetched_at": dt.datetime(2024, 12, 1)}]))
    if marts:
        for day in (D1, D2):
            for und, spot in (("SPY", 590.0), ("AAPL", 245.0)):
                warehouse.append_rows(con, "market.option_chain", full_chain(day, und, spot))
    warehouse.append_rows(con, OI_CHANGE, oi_change(con))
    if marts:
        _marts(con)


def _marts(con: duckdb.DuckDBPyConnection) -> None:
    from primeflow_lib.alerts.daily_rules import daily_rule_hits
    from primeflow_lib.config import default_config
    from primeflow_lib.flow.exposure import compute_exposure
    from primeflow_lib.flow.volatility import iv_daily, iv_rank, iv_term

    chain = con.execute("SELECT * FROM market.option_chain").df()
    term, _ = iv_term(chain)
    warehouse.append_rows(con, "market.iv_term", term)
    warehouse.append_rows(con, "marts.iv_stats", iv_rank(iv_daily(term), 252))
    expo, _ = compute_exposure(chain, convention="dealer_long_calls_short_puts")
    warehouse.append_rows(con, "market.greek_exposure", expo)
    for mart in ("tide_minute", "max_pain", "exposure_by_strike"):
        text = (ROOT / "dbt_like_sql" / f"{mart}.sql").read_text()
        body = "\n".join(ln for ln in text.splitlines() if not ln.startswith("--"))
        con.execute(f"CREATE OR REPLACE TABLE marts.{mart} AS {body}")
    hits, _ = daily_rule_hits(con, D1, default_config())
    warehouse.append_rows(con, "flow.rule_alerts", hits)


def write_events(con: duckdb.DuckDBPyConnection, ev: pd.DataFrame, *, structure: bool) -> None:
    """Insert orders, then add the ``structure`` column (when it is not declared) and fill it."""
    warehouse.append_rows(con, "flow.flow_events", ev)
    if structure:
        con.execute("ALTER TABLE flow.flow_events ADD COLUMN structure VARCHAR")
        for o in ORDERS:
            if o.get("structure"):
                con.execute("UPDATE flow.flow_events SET structure = ? WHERE event_id = ?",
                            [o["structure"], o["event_id"]])

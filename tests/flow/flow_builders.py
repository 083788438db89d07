"""Builders for hand-made flow inputs: prints, 1m bars, daily bars, chain snapshots."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

DAY = pd.Timestamp("2025-06-13")  # a Friday
SYM = "XYZ250620C00101000"  # 7 DTE call, strike 101
SWING_SYM = "XYZ250718C00105000"  # 35 DTE call, strike 105
UTC_OFFSET_NS = 4 * 3600 * 1_000_000_000  # EDT


def make_prints(rows: list[dict]) -> pd.DataFrame:
    """``flow.option_prints`` rows from short dicts: ``t`` is the wall time ('10:30:00.001'),
    everything else defaults (contract SYM, exchange 302, conditions '', quote 2.40/2.50)."""
    out = []
    seqs: dict[str, int] = {}
    for i, r in enumerate(rows):
        r = dict(r)
        day = pd.Timestamp(r.pop("day", DAY))
        wall = pd.Timestamp(f"{day.date()} {r.pop('t')}")
        sym = r.pop("option_symbol", SYM)
        seq = r.pop("seq", seqs.get(sym, 0))
        seqs[sym] = seq + 1
        base = {
            "trade_date": day,
            "option_symbol": sym,
            "underlying": r.pop("underlying", sym[:3]),
            "sip_ts": wall,
            "sip_timestamp": int(wall.value) + UTC_OFFSET_NS,
            "exchange": 302,
            "price": 2.50,
            "size": 10,
            "conditions": "",
            "correction": 0,
            "bid": 2.40,
            "ask": 2.50,
            "seq": seq,
            "vendor": "test",
        }
        base.update(r)
        base.setdefault(
            "print_id", hashlib.sha1(f"{sym}{base['sip_timestamp']}{i}".encode()).hexdigest()[:16]
        )
        out.append(base)
    df = pd.DataFrame(out)
    df["sip_timestamp"] = df["sip_timestamp"].astype("int64")
    return df


def sessions(n: int, end: pd.Timestamp = DAY) -> list[pd.Timestamp]:
    """The last ``n`` weekdays ending at ``end``."""
    days = pd.bdate_range(end=end, periods=n)
    return list(days)


def make_bars(
    ticker: str,
    closes_today: np.ndarray,
    *,
    n_hist: int = 6,
    vol_today: float = 2000.0,
    vol_hist: float = 1000.0,
    start_price: float = 100.0,
    day: pd.Timestamp = DAY,
) -> pd.DataFrame:
    """1m bars: ``n_hist`` flat previous sessions (volume ``vol_hist`` per bar) and today's bars
    with the given closes (as many bars as closes, from 09:30)."""
    frames = []
    for d in sessions(n_hist + 1, day)[:-1]:
        ts = pd.date_range(d + pd.Timedelta("09:30:00"), periods=390, freq="min")
        c = np.full(390, start_price)
        frames.append(
            pd.DataFrame(
                {
                    "ts": ts,
                    "open": c,
                    "high": c + 0.02,
                    "low": c - 0.02,
                    "close": c,
                    "volume": vol_hist,
                }
            )
        )
    c = np.asarray(closes_today, dtype=float)
    ts = pd.date_range(day + pd.Timedelta("09:30:00"), periods=len(c), freq="min")
    o = np.r_[c[:1], c[:-1]]
    frames.append(
        pd.DataFrame(
            {
                "ts": ts,
                "open": o,
                "high": np.maximum(o, c) + 0.01,
                "low": np.minimum(o, c) - 0.01,
                "close": c,
                "volume": vol_today,
            }
        )
    )
    b = pd.concat(frames, ignore_index=True)
    b["trade_date"] = b["ts"].dt.normalize()
    b["ticker"] = ticker
    b["vwap"] = (b["high"] + b["low"] + b["close"]) / 3
    b["vendor"] = "test"
    return b


def make_daily(
    ticker: str, n: int = 30, start: float = 90.0, end: float = 100.0, day: pd.Timestamp = DAY
) -> pd.DataFrame:
    """Daily bars for the ``n`` sessions before ``day`` (and ``day`` itself), a straight line
    from ``start`` to ``end``."""
    ds = sessions(n + 1, day)
    c = np.r_[np.linspace(start, end, n), end]
    return pd.DataFrame(
        {
            "trade_date": ds,
            "ticker": ticker,
            "open": c,
            "high": c * 1.01,
            "low": c * 0.99,
            "close": c,
            "volume": 1e6,
            "vwap": c,
            "vendor": "test",
        }
    )


def make_chain(rows: list[dict], day: pd.Timestamp = DAY) -> pd.DataFrame:
    prev = sessions(2, day)[0]
    out = []
    for r in rows:
        base = {
            "trade_date": prev,
            "underlying": r["option_symbol"][:3],
            "expiry": None,
            "right": None,
            "strike": None,
            "bid": None,
            "ask": None,
            "last": None,
            "volume": None,
            "open_interest": 100,
            "iv": 0.3,
            "delta": 0.5,
            "gamma": None,
            "theta": None,
            "vega": None,
            "underlying_price": 100.0,
            "vendor": "test",
        }
        base.update(r)
        out.append(base)
    return pd.DataFrame(out)


def rising_closes(n: int = 390, start: float = 100.0, step: float = 0.01) -> np.ndarray:
    return start + step * np.arange(n)


def build_scenario(cfg: dict) -> dict:
    """A bullish day on XYZ: rising price, 2x normal volume, daily uptrend; SPY for regime.

    Returns a dict of inputs for score_batch; ``prints`` has two 4-exchange ask sweeps on the
    7-DTE 101 call (10:15 and 10:30, $500k each) and one $400k ask block on the 35-DTE 105 call.
    """
    closes = rising_closes()
    bars = make_bars("XYZ", closes)
    daily = pd.concat([make_daily("XYZ"), make_daily("SPY", start=500, end=530)], ignore_index=True)
    chain = make_chain(
        [
            {"option_symbol": SYM, "open_interest": 100},
            {"option_symbol": SWING_SYM, "open_interest": 100},
        ]
    )
    legs = []
    for hhmm in ("10:15", "10:30"):
        for k, ex in enumerate((302, 308, 316, 323)):
            legs.append(
                {
                    "t": f"{hhmm}:00.{k + 1:03d}",
                    "exchange": ex,
                    "price": 2.50,
                    "size": 500,
                    "conditions": "219",
                }
            )
    legs.append(
        {
            "t": "10:40:00",
            "option_symbol": SWING_SYM,
            "price": 2.00,
            "bid": 1.90,
            "ask": 2.00,
            "size": 2000,
            "exchange": 304,
        }
    )
    history = pd.DataFrame(
        [
            {
                "trade_date": sessions(3)[0],
                "event_id": "h1",
                "ticker": "XYZ",
                "option_symbol": SWING_SYM,
                "event_type": "block",
                "sentiment": "bullish",
                "premium": 300000.0,
                "size": 1500,
                "dte": 37,
                "is_late": False,
                "non_directional": False,
                "last_ts": sessions(3)[0] + pd.Timedelta("11:00:00"),
            }
        ]
    )
    return {
        "prints": make_prints(legs),
        "bars_1m": bars,
        "daily_bars": daily,
        "chain": chain,
        "cfg": cfg,
        "history": history,
    }

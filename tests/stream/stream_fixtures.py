"""A synthetic session for the streaming tests: its prints in received order, the market data the
daily batch and the stream both score it with, and helpers to run each path.

Gates are loosened (as in ``benchmarks/bench_live.py``) so a short tape makes a few hundred
signals of all three kinds: equality of two empty sets would prove nothing.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from primeflow_lib import calendar
from primeflow_lib import warehouse as db
from primeflow_lib.config import default_config
from primeflow_lib.flow.engine import FlowResult, score_batch
from primeflow_lib.live.stream.equivalence import comparable  # noqa: F401 - the tests compare with it
from primeflow_lib.live.stream.scorer import Divergence, SessionMarket, StreamScorer
from primeflow_lib.live.stream.sources import received_order
from primeflow_lib.vendors.synthetic.vendor import SyntheticVendor

DAY = dt.date(2025, 6, 12)
TICKERS = ("SPY", "AAPL", "NVDA")
WEBHOOK_ENV = "PF_STREAM_TEST_HOOK"


def stream_cfg(webhook: bool = False) -> dict:
    cfg = copy.deepcopy(default_config())
    cfg["scalp"].update({"min_rvol": 0.0, "min_strength": 0.2, "min_premium": 10000.0})
    cfg["day_trade"].update({"min_rvol": 0.0, "min_strength": 0.2, "min_premium": 20000.0, "min_cluster_sweeps": 1})
    cfg["swing"].update({"min_strength": 0.2, "min_premium": 20000.0, "min_repeat_days": 1})
    cfg["stream"].update({"inbox_seconds": 0.2, "heartbeat_seconds": 0.5, "bars_refresh_seconds": 0})
    if webhook:
        cfg["alerts"]["channels"] = {"hook": {"type": "webhook", "env": WEBHOOK_ENV}}
        cfg["alerts"]["routing"] = {"default": "hook", "SCALP": "hook", "SWING": "hook", "DAY_TRADE": "hook"}
    return cfg


@dataclass(frozen=True)
class Session:
    day: dt.date
    prints: pd.DataFrame  # received order
    bars: pd.DataFrame
    daily: pd.DataFrame
    chain: pd.DataFrame


@functools.lru_cache(maxsize=2)
def session(tickers: tuple[str, ...] = TICKERS, day: dt.date = DAY) -> Session:
    cfg = default_config()
    v = SyntheticVendor.from_config(cfg)
    prints = received_order(v.option_prints(list(tickers), day))
    rv = calendar.sessions_before(day, cfg["flow"]["rvol_lookback_sessions"])
    bars = v.intraday_bars(list(tickers), rv[0], day)
    prev = calendar.previous_session(day)
    names = sorted(set(tickers) | {cfg["market_regime"]["benchmark"]})
    daily = v.daily_bars(names, calendar.sessions_before(day, cfg["market_regime"]["trend_lookback_days"] + 5)[0], prev)
    chain = v.option_chain(list(tickers), prev)
    return Session(day, prints, bars, daily, chain)


def loader(s: Session):
    def load(day: dt.date, names: list[str]) -> dict[str, pd.DataFrame]:
        return {"bars_1m": s.bars[s.bars["ticker"].isin(names)], "daily_bars": s.daily,
                "chain": s.chain[s.chain["underlying"].isin(names)], "gamma": None, "history": None}
    return load


def without_cancels(prints: pd.DataFrame) -> pd.DataFrame:
    """The tape without cancel messages (and so without cancelled prints' removal)."""
    corr = pd.to_numeric(prints["correction"], errors="coerce").fillna(0).to_numpy()
    cond = prints["conditions"].astype(str).to_numpy(dtype=object)
    cancel = (corr != 0) | np.isin(cond, ["201", "203", "205", "207"])
    return prints[~cancel].reset_index(drop=True)


def batch(s: Session, prints: pd.DataFrame, cfg: dict) -> FlowResult:
    return score_batch(prints, s.bars, s.daily, s.chain, cfg, None, source="batch")


@dataclass
class Streamed:
    events: pd.DataFrame
    signals: pd.DataFrame
    divergences: list[Divergence]
    quarantine: pd.DataFrame
    scorer: StreamScorer


def stream(s: Session, prints: pd.DataFrame, cfg: dict, *, seed: int = 0, max_chunk: int = 400,
           keep_events: bool = True) -> Streamed:
    """Feed ``prints`` to a scorer in random chunks, advancing after each, then flush."""
    sc = StreamScorer(s.day, cfg, SessionMarket(s.day, cfg, loader(s)), source="test", keep_events=keep_events)
    rng = np.random.default_rng(seed)
    evs, sigs, qs, divs = [], [], [], []
    i, rx = 0, 0
    p = prints.reset_index(drop=True)
    while i < len(p):
        k = int(rng.integers(1, max_chunk))
        part = p.iloc[i:i + k]
        sc.add(part, np.arange(rx, rx + len(part)))
        rx += len(part)
        i += k
        r = sc.advance()
        evs.append(r.events), sigs.append(r.signals), qs.append(r.quarantine), divs.extend(r.divergences)
    r = sc.flush()
    evs.append(r.events), sigs.append(r.signals), qs.append(r.quarantine), divs.extend(r.divergences)

    def cat(frames):
        frames = [f for f in frames if len(f)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    return Streamed(cat(evs), cat(sigs), divs, cat(qs), sc)


def write_read_copy(path: Path, s: Session) -> None:
    """A read copy holding the session's market data (what ``primeflow stream run`` loads)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    try:
        db.ensure_tables(con)
        with db.transaction(con):
            db.append_rows(con, "market.ohlcv_intraday", s.bars)
            db.append_rows(con, "market.ohlcv_daily", s.daily)
            db.append_rows(con, "market.option_chain", s.chain)
    finally:
        con.close()

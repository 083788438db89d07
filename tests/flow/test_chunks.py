"""Scoring a day by underlying in chunks gives the rows of scoring it at once."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from primeflow_lib.flow.engine import plan_chunks, score_batch, score_chunks
from primeflow_lib.vendors.synthetic.vendor import SyntheticVendor

DAY = dt.date(2025, 6, 13)
TICKERS = ["AAPL", "AMD", "SPY", "TSLA"]


def test_plan_chunks_keeps_each_underlying_whole():
    assert plan_chunks({"B": 5, "A": 3, "C": 9, "D": 1}, 8) == [["A", "B"], ["C"], ["D"]]
    with pytest.raises(ValueError):
        plan_chunks({"A": 1}, 0)


def test_chunks_equal_the_whole_day(cfg):
    v = SyntheticVendor(seed=7)
    prints = v.option_prints(TICKERS, DAY)
    start = DAY - dt.timedelta(days=10)
    bars = v.intraday_bars([*TICKERS], start, DAY)
    daily = v.daily_bars([*TICKERS, "SPY"], DAY - dt.timedelta(days=60), DAY)
    chain = v.option_chain(TICKERS, DAY - dt.timedelta(days=1))
    now = dt.datetime(2025, 6, 14)
    whole = score_batch(prints, bars, daily, chain, cfg, now=now)
    counts = prints["underlying"].value_counts().to_dict()
    plan = plan_chunks(counts, max(counts.values()))
    assert len(plan) >= 2

    def load(tickers):
        return prints[prints["underlying"].isin(tickers)].reset_index(drop=True)

    parts = list(score_chunks(load, plan, bars, daily, chain, cfg, now=now))
    ev = pd.concat([r.events for _, r in parts], ignore_index=True)
    sig = pd.concat([r.signals for _, r in parts], ignore_index=True)
    key = ["event_id", "event_type", "side", "size", "day_volume", "structure"]
    a = whole.events[key].astype(str).sort_values("event_id").reset_index(drop=True)
    b = ev[key].astype(str).sort_values("event_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
    assert sorted(whole.signals["signal_id"]) == sorted(sig["signal_id"])

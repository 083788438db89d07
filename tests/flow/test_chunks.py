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


def test_parallel_path_scores_each_chunk_with_its_own_inputs(cfg):
    from primeflow_lib.flow.engine import score_chunks_parallel

    v = SyntheticVendor(seed=7)
    prints = v.option_prints(TICKERS, DAY)
    now = dt.datetime(2025, 6, 14)
    whole = score_batch(prints, None, None, None, cfg, now=now)
    plan = plan_chunks(prints["underlying"].value_counts().to_dict(), 1)

    def load(tickers):
        return {"prints": prints[prints["underlying"].isin(tickers)].reset_index(drop=True)}

    got = score_chunks_parallel(load, plan, cfg, sink=lambda t, r: sorted(r.events["event_id"]),
                                workers=1, now=now)
    assert len(got) == len(TICKERS)
    assert sorted(x for ids in got for x in ids) == sorted(whole.events["event_id"])

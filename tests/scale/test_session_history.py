"""The swing memory a split backfill rebuilds from stored prints equals what scoring keeps."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from primeflow_lib.config import load_config
from primeflow_lib.flow.engine import score_batch, session_history
from primeflow_lib.flow.inputs import history_rows
from primeflow_lib.live.feed import synthetic_session_prints
from primeflow_lib.vendors import vendor_for

DAY = dt.date(2025, 6, 12)


def test_session_history_equals_the_scored_events_memory():
    cfg = load_config()
    tickers = ["SPY", "AAPL", "TSLA"]
    prints = synthetic_session_prints(cfg, DAY, tickers)
    prints = prints.sort_values(["option_symbol", "seq"], kind="stable").reset_index(drop=True)
    bars = vendor_for("bars", cfg).intraday_bars(tickers, DAY, DAY)
    res = score_batch(prints, bars, None, None, cfg, source=f"daily:{DAY}")
    want = history_rows(res.events).reset_index(drop=True)
    got = session_history(prints, bars, cfg, source=f"daily:{DAY}")
    assert len(want) > 100
    pd.testing.assert_frame_equal(got, want, check_dtype=False)


def test_session_vwap_does_not_depend_on_the_other_bars_in_the_frame():
    """A run over other sessions or names must store the same VWAP to the last bit (the scale
    profile's split backfills are compared to one run by content hash)."""
    import numpy as np

    from primeflow_lib.flow.context import bar_features

    cfg = load_config()
    day, other = DAY, dt.date(2025, 6, 11)
    bars = vendor_for("bars", cfg).intraday_bars(["SOFI", "AAPL"], other, day)
    alone = bar_features(bars[(bars["ticker"] == "SOFI") & (bars["trade_date"] == day)], cfg["flow"])
    mixed = bar_features(bars, cfg["flow"])
    sel = mixed.iloc[-len(alone):]  # sorted by (ticker, ts): SOFI's last session, DAY
    assert (sel["date_ns"] == alone["date_ns"].iloc[0]).all()
    np.testing.assert_array_equal(sel["vwap"].to_numpy(), alone["vwap"].to_numpy())

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

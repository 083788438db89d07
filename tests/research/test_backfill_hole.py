"""The README's old ``--partition-range 2024-01-02...2024-01-31`` backfill punched a hole into
every later backtest (issue 23, item 5): without ``--start`` a run now uses the bars after the
last hole of ``research.history_hole_sessions`` sessions and says what it left out; with
``--start`` it spans the hole and reports it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from primeflow_lib import calendar, warehouse
from primeflow_lib.research.dataset import load_bars
from primeflow_lib.research.runconfig import RunConfig
from primeflow_lib.schema.market import OHLCV_DAILY


def _store(days: list) -> None:
    close = 100 * np.exp(np.cumsum(np.random.default_rng(3).normal(0, 0.01, len(days))))
    rows = pd.DataFrame({"trade_date": days, "ticker": "SPY", "open": close, "high": close * 1.01,
                         "low": close * 0.99, "close": close, "volume": 1e6, "vwap": None, "vendor": "synthetic"})
    with warehouse.connect() as con:
        warehouse.ensure_tables(con)
        warehouse.append_rows(con, OHLCV_DAILY, rows[OHLCV_DAILY.column_names])
        warehouse.publish_read_copy(con=con)


def test_a_run_without_start_begins_after_an_old_backfilled_range():
    old = calendar.sessions("2024-01-02", "2024-01-31")
    recent = calendar.sessions("2025-06-02", "2026-06-30")
    _store(old + recent)
    bars = load_bars(RunConfig.from_dict({"dataset": {"symbol": "SPY"}}))
    assert bars.index[0].date() == recent[0] and len(bars) == len(recent)
    (note,) = bars.attrs["notes"]
    assert f"the {len(old)} bars from 2024-01-02 before it were left out" in note
    assert "give --start 2024-01-02" in note
    spanned = load_bars(RunConfig.from_dict({"dataset": {"symbol": "SPY", "start": "2024-01-02"}}))
    assert len(spanned) == len(old) + len(recent)


def test_a_short_gap_is_not_a_hole():
    days = calendar.sessions("2025-06-02", "2026-06-30")
    _store(days[:100] + days[110:])  # 10 missing sessions < research.history_hole_sessions (20)
    assert len(load_bars(RunConfig.from_dict({"dataset": {"symbol": "SPY"}}))) == len(days) - 10

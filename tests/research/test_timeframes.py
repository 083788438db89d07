"""Resampling 1-minute bars within sessions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from primeflow_lib.research.data import daily_bars
from primeflow_lib.research.errors import BarsError
from primeflow_lib.research.timeframes import resample_intraday


def minute_bars(days=("2024-03-04", "2024-03-05"), minutes=390) -> pd.DataFrame:
    parts = []
    for k, d in enumerate(days):
        ts = (
            pd.Timestamp(d)
            + pd.Timedelta(hours=9, minutes=30)
            + pd.to_timedelta(np.arange(minutes), unit="m")
        )
        price = 100 + k * 10 + np.arange(minutes) * 0.01
        parts.append(
            pd.DataFrame(
                {
                    "ticker": "AAA",
                    "trade_date": pd.Timestamp(d).date(),
                    "ts": ts,
                    "open": price,
                    "high": price + 0.05,
                    "low": price - 0.05,
                    "close": price + 0.01,
                    "volume": 100.0 + np.arange(minutes),
                    "vwap": price + 0.005,
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def test_five_minute_bars_aggregate_ohlcv_and_vwap():
    m1 = minute_bars()
    out = resample_intraday(m1, "5m")
    assert len(out) == 2 * 78
    first = out.iloc[0]
    chunk = m1.iloc[:5]
    assert first.ts == pd.Timestamp("2024-03-04 09:30")
    assert first.open == chunk.open.iloc[0] and first.close == chunk.close.iloc[-1]
    assert first.high == chunk.high.max() and first.low == chunk.low.min()
    assert first.volume == chunk.volume.sum()
    assert first.vwap == pytest.approx((chunk.vwap * chunk.volume).sum() / chunk.volume.sum())


def test_hourly_and_four_hour_bars_never_span_sessions():
    out = resample_intraday(minute_bars(), "1h")
    day1 = out[out.trade_date == pd.Timestamp("2024-03-04").date()]
    assert [t.strftime("%H:%M") for t in day1.ts] == [
        "09:30", "10:30", "11:30", "12:30", "13:30", "14:30", "15:30",
    ]  # fmt: skip
    assert day1.volume.iloc[-1] == pytest.approx(sum(100.0 + i for i in range(360, 390)))
    four = resample_intraday(minute_bars(), "4h")
    assert [t.strftime("%m-%d %H:%M") for t in four.ts] == [
        "03-04 09:30", "03-04 13:30", "03-05 09:30", "03-05 13:30",
    ]  # fmt: skip
    # the second session's first bar opens at that session's open, not the prior close
    assert four.open.iloc[2] == pytest.approx(110.0)


def test_half_day_and_index_layout_are_kept():
    m1 = minute_bars(days=("2024-11-29",), minutes=210)  # 13:00 close
    out = resample_intraday(m1.drop(columns=["ticker", "trade_date"]).set_index("ts"), "15m")
    assert out.index.name == "ts" and len(out) == 14
    assert out.index[-1] == pd.Timestamp("2024-11-29 12:45")


def test_unknown_timeframe_is_a_clear_error():
    with pytest.raises(BarsError, match="timeframe '2h'"):
        resample_intraday(minute_bars(), "2h")


def test_daily_rows_become_the_bar_frame():
    rows = pd.DataFrame(
        {
            "trade_date": pd.to_datetime(["2024-01-02", "2024-01-03"]).date,
            "ticker": ["AAA", "AAA"],
            "open": [10.0, 11.0],
            "high": [11.0, 12.0],
            "low": [9.0, 10.0],
            "close": [10.5, 11.5],
            "volume": [1e6, 2e6],
            "vwap": [10.2, None],
            "vendor": ["synthetic", "synthetic"],
        }
    )
    bars = daily_bars(rows)
    assert list(bars.columns) == ["open", "high", "low", "close", "volume", "vwap"]
    assert bars.index[0] == pd.Timestamp("2024-01-02") and np.isnan(bars.vwap.iloc[1])

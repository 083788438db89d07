"""Market context: values at an event's time and no look-ahead."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from flow_builders import DAY, build_scenario, make_bars, make_daily, rising_closes

from primeflow_lib.flow.context import build_context
from primeflow_lib.flow.engine import score_batch


def ctx_at(times, bars, daily, cfg, ticker="XYZ"):
    ev = pd.DataFrame(
        {
            "trade_date": [DAY] * len(times),
            "event_id": [f"e{i}" for i in range(len(times))],
            "ticker": [ticker] * len(times),
            "last_ts": [pd.Timestamp(f"{DAY.date()} {t}") for t in times],
        }
    )
    return build_context(ev, bars, daily, cfg)


def test_spot_is_the_close_of_the_last_closed_bar(cfg):
    closes = rising_closes(60)
    bars = make_bars("XYZ", closes)
    c = ctx_at(["10:00:00", "10:00:59.999", "09:30:30"], bars, make_daily("XYZ"), cfg)
    # 10:00:00 -> the 09:59 bar closed at 10:00:00 (index 29)
    assert c.spot.iloc[0] == pytest.approx(closes[29])
    assert c.bar_ts.iloc[0] == pd.Timestamp(f"{DAY.date()} 09:59")
    assert c.spot.iloc[1] == pytest.approx(closes[29])
    # before the first bar closed: previous session's close
    assert c.spot_source.iloc[2] == "prev_close" and c.spot.iloc[2] == pytest.approx(100.0)


def test_vwap_and_distance(cfg):
    closes = rising_closes(30)
    bars = make_bars("XYZ", closes)
    c = ctx_at(["10:00:00"], bars, None, cfg)
    today = bars[bars.ts >= DAY + pd.Timedelta("09:30:00")]
    typical = (today.high + today.low + today.close) / 3
    assert c.vwap.iloc[0] == pytest.approx(typical.mean())
    assert c.vwap_dist.iloc[0] == pytest.approx(closes[29] / typical.mean() - 1)


def test_rvol_same_minute_of_previous_sessions(cfg):
    bars = make_bars("XYZ", rising_closes(60), vol_today=3000, vol_hist=1000, n_hist=6)
    c = ctx_at(["10:00:00"], bars, None, cfg)
    assert c.rvol.iloc[0] == pytest.approx(3.0)
    assert bool(c.rvol_ok.iloc[0]) and c.rvol_sessions.iloc[0] == 6


def test_rvol_unknown_without_history(cfg):
    bars = make_bars("XYZ", rising_closes(60), n_hist=2)
    c = ctx_at(["10:00:00"], bars, None, cfg)
    assert np.isnan(c.rvol.iloc[0]) and not bool(c.rvol_ok.iloc[0])


def test_trend_flags_levels_and_opening_range(cfg):
    closes = np.r_[np.full(30, 100.0), np.linspace(100, 102, 30)]
    bars = make_bars("XYZ", closes)
    daily = make_daily("XYZ", start=80, end=100)
    c = ctx_at(["09:45:00", "10:59:00"], bars, daily, cfg)
    assert list(c.trend_15m) == ["FLAT", "UP"]
    assert list(c.or_break) == ["PENDING", "UP"]
    assert c.daily_trend.iloc[0] == "UP"
    assert bool(c.above_pdh.iloc[1])  # 102 > previous high 101
    assert c.prev_high.iloc[0] == pytest.approx(101.0)


def test_regime_from_benchmark_to_previous_session(cfg):
    daily = pd.concat([make_daily("SPY", start=500, end=450)], ignore_index=True)
    bars = make_bars("XYZ", rising_closes(30))
    c = ctx_at(["10:00:00"], bars, daily, cfg)
    assert c.regime.iloc[0] == "BEAR"
    # a crash on the event day itself is not known yet
    crash = daily.copy()
    crash.loc[crash.trade_date == DAY, ["close", "low"]] = 100.0
    assert ctx_at(["10:00:00"], bars, crash, cfg).regime.iloc[0] == "BEAR"
    cfg["market_regime"]["high_vol"] = 0.0
    assert ctx_at(["10:00:00"], bars, daily, cfg).regime.iloc[0] == "HIGH_VOL"


def test_no_look_ahead_in_context_and_signals(cfg):
    """Changing bars after t never changes the context or signals at t."""
    sc = build_scenario(cfg)
    base = score_batch(
        sc["prints"], sc["bars_1m"], sc["daily_bars"], sc["chain"], cfg, sc["history"]
    )
    assert len(base.signals) >= 3
    t_last = base.events.last_ts.max()
    bars = sc["bars_1m"].copy()
    later = bars.ts + pd.Timedelta(minutes=1) > t_last
    rng = np.random.default_rng(1)
    for col in ("open", "high", "low", "close"):
        bars.loc[later, col] = bars.loc[later, col] * rng.uniform(0.5, 1.5, later.sum())
    bars.loc[later, "volume"] = 1e9
    daily = sc["daily_bars"].copy()
    daily.loc[daily.trade_date == DAY, ["close", "high", "low"]] = 1.0  # today's daily bar
    chain = pd.concat([sc["chain"], sc["chain"].assign(trade_date=DAY, open_interest=10**9)])
    other = score_batch(sc["prints"], bars, daily, chain, cfg, sc["history"])
    pd.testing.assert_frame_equal(base.context, other.context)
    pd.testing.assert_frame_equal(base.signals, other.signals)
    # truncating the bars at the last event (near-live) gives the same answers too
    cut = sc["bars_1m"][~later]
    live = score_batch(sc["prints"], cut, sc["daily_bars"], sc["chain"], cfg, sc["history"])
    pd.testing.assert_frame_equal(base.signals, live.signals)

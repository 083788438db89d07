"""Paper trading on constructed price paths."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from flow_builders import DAY, build_scenario

from primeflow_lib.flow.engine import score_batch
from primeflow_lib.flow.paper import open_positions, outcome_counts, paper_trade, update_positions
from primeflow_lib.models import PaperPosition
from primeflow_lib.schema import table

EVENING = dt.datetime(2025, 6, 13, 18, 0)


def signal(kind="SCALP", direction="BULLISH", t="10:00:30", **kw):
    row = {
        "signal_id": f"s-{kind}-{direction}",
        "trade_date": DAY,
        "ts": pd.Timestamp(f"{DAY.date()} {t}"),
        "kind": kind,
        "ticker": "X",
        "option_symbol": "X250620C00100000",
        "direction": direction,
        "strength": 0.7,
        "side": "ask",
        "strike": 100.0,
        "expiry": pd.Timestamp("2025-06-20"),
        "right": "C",
        "iv": 0.3,
        "vendor": "test",
        "avg_price": 2.0,
        "spot": 100.0,
    }
    row.update(kw)
    return pd.DataFrame([row])


def bars(closes, day=DAY, start="09:30:00", wick=0.05, opens=None):
    c = np.asarray(closes, dtype=float)
    o = np.r_[c[:1], c[:-1]] if opens is None else np.asarray(opens, dtype=float)
    ts = pd.date_range(
        pd.Timestamp(f"{pd.Timestamp(day).date()} {start}"), periods=len(c), freq="min"
    )
    return pd.DataFrame(
        {
            "ticker": "X",
            "ts": ts,
            "open": o,
            "high": np.maximum(o, c) + wick,
            "low": np.minimum(o, c) - wick,
            "close": c,
        }
    )


def trade(sig, b, cfg, asof=EVENING):
    return update_positions(open_positions(sig, cfg), b, None, cfg, asof).iloc[0]


def test_take_profit(cfg):
    c = np.r_[np.full(31, 100.0), np.linspace(100, 101.9, 10), np.full(20, 102.5)]
    p = trade(signal(), bars(c, wick=0.0), cfg)
    assert p.status == "CLOSED" and p.exit_reason == "TP"
    assert p.entry_ts == pd.Timestamp(f"{DAY.date()} 10:01:00")  # next bar after 10:00:30
    assert p.entry_price == pytest.approx(100.0)
    assert p.exit_price == pytest.approx(102.0)
    assert p.exit_ts == pd.Timestamp(f"{DAY.date()} 10:12:00")  # close of the 10:11 bar
    assert p.return_pct == pytest.approx(0.02)
    assert p.option_pnl > 0 and p.iv_source == "chain"


def test_gap_over_a_level_exits_at_the_open(cfg):
    c = np.r_[np.full(31, 100.0), 100.0, 103.0]
    opens = np.r_[np.full(32, 100.0), 102.8]
    p = trade(signal(), bars(c, wick=0.0, opens=opens), cfg)
    assert p.exit_reason == "TP" and p.exit_price == pytest.approx(102.8)
    assert p.exit_ts == pd.Timestamp(f"{DAY.date()} 10:02:00")


def test_take_profit_inside_a_bar(cfg):
    c = np.r_[np.full(31, 100.0), 100.5, 101.0, 101.5, 101.9]
    b = bars(c, wick=0.0)
    b.loc[b.index[-1], "high"] = 102.2
    p = trade(signal(), b, cfg)
    assert p.exit_reason == "TP" and p.exit_price == pytest.approx(102.0)


def test_stop_loss(cfg):
    c = np.r_[np.full(31, 100.0), 99.5, 99.2, 98.9]
    p = trade(signal(), bars(c, wick=0.0), cfg)
    assert p.exit_reason == "SL" and p.exit_price == pytest.approx(99.0)
    assert p.return_pct == pytest.approx(-0.01)


def test_stop_wins_when_one_bar_reaches_both(cfg):
    c = np.r_[np.full(31, 100.0), 100.2, 100.0]
    b = bars(c, wick=0.0)
    b.loc[b.index[-1], ["high", "low"]] = [102.5, 98.5]
    p = trade(signal(), b, cfg)
    assert p.exit_reason == "SL" and p.exit_price == pytest.approx(99.0)


def test_bearish_is_mirrored(cfg):
    c = np.r_[np.full(31, 100.0), 99.0, 97.5]
    p = trade(signal(direction="BEARISH"), bars(c, wick=0.0), cfg)
    assert p.position == "SHORT" and p.exit_reason == "TP"
    assert p.exit_price == pytest.approx(98.0) and p.return_pct == pytest.approx(0.02)


def test_scalp_timeout(cfg):
    c = np.full(120, 100.0) + np.sin(np.arange(120)) * 0.1
    p = trade(signal(), bars(c, wick=0.0), cfg)
    assert p.exit_reason == "TIMEOUT"
    # 30 minutes from the 10:01 entry: out at the close of the 10:30 bar
    assert p.exit_ts == pd.Timestamp(f"{DAY.date()} 10:31:00")
    assert p.exit_price == pytest.approx(c[60])


def test_day_trade_is_out_by_the_close(cfg):
    c = np.full(390, 100.0)
    p = trade(signal(kind="DAY_TRADE", t="15:00:00"), bars(c, wick=0.0), cfg)
    assert p.exit_reason == "TIMEOUT" and p.exit_ts == pd.Timestamp(f"{DAY.date()} 16:00:00")


def test_pending_then_open_then_carry_over(cfg):
    sig = signal(kind="SWING", t="15:59:30")
    pos = open_positions(sig, cfg)
    day1 = bars(np.full(390, 100.0), wick=0.0)
    p1 = update_positions(pos, day1, None, cfg, EVENING)
    assert p1.status.iloc[0] == "PENDING"  # no bar after 15:59:30 yet
    days = pd.bdate_range("2025-06-16", periods=12)
    path = [bars(np.full(390, 100.0 + 0.1 * i), day=d, wick=0.0) for i, d in enumerate(days)]
    p2 = update_positions(p1, path[0], None, cfg, dt.datetime(2025, 6, 16, 18))
    assert p2.status.iloc[0] == "OPEN" and p2.entry_price.iloc[0] == pytest.approx(100.0)
    step = p2
    for i, b in enumerate(path[1:], start=1):
        step = update_positions(
            step, b, None, cfg, dt.datetime.combine(days[i].date(), dt.time(18))
        )
    one_pass = update_positions(
        p1, pd.concat(path), None, cfg, dt.datetime.combine(days[-1].date(), dt.time(18))
    )
    a, b_ = step.iloc[0], one_pass.iloc[0]
    assert a.exit_reason == b_.exit_reason == "TIMEOUT"
    assert a.exit_ts == b_.exit_ts and a.exit_price == pytest.approx(b_.exit_price)
    # entry session 06-16 + 10 sessions -> out at the close of 06-30
    assert a.exit_ts == pd.Timestamp("2025-06-30 16:00:00")
    assert a.sessions_held == 10


def test_open_position_marked_when_no_later_bars(cfg):
    c = np.r_[np.full(31, 100.0), 100.5]
    p = trade(signal(kind="SWING"), bars(c, wick=0.0), cfg, asof=dt.datetime(2025, 6, 13, 10, 5))
    assert p.status == "OPEN" and p.mark_price == pytest.approx(100.5)
    assert p.last_bar_ts == pd.Timestamp(f"{DAY.date()} 10:01:00")
    assert PaperPosition.from_row(p.to_dict()).is_open


def test_bars_after_asof_are_ignored(cfg):
    c = np.r_[np.full(31, 100.0), 100.0, 110.0]
    p = trade(signal(), bars(c, wick=0.0), cfg, asof=dt.datetime(2025, 6, 13, 10, 2))
    assert p.status == "OPEN"


def test_implied_vol_when_chain_has_none(cfg):
    c = np.r_[np.full(31, 100.0), 101.0]
    p = trade(
        signal(iv=np.nan, kind="SWING"),
        bars(c, wick=0.0),
        cfg,
        asof=dt.datetime(2025, 6, 13, 10, 5),
    )
    assert p.iv_source == "implied" and 0.05 < p.iv < 2.0


def test_end_to_end_from_score_batch(cfg):
    sc = build_scenario(cfg)
    res = score_batch(
        sc["prints"], sc["bars_1m"], sc["daily_bars"], sc["chain"], cfg, sc["history"]
    )
    pos = paper_trade(res.signals, sc["bars_1m"], sc["daily_bars"], cfg, EVENING)
    assert len(pos) == len(res.signals)
    assert list(pos.columns) == table("live.paper_positions").column_names
    counts = outcome_counts(pos)
    assert set(counts) == {"SCALP", "DAY_TRADE", "SWING"}
    # the rising tape: scalps hit +2% within 30 minutes? no: 0.01/min -> +0.3% -> timeout
    assert counts["SCALP"] == {"TIMEOUT": 2}
    assert counts["SWING"] == {"OPEN": 1}
    # carried positions are not opened twice
    again = paper_trade(res.signals, sc["bars_1m"], None, cfg, EVENING, carried=pos)
    assert (
        len(again) == 1
        and again.position_id.iloc[0] == pos[pos.kind == "SWING"].iloc[0].position_id
    )


def test_intraday_signal_without_a_bar_left_expires_unentered(cfg):
    p = trade(signal(kind="DAY_TRADE", t="15:59:30"), bars(np.full(390, 100.0)), cfg)
    assert p.status == "CLOSED" and p.exit_reason == "TIMEOUT" and np.isnan(p.entry_price)
    assert p.exit_ts == pd.Timestamp(f"{DAY.date()} 16:00:00")
    nxt = pd.concat([bars(np.full(390, 100.0)), bars(np.full(30, 100.0), day="2025-06-16")])
    q = trade(signal(kind="SCALP", t="15:59:30"), nxt, cfg)
    assert q.exit_reason == "TIMEOUT" and np.isnan(q.entry_price)

"""The backtest engine on hand-built price paths: fills, every exit rule long and short, the
same-bar rule, costs, sizing, accounting and causality."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from research_fixtures import make_bars, path_bars

from primeflow_lib.research.engine import TRADE_COLUMNS, EngineParams, simulate
from primeflow_lib.research.errors import RunConfigError

FLAT = (100.0, 100.0, 100.0, 100.0)


def run(rows, signal, **params):
    params.setdefault("capital", 10_000.0)
    return simulate(path_bars(rows), np.asarray(signal, dtype=float), EngineParams(**params))


def only_trade(out):
    assert len(out.trades) == 1, out.trades
    return out.trades.iloc[0]


# --- fills ---------------------------------------------------------------------------------------


def test_next_open_fill_and_open_trade_at_the_end():
    rows = [FLAT, (101, 102, 100, 101), (101, 103, 100, 102), (102, 104, 101, 103)]
    out = run(rows, [1, 1, 1, 1])
    t = only_trade(out)
    assert t.entry_price == 101 and t.entry_bar == 1
    assert t.is_open and t.exit_reason == "open" and t.exit_price == 103 and t.bars_held == 2
    shares = 10_000 / 101
    assert t.qty == pytest.approx(shares)
    assert out.equity.iloc[0] == 10_000  # nothing happens before the first fill
    assert out.equity.iloc[-1] == pytest.approx(shares * 103)
    assert t.pnl == pytest.approx(shares * 2)


def test_close_fill_uses_the_signal_bar_close():
    rows = [(99, 101, 98, 100), (101, 103, 100, 102), (102, 104, 101, 103)]
    t = only_trade(run(rows, [1, 1, 1], fill="close"))
    assert t.entry_bar == 0 and t.entry_price == 100


def test_last_bar_signal_is_not_traded_with_next_open_fills():
    out = run([FLAT, FLAT, FLAT], [0, 0, 1])
    assert out.trades.empty and (out.position == 0).all()


def test_nan_and_sub_threshold_signals_never_trade():
    rows = [FLAT] * 5
    assert run(rows, [np.nan] * 5).trades.empty
    assert run(rows, [0.4] * 5, threshold=0.5).trades.empty
    assert len(run(rows, [0.6] * 5, threshold=0.5).trades) == 1


# --- protective exits, long -------------------------------------------------------------------


def test_long_stop_loss_intrabar():
    rows = [FLAT, FLAT, (99, 100, 94, 96), FLAT]
    t = run(rows, [1, 1, 1, 1], stop_loss=0.05).trades.iloc[0]
    assert (t.exit_reason, t.exit_price, t.exit_bar, t.bars_held) == ("stop_loss", 95, 2, 1)
    assert t.pnl == pytest.approx(100 * (95 - 100))


def test_long_stop_gap_through_fills_at_the_open():
    rows = [FLAT, FLAT, (90, 92, 89, 91), FLAT]
    t = run(rows, [1, 1, 1, 1], stop_loss=0.05).trades.iloc[0]
    assert (t.exit_reason, t.exit_price) == ("stop_loss", 90)


def test_long_take_profit_intrabar_and_gap():
    t = run([FLAT, FLAT, (105, 112, 104, 108)], [1, 1, 1], take_profit=0.10).trades.iloc[0]
    assert (t.exit_reason, t.exit_price) == ("take_profit", pytest.approx(110))
    t = run([FLAT, FLAT, (115, 116, 114, 115)], [1, 1, 1], take_profit=0.10).trades.iloc[0]
    assert (t.exit_reason, t.exit_price) == ("take_profit", 115)  # gap above: the better open


def test_stop_beats_target_when_one_bar_holds_both():
    rows = [FLAT, FLAT, (100, 112, 94, 100)]
    t = run(rows, [1, 1, 1], stop_loss=0.05, take_profit=0.10).trades.iloc[0]
    assert (t.exit_reason, t.exit_price) == ("stop_loss", 95)


def test_long_trailing_stop_uses_completed_bars_only():
    # bar 1: entry at 100, high 120, low 107 - the 120 is not known before the 107, so the stop
    # stays at 90 during bar 1; after it, the stop is 120 * 0.9 = 108 and bar 2 takes it out.
    rows = [FLAT, (100, 120, 107, 118), (115, 116, 107, 110), FLAT]
    t = run(rows, [1, 1, 1, 1], trailing_stop=0.10).trades.iloc[0]
    assert (t.exit_reason, t.exit_bar, t.exit_price) == ("trailing_stop", 2, pytest.approx(108))


def test_tighter_of_stop_loss_and_trailing_names_the_exit():
    rows = [FLAT, (100, 101, 99, 100), (100, 100, 93, 94)]
    t = run(rows, [1, 1, 1], stop_loss=0.05, trailing_stop=0.10).trades.iloc[0]
    assert (t.exit_reason, t.exit_price) == ("stop_loss", 95)  # 95 > 101 * 0.9
    rows = [FLAT, (100, 120, 99, 118), (117, 118, 100, 105)]
    t = run(rows, [1, 1, 1], stop_loss=0.05, trailing_stop=0.10).trades.iloc[0]
    assert (t.exit_reason, t.exit_price) == ("trailing_stop", pytest.approx(108))


@pytest.mark.parametrize("fill", ["next_open", "close"])
def test_time_exit_after_max_bars(fill):
    rows = [(100 + i, 101 + i, 99 + i, 100.5 + i) for i in range(8)]
    t = run(rows, [1, 1, 1, 1, 1, 1, 1, 1], max_bars=3, fill=fill).trades.iloc[0]
    assert t.exit_reason == "time" and t.bars_held == 3
    if fill == "next_open":
        assert (t.entry_bar, t.exit_bar, t.exit_price) == (1, 4, 104)
    else:
        assert (t.entry_bar, t.exit_bar, t.exit_price) == (0, 3, 103.5)


# --- protective exits, short ------------------------------------------------------------------


def test_short_stop_loss_take_profit_gap_and_trailing():
    kw = {"allow_short": True}
    t = run([FLAT, FLAT, (101, 106, 100, 104)], [-1] * 3, stop_loss=0.05, **kw).trades.iloc[0]
    assert (t.side, t.exit_reason, t.exit_price) == ("short", "stop_loss", pytest.approx(105))
    assert t.pnl == pytest.approx(-100 * 5)
    t = run([FLAT, FLAT, (108, 110, 107, 109)], [-1] * 3, stop_loss=0.05, **kw).trades.iloc[0]
    assert (t.exit_reason, t.exit_price) == ("stop_loss", 108)
    t = run([FLAT, FLAT, (95, 96, 89, 92)], [-1] * 3, take_profit=0.10, **kw).trades.iloc[0]
    assert (t.exit_reason, t.exit_price) == ("take_profit", pytest.approx(90))
    assert t.pnl == pytest.approx(100 * 10)
    rows = [FLAT, (100, 101, 80, 82), (84, 89, 83, 85), FLAT]  # trough 80 -> stop 88
    t = run(rows, [-1] * 4, trailing_stop=0.10, **kw).trades.iloc[0]
    assert (t.exit_reason, t.exit_bar, t.exit_price) == ("trailing_stop", 2, pytest.approx(88))


def test_short_time_exit():
    t = run([FLAT] * 6, [-1] * 6, allow_short=True, max_bars=2).trades.iloc[0]
    assert (t.side, t.exit_reason, t.bars_held) == ("short", "time", 2)


# --- signal exits -------------------------------------------------------------------------------


def test_signal_reversal_long_to_short_and_long_only():
    rows = [FLAT, FLAT, FLAT, (110, 111, 109, 110), (100, 101, 99, 100)]
    out = run(rows, [1, 1, -1, -1, -1], allow_short=True)
    long, short = out.trades.iloc[0], out.trades.iloc[1]
    assert (long.side, long.exit_reason, long.exit_bar, long.exit_price) == (
        "long",
        "signal",
        3,
        110,
    )
    assert (short.side, short.entry_bar, short.entry_price, short.is_open) == (
        "short",
        3,
        110,
        True,
    )
    out = run(rows, [1, 1, -1, -1, -1])
    assert len(out.trades) == 1 and out.position.iloc[-1] == 0


def test_exit_threshold_holds_through_weak_opposite_signals():
    rows = [FLAT] * 6
    t = run(rows, [1, -0.2, -0.4, -0.6, -0.6, -0.6], exit_threshold=0.5).trades.iloc[0]
    assert (t.exit_reason, t.exit_bar) == ("signal", 4)
    assert run(rows, [1, -1, -1, -1, -1, -1], signal_exit=False).trades.iloc[0].is_open


def test_no_reentry_until_the_signal_leaves_the_entry_zone():
    rows = [FLAT, FLAT, (99, 100, 94, 96), FLAT, FLAT, FLAT, FLAT, FLAT]
    out = run(rows, [1, 1, 1, 1, 0, 1, 1, 1], stop_loss=0.05)
    assert list(out.trades.exit_reason) == ["stop_loss", "open"]
    assert out.trades.entry_bar.tolist() == [1, 6]  # not 3: the signal had to drop to 0 first


# --- the same-bar rule ---------------------------------------------------------------------------


def test_same_bar_close_mode_stop_beats_the_signal_exit():
    # the stop is hit intrabar on bar 2; the exit signal of bar 2 is only known at its close
    rows = [FLAT, FLAT, (100, 101, 94, 96)]
    t = run(rows, [1, 1, -1], stop_loss=0.05, fill="close").trades.iloc[0]
    assert (t.exit_reason, t.exit_price, t.exit_bar) == ("stop_loss", 95, 2)


def test_same_bar_next_open_signal_exit_fills_at_the_open_before_the_intrabar_stop():
    rows = [FLAT, FLAT, FLAT, (100, 101, 94, 96)]
    t = run(rows, [1, 1, -1, -1], stop_loss=0.05).trades.iloc[0]
    assert (t.exit_reason, t.exit_price, t.exit_bar) == ("signal", 100, 3)


def test_same_bar_gap_through_the_stop_is_reported_as_the_stop():
    rows = [FLAT, FLAT, FLAT, (93, 94, 90, 91)]
    t = run(rows, [1, 1, -1, -1], stop_loss=0.05).trades.iloc[0]
    assert (t.exit_reason, t.exit_price, t.exit_bar) == ("stop_loss", 93, 3)


# --- costs and sizing -----------------------------------------------------------------------------


def test_commission_and_slippage_arithmetic():
    rows = [FLAT, FLAT, (110, 111, 109, 110), (110, 111, 109, 110)]
    out = run(rows, [1, -1, -1, -1], commission_pct=0.001, commission_per_share=0.01,
              slippage_pct=0.001)  # fmt: skip
    t = out.trades.iloc[0]
    buy = 100 * 1.001
    shares = 10_000 / (buy * 1.001 + 0.01)
    fee_in = shares * buy * 0.001 + shares * 0.01
    sell = 110 * 0.999
    fee_out = shares * sell * 0.001 + shares * 0.01
    assert t.entry_price == pytest.approx(buy) and t.exit_price == pytest.approx(sell)
    assert t.qty == pytest.approx(shares)
    assert t.fees == pytest.approx(fee_in + fee_out)
    assert t.pnl == pytest.approx(shares * (sell - buy) - fee_in - fee_out)
    assert t.ret == pytest.approx(t.pnl / (shares * buy))
    assert out.equity.iloc[-1] == pytest.approx(10_000 + t.pnl)
    # the entry spent exactly the capital: fees are covered by the sizing
    assert out.equity.iloc[1] == pytest.approx(shares * 100)


def test_short_slippage_is_adverse_both_ways():
    rows = [FLAT, FLAT, (90, 91, 89, 90)]
    t = run(rows, [-1, 1, 1], allow_short=True, slippage_pct=0.01).trades.iloc[0]
    assert t.entry_price == pytest.approx(99) and t.exit_price == pytest.approx(90.9)


def test_whole_shares_and_fixed_cash_sizing():
    rows = [(30, 30, 30, 30)] * 3
    t = run(rows, [1, 1, 1], fractional=False).trades.iloc[0]
    assert t.qty == 333
    out = run(rows, [1, 1, 1], fractional=False, size_mode="fixed_cash", size_value=1000)
    assert out.trades.iloc[0].qty == 33
    out = run(rows, [1, 1, 1], size_mode="percent_equity", size_value=0.5)
    assert out.trades.iloc[0].qty == pytest.approx(5000 / 30)
    assert run(rows, [1, 1, 1], fractional=False, capital=20).trades.empty  # 0 shares: no trade


def test_bad_engine_values_name_the_field():
    with pytest.raises(RunConfigError, match="stop_loss = 1.5"):
        EngineParams(stop_loss=1.5)
    with pytest.raises(RunConfigError, match="fill = 'tomorrow'"):
        EngineParams(fill="tomorrow")


# --- accounting and causality ---------------------------------------------------------------------


def test_trades_table_columns():
    out = run([FLAT] * 3, [1, 1, 1])
    assert tuple(out.trades.columns) == TRADE_COLUMNS


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    sl=st.sampled_from([None, 0.02, 0.05]),
    tp=st.sampled_from([None, 0.03, 0.1]),
    trail=st.sampled_from([None, 0.03]),
    max_bars=st.sampled_from([None, 5]),
    short=st.booleans(),
    fill=st.sampled_from(["next_open", "close"]),
    cost=st.sampled_from([0.0, 0.001]),
)
def test_equity_is_capital_plus_trade_pnl(seed, sl, tp, trail, max_bars, short, fill, cost):
    bars = make_bars(150, seed=seed)
    sig = np.random.default_rng(seed).choice(
        [-1.0, 0.0, 1.0, np.nan], size=150, p=[0.3, 0.3, 0.3, 0.1]
    )
    p = EngineParams(stop_loss=sl, take_profit=tp, trailing_stop=trail, max_bars=max_bars,
                     allow_short=short, fill=fill, commission_pct=cost, slippage_pct=cost,
                     capital=10_000.0)  # fmt: skip
    out = simulate(bars, sig, p)
    assert out.equity.iloc[-1] == pytest.approx(10_000 + out.trades.pnl.sum(), rel=1e-9)
    assert (out.trades.exit_bar >= out.trades.entry_bar).all()
    assert (out.trades.iloc[:-1].is_open == False).all()  # noqa: E712 - only the last may be open
    if not short:
        assert (out.position >= 0).all()
    # every exit price lies inside its bar's range (before slippage)
    t = out.trades[~out.trades.is_open]
    lo = bars["low"].to_numpy()[t.exit_bar] * (1 - cost) - 1e-9
    hi = bars["high"].to_numpy()[t.exit_bar] * (1 + cost) + 1e-9
    assert ((t.exit_price >= lo) & (t.exit_price <= hi)).all()


@pytest.mark.parametrize("fill", ["next_open", "close"])
def test_changing_the_future_never_changes_the_past(fill):
    bars = make_bars(300, seed=5)
    rng = np.random.default_rng(5)
    sig = rng.choice([-1.0, 0.0, 1.0], size=300)
    p = EngineParams(stop_loss=0.03, take_profit=0.06, trailing_stop=0.04, allow_short=True,
                     fill=fill, commission_pct=0.001)  # fmt: skip
    a = simulate(bars, sig, p)
    cut = 200
    bars2 = bars.copy()
    bars2.iloc[cut:] = make_bars(300, seed=77).iloc[cut:].to_numpy()
    sig2 = sig.copy()
    sig2[cut:] = -sig2[cut:]
    b = simulate(bars2, sig2, p)
    np.testing.assert_array_equal(a.equity.to_numpy()[:cut], b.equity.to_numpy()[:cut])
    np.testing.assert_array_equal(a.position.to_numpy()[:cut], b.position.to_numpy()[:cut])
    assert not math.isclose(a.equity.iloc[-1], b.equity.iloc[-1])

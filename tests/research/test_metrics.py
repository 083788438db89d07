"""Metrics against empyrical-reloaded on the same series, and hand-computed trade statistics."""

from __future__ import annotations

import math

import empyrical
import numpy as np
import pandas as pd
import pytest
from research_fixtures import make_bars

from primeflow_lib.research import metrics as m
from primeflow_lib.research.engine import EngineParams, simulate
from primeflow_lib.research.indicators import compute_signals
from primeflow_lib.research.timeframes import periods_per_year


def engine_curve():
    bars = make_bars(700, seed=21)
    sig = compute_signals(bars, {"dual_sma": {"fast": 5, "slow": 30}})["dual_sma"]
    p = EngineParams(allow_short=True, stop_loss=0.04, commission_pct=0.0005, capital=50_000.0)
    return bars, simulate(bars, sig, p), p.capital


CURVES = {
    "random": (np.random.default_rng(7).normal(0.0004, 0.011, 1000), 252),
    "intraday_5m": (np.random.default_rng(8).normal(0.00002, 0.001, 3000), periods_per_year("5m")),
}


@pytest.mark.parametrize("name", [*CURVES, "engine"])
def test_return_metrics_equal_empyrical(name):
    if name == "engine":
        _, out, capital = engine_curve()
        r = m.simple_returns(out.equity.to_numpy(), capital)
        ppy = 252
    else:
        r, ppy = CURVES[name]
    s = pd.Series(r)
    assert m.sharpe(r, ppy) == pytest.approx(
        empyrical.sharpe_ratio(s, annualization=ppy), rel=1e-10
    )
    assert m.sortino(r, ppy) == pytest.approx(
        empyrical.sortino_ratio(s, annualization=ppy), rel=1e-10
    )
    assert m.max_drawdown(r) == pytest.approx(empyrical.max_drawdown(s), rel=1e-10)
    assert m.cagr(r, ppy) == pytest.approx(empyrical.annual_return(s, annualization=ppy), rel=1e-10)
    assert m.calmar(r, ppy) == pytest.approx(
        empyrical.calmar_ratio(s, annualization=ppy), rel=1e-10
    )
    assert m.annual_volatility(r, ppy) == pytest.approx(
        empyrical.annual_volatility(s, annualization=ppy), rel=1e-10
    )
    assert m.sharpe(r, ppy, risk_free=0.0001) == pytest.approx(
        empyrical.sharpe_ratio(s, risk_free=0.0001, annualization=ppy), rel=1e-10
    )


def test_engine_run_metrics_are_consistent_with_the_curve():
    bars, out, capital = engine_curve()
    r = m.simple_returns(out.equity.to_numpy(), capital)
    res = m.compute_metrics(out.equity, capital, 252, out.position, out.trades)
    assert res["total_return"] == pytest.approx(empyrical.cum_returns_final(pd.Series(r)))
    assert res["final_equity"] == out.equity.iloc[-1]
    assert res["n_trades"] == len(out.trades)


def test_ratios_with_zero_denominators_follow_empyrical():
    flat = np.zeros(50)
    assert math.isnan(m.sharpe(flat, 252)) and math.isnan(m.calmar(flat, 252))
    assert m.max_drawdown(flat) == 0.0
    up = np.full(50, 0.001)
    assert m.sortino(up, 252) == empyrical.sortino_ratio(pd.Series(up)) == math.inf
    assert math.isnan(m.sharpe(np.array([0.01]), 252))


def test_drawdown_and_its_duration_by_hand():
    equity = np.array([110, 105, 100, 120, 115, 119, 121, 90], dtype=float)
    dd = m.drawdown(equity, 100.0)
    np.testing.assert_allclose(dd[:3], [0, 105 / 110 - 1, 100 / 110 - 1])
    assert m.max_drawdown_duration(equity, 100.0) == 2  # bars 1-2 under 110, bars 4-5 under 120
    assert m.max_drawdown_duration(np.array([100, 99, 98, 97.0]), 100.0) == 3  # never recovered
    assert m.max_drawdown_duration(np.array([101, 102.0]), 100.0) == 0
    assert m.total_return(equity, 100.0) == pytest.approx(-0.1)


def test_trade_statistics_by_hand():
    pnl = np.array([100.0, -50.0, 30.0, -10.0, 0.0])
    assert m.profit_factor(pnl) == pytest.approx(130 / 60)
    assert m.win_rate(pnl) == pytest.approx(2 / 5)
    assert m.average_win(pnl) == pytest.approx(65)
    assert m.average_loss(pnl) == pytest.approx(-30)
    assert m.profit_factor(np.array([5.0])) == math.inf
    assert math.isnan(m.profit_factor(np.array([]))) and math.isnan(m.win_rate(np.array([])))


def test_open_trades_do_not_count_as_wins_or_losses():
    trades = pd.DataFrame({"pnl": [10.0, -5.0, 1000.0], "is_open": [False, False, True]})
    res = m.compute_metrics(np.array([100.0, 101, 102]), 100.0, 252, trades=trades)
    assert res["win_rate"] == 0.5 and res["profit_factor"] == 2.0 and res["n_trades"] == 3


def test_exposure_and_direction_accuracy_by_hand():
    position = np.array([0.0, 10, 10, -5, 0, 0])
    close = np.array([100.0, 101, 103, 102, 99, 100])
    held = m.held_pnl(position, close)
    # carried: bar2 (10 long, +2) right, bar3 (10 long, -1) wrong, bar4 (5 short, -3) right
    np.testing.assert_allclose(held, [0, 0, 20, -10, 15, 0])
    assert m.direction_accuracy(held) == pytest.approx(2 / 3)
    assert m.exposure(position) == pytest.approx(3 / 6)
    # a panel sums its tickers
    h2 = m.held_pnl(np.array([[1.0, 1.0], [1.0, 1.0]]), np.array([[10.0, 10.0], [11.0, 8.0]]))
    np.testing.assert_allclose(h2, [0, -1])


def test_periods_per_year_from_the_timeframe():
    assert periods_per_year("1d") == 252
    assert periods_per_year("1m") == 252 * 390
    assert periods_per_year("5m") == 252 * 78
    assert periods_per_year("1h") == 252 * 7  # 09:30 ... 15:30, the last one half an hour
    assert periods_per_year("4h") == 252 * 2

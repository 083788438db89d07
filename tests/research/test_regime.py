"""The MFT regime engine: probabilities, warm-up, recognisable regimes, causality."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from research_fixtures import make_bars

from primeflow_lib.research import regime
from primeflow_lib.research.errors import ResearchError


def test_probabilities_sum_to_one_after_the_warmup(bars):
    df = regime.regime_probabilities(bars)
    p = df[list(regime.PROB_COLUMNS)].to_numpy()
    lb = regime.lookback()
    assert np.isnan(p[:lb]).all() and df["regime"].iloc[:lb].isna().all()
    np.testing.assert_allclose(p[lb:].sum(axis=1), 1.0)
    assert (p[lb:] > 0).all()
    labels = np.array(regime.REGIMES)[p[lb:].argmax(axis=1)]
    assert (df["regime"].iloc[lb:].to_numpy() == labels).all()


def _path(returns, seed=0, vol=0.004):
    rng = np.random.default_rng(seed)
    c = 100 * np.exp(np.cumsum(returns))
    o = np.r_[c[0], c[:-1]]
    h = np.maximum(o, c) * (1 + rng.uniform(0, vol, len(c)))
    lo = np.minimum(o, c) * (1 - rng.uniform(0, vol, len(c)))
    idx = pd.DatetimeIndex(pd.bdate_range("2020-01-01", periods=len(c)), name="ts")
    return pd.DataFrame({"open": o, "high": h, "low": lo, "close": c, "volume": 1e6}, index=idx)


def test_a_steady_uptrend_is_trend_up_and_a_downtrend_trend_down():
    rng = np.random.default_rng(1)
    up = _path(0.004 + rng.normal(0, 0.003, 300))
    down = _path(-0.004 + rng.normal(0, 0.003, 300))
    assert (
        regime.regime_probabilities(up)["regime"].iloc[-60:].value_counts().idxmax() == "TREND_UP"
    )
    tail = regime.regime_probabilities(down)["regime"].iloc[-60:]
    assert tail.value_counts().idxmax() == "TREND_DOWN"
    assert (regime.regime_probabilities(up)["phi"].iloc[-60:] > 0.3).mean() > 0.8


def test_a_quiet_mean_reverting_market_is_range():
    rng = np.random.default_rng(2)
    x = np.zeros(400)
    for t in range(1, 400):  # AR(1) around a level: no trend
        x[t] = 0.7 * x[t - 1] + rng.normal(0, 0.004)
    bars = _path(np.diff(np.r_[0.0, x]))
    assert regime.regime_probabilities(bars)["regime"].iloc[150:].value_counts().idxmax() == "RANGE"


def test_a_volatility_shock_raises_high_vol():
    rng = np.random.default_rng(3)
    r = rng.normal(0, 0.004, 400)
    r[350:] = rng.normal(0, 0.04, 50)
    df = regime.regime_probabilities(_path(r))
    assert df["p_high_vol"].iloc[370:].mean() > 3 * df["p_high_vol"].iloc[200:340].mean()


def test_no_look_ahead():
    a = make_bars(400, seed=4)
    b = a.copy()
    b.iloc[300:] = make_bars(400, seed=5).iloc[300:].to_numpy()
    pa = regime.regime_probabilities(a)[list(regime.PROB_COLUMNS)].to_numpy()
    pb = regime.regime_probabilities(b)[list(regime.PROB_COLUMNS)].to_numpy()
    np.testing.assert_array_equal(pa[:300], pb[:300])


def test_parameters_are_validated():
    with pytest.raises(ResearchError, match="unknown parameter 'speed'"):
        regime.resolve({"speed": 1})
    with pytest.raises(ResearchError, match=r"fast \(50\) must be < slow \(40\)"):
        regime.resolve({"fast": 50})
    assert regime.lookback({"rank_window": 50}) == 69

"""Blending: weighted sum, weighted vote, regime weights, and walk-forward phiai."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from primeflow_lib.research import blend as bl
from primeflow_lib.research.errors import ResearchError
from primeflow_lib.research.regime import PROB_COLUMNS


def sig(**cols):
    n = len(next(iter(cols.values())))
    idx = pd.DatetimeIndex(pd.bdate_range("2024-01-01", periods=n), name="ts")
    return pd.DataFrame({k: np.asarray(v, dtype=float) for k, v in cols.items()}, index=idx)


def test_weighted_sum_by_hand_and_warmup():
    s = sig(a=[np.nan, 1.0, 0.5], b=[0.2, -1.0, 0.5])
    out = bl.weighted_sum(s, {"a": 3, "b": 1}).signal
    assert np.isnan(out.iloc[0])
    assert out.iloc[1] == pytest.approx((3 - 1) / 4) and out.iloc[2] == pytest.approx(0.5)
    # negative weight flips an indicator; normalised by |w|
    assert bl.weighted_sum(s, {"a": 1, "b": -1}).signal.iloc[1] == pytest.approx(1.0)


def test_voting_is_a_weighted_majority():
    s = sig(a=[0.1, 0.9, 0.0], b=[0.2, -0.9, -0.3], c=[-0.5, -0.1, 0.0])
    out = bl.voting(s, {"a": 1, "b": 1, "c": 1}).signal
    np.testing.assert_allclose(out, [1 / 3, -1 / 3, -1 / 3])
    out = bl.voting(s, {"a": 3, "b": 1, "c": 1}, min_strength=0.15).signal
    # a=0.1 abstains on bar 0; c=-0.1 abstains on bar 1
    np.testing.assert_allclose(out, [(1 - 1) / 5, (3 - 1) / 5, -1 / 5])


def test_weights_must_name_exactly_the_indicators():
    s = sig(a=[1.0], b=[1.0])
    with pytest.raises(ResearchError, match=r"missing \['b'\]"):
        bl.weighted_sum(s, {"a": 1})
    with pytest.raises(ResearchError, match=r"unknown \['z'\]"):
        bl.voting(s, {"a": 1, "b": 1, "z": 1})
    with pytest.raises(ResearchError, match="unknown blend mode"):
        bl.blend_signals(s, "median")


def test_regime_weighted_mixes_per_regime_blends():
    s = sig(trend=[1.0, 1.0, 1.0], osc=[-1.0, -1.0, -1.0])
    probs = pd.DataFrame(0.0, index=s.index, columns=list(PROB_COLUMNS))
    probs.iloc[0, 0] = 1.0  # TREND_UP for sure
    probs.iloc[1, 2] = 1.0  # RANGE for sure
    probs.iloc[2, [0, 4]] = 0.5  # half TREND_UP, half HIGH_VOL
    rw = {"TREND_UP": {"trend": 2.0}, "RANGE": {"osc": 1.0, "trend": 1.0}, "HIGH_VOL": {}}
    out = bl.regime_weighted(s, probs, rw).signal
    np.testing.assert_allclose(out, [1.0, 0.0, 0.5])  # HIGH_VOL stands aside
    # a regime missing from the matrix uses the static weights
    probs2 = probs.copy()
    probs2.iloc[:] = 0.0
    probs2["p_breakout"] = 1.0
    out = bl.regime_weighted(s, probs2, rw, weights={"trend": 3, "osc": 1}).signal
    np.testing.assert_allclose(out, [0.5, 0.5, 0.5])
    with pytest.raises(ResearchError, match="unknown regime 'BULL'"):
        bl.regime_weighted(s, probs, {"BULL": {}})


def test_phiai_weights_come_only_from_earlier_returns():
    n = 40
    s = sig(good=np.ones(n), bad=-np.ones(n))
    rng = np.random.default_rng(0)
    rets = pd.DataFrame(
        {"good": 0.01 + rng.normal(0, 0.001, n), "bad": -0.01 + rng.normal(0, 0.001, n)},
        index=s.index,
    )
    out = bl.phiai(s, rets, 252, window=10, min_train=10)
    assert out.signal.iloc[:10].isna().all()
    np.testing.assert_allclose(out.signal.iloc[10:], 1.0)  # only 'good' has a positive score
    assert (out.weights["bad"].iloc[10:] == 0).all()
    # flipping the returns from bar 20 on changes nothing before bar 20 and the window after it
    flipped = rets.copy()
    flipped.iloc[20:] = -flipped.iloc[20:].to_numpy()
    out2 = bl.phiai(s, flipped, 252, window=10, min_train=10, train=10)
    np.testing.assert_array_equal(
        out2.signal.iloc[:30], bl.phiai(s, rets, 252, 10, 10, 10).signal.iloc[:30]
    )
    assert out2.signal.iloc[30:].eq(-1.0).all()  # the trailing 10 bars now favour 'bad'


def test_phiai_stays_flat_when_nothing_scores():
    s = sig(a=np.ones(30))
    rets = pd.DataFrame({"a": -0.01 + np.random.default_rng(1).normal(0, 0.001, 30)}, index=s.index)
    out = bl.phiai(s, rets, 252, window=5, min_train=5)
    assert (out.signal.iloc[5:] == 0).all()


def test_phiai_through_the_runner_never_looks_ahead():
    from research_fixtures import make_bars

    from primeflow_lib.research.presets import preset
    from primeflow_lib.research.runner import blended_signal

    cfg = preset("mean_reversion").replace(
        indicators={"rsi": {}, "bollinger": {}, "macd": {}},
        blend={"mode": "phiai", "window": 21, "min_train": 63},
        exits={"stop_loss": 0.05},
    )
    a = make_bars(400, seed=8)
    b = a.copy()
    b.iloc[250:] = make_bars(400, seed=9).iloc[250:].to_numpy()
    sa, *_, wa = blended_signal(cfg, a)
    sb, *_, wb = blended_signal(cfg, b)
    np.testing.assert_array_equal(sa.to_numpy()[:250], sb.to_numpy()[:250])
    np.testing.assert_array_equal(wa.to_numpy()[:250], wb.to_numpy()[:250])
    assert sa.iloc[:63].isna().all() and sa.iloc[100:].notna().all()
    assert not np.allclose(sa.to_numpy()[300:], sb.to_numpy()[300:])

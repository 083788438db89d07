"""Indicator registry: TA-Lib equality, hand-computed values, warm-up, range, no look-ahead."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import talib
from research_fixtures import make_bars, path_bars

from primeflow_lib.research import indicators as ind
from primeflow_lib.research.errors import ResearchError

ALL = sorted(ind.REGISTRY)


def test_registry_has_the_seventeen_indicators():
    assert sorted(
        [
            "rsi", "macd", "bollinger", "stochastic", "dual_sma", "ema_crossover", "momentum",
            "roc", "atr_ratio", "vwap_dev", "cmf", "adx", "wyckoff", "range_pos", "phi_mft",
            "liquidity_pools", "wyckoff_ml",
        ]
    ) == ALL  # fmt: skip
    for i in ind.REGISTRY.values():
        assert i.mapping and i.summary
        for p in i.params.values():
            lo, hi, step = p.tune
            assert lo <= p.default <= hi and step > 0, i.name


@pytest.mark.parametrize("name", ALL)
def test_warmup_is_exactly_the_lookback_and_signal_in_range(name, bars):
    out = ind.get(name).compute(bars)
    s = out.signal.to_numpy()
    lb = ind.get(name).lookback()
    assert np.isnan(s[:lb]).all()
    assert np.isfinite(s[lb:]).all()
    assert s[lb:].min() >= -1 and s[lb:].max() <= 1
    # the mapping actually uses its range (not a constant)
    assert s[lb:].std() > 0.05


@pytest.mark.parametrize("name", ALL)
def test_no_look_ahead(name):
    base = make_bars(400, seed=1)
    cut = 300
    future = make_bars(400, seed=99)
    changed = base.copy()
    changed.iloc[cut:] = future.iloc[cut:].to_numpy() * (base["close"].iloc[cut] / 100)
    a = ind.get(name).compute(base).signal.to_numpy()
    b = ind.get(name).compute(changed).signal.to_numpy()
    np.testing.assert_array_equal(a[:cut], b[:cut])
    assert not np.allclose(a[cut + 30 :], b[cut + 30 :])


# --- equality with TA-Lib (non-default parameters, so the wiring is tested too) ----------------


def _arr(bars):
    return [bars[c].to_numpy() for c in ("open", "high", "low", "close", "volume")]


def test_rsi_equals_talib(bars):
    _, _, _, c, _ = _arr(bars)
    out = ind.get("rsi").compute(bars, {"period": 10, "oversold": 25, "overbought": 75})
    ref = talib.RSI(c, timeperiod=10)
    np.testing.assert_allclose(out.values["rsi"], ref, equal_nan=True)
    np.testing.assert_allclose(out.signal, np.clip((50 - ref) / 25, -1, 1), equal_nan=True)


def test_macd_equals_talib(bars):
    c = bars["close"].to_numpy()
    out = ind.get("macd").compute(bars, {"fast": 8, "slow": 21, "signal": 5, "scale": 0.01})
    m, s, h = talib.MACD(c, fastperiod=8, slowperiod=21, signalperiod=5)
    np.testing.assert_allclose(out.values["macd"], m, equal_nan=True)
    np.testing.assert_allclose(out.values["signal"], s, equal_nan=True)
    np.testing.assert_allclose(out.signal, np.tanh(h / (0.01 * c)), equal_nan=True)


def test_bollinger_equals_talib(bars):
    c = bars["close"].to_numpy()
    out = ind.get("bollinger").compute(bars, {"period": 14, "nbdev": 2.5})
    up, mid, lo = talib.BBANDS(c, timeperiod=14, nbdevup=2.5, nbdevdn=2.5, matype=0)
    np.testing.assert_allclose(out.values["upper"], up, equal_nan=True)
    np.testing.assert_allclose(out.values["lower"], lo, equal_nan=True)
    np.testing.assert_allclose(out.signal, np.clip(-(c - mid) / (up - mid), -1, 1), equal_nan=True)


def test_stochastic_equals_talib(bars):
    _, h, lo, c, _ = _arr(bars)
    out = ind.get("stochastic").compute(bars, {"fastk": 9, "slowk": 4, "slowd": 2})
    k, d = talib.STOCH(h, lo, c, fastk_period=9, slowk_period=4, slowk_matype=0,
                       slowd_period=2, slowd_matype=0)  # fmt: skip
    np.testing.assert_allclose(out.values["slowk"], k, equal_nan=True)
    np.testing.assert_allclose(out.values["slowd"], d, equal_nan=True)
    np.testing.assert_allclose(out.signal, np.clip((50 - k) / 30, -1, 1), equal_nan=True)


def test_dual_sma_and_ema_crossover_equal_talib(bars):
    c = bars["close"].to_numpy()
    out = ind.get("dual_sma").compute(bars, {"fast": 7, "slow": 30})
    f, s = talib.SMA(c, 7), talib.SMA(c, 30)
    np.testing.assert_allclose(out.values["sma_fast"], f, equal_nan=True)
    np.testing.assert_allclose(out.signal, np.sign(f - s), equal_nan=True)
    out = ind.get("ema_crossover").compute(bars, {"fast": 5, "slow": 40, "scale": 0.02})
    f, s = talib.EMA(c, 5), talib.EMA(c, 40)
    np.testing.assert_allclose(out.values["ema_slow"], s, equal_nan=True)
    np.testing.assert_allclose(out.signal, np.tanh((f - s) / (0.02 * c)), equal_nan=True)


def test_momentum_roc_atr_ratio_equal_talib(bars):
    _, h, lo, c, _ = _arr(bars)
    out = ind.get("momentum").compute(bars, {"period": 12})
    mom, atr = talib.MOM(c, 12), talib.ATR(h, lo, c, 12)
    np.testing.assert_allclose(out.values["mom"], mom, equal_nan=True)
    np.testing.assert_allclose(out.signal, np.tanh(mom / (math.sqrt(12) * atr)), equal_nan=True)
    out = ind.get("roc").compute(bars, {"period": 15, "threshold": 8.0})
    roc = talib.ROC(c, 15)
    np.testing.assert_allclose(out.signal, np.clip(roc / 8.0, -1, 1), equal_nan=True)
    out = ind.get("atr_ratio").compute(bars, {"fast": 4, "slow": 25, "threshold": 0.3})
    ratio = talib.ATR(h, lo, c, 4) / talib.ATR(h, lo, c, 25)
    np.testing.assert_allclose(out.values["ratio"], ratio, equal_nan=True)
    direction = np.sign(c - np.r_[np.full(4, np.nan), c[:-4]])
    expected = np.clip((ratio - 1) / 0.3, 0, 1) * direction
    np.testing.assert_allclose(out.signal, expected, equal_nan=True)


def test_adx_and_range_pos_equal_talib(bars):
    _, h, lo, c, _ = _arr(bars)
    out = ind.get("adx").compute(bars, {"period": 10, "threshold": 15, "full": 35})
    adx = talib.ADX(h, lo, c, 10)
    sign = np.sign(talib.PLUS_DI(h, lo, c, 10) - talib.MINUS_DI(h, lo, c, 10))
    np.testing.assert_allclose(out.values["adx"], adx, equal_nan=True)
    np.testing.assert_allclose(out.signal, sign * np.clip((adx - 15) / 20, 0, 1), equal_nan=True)
    out = ind.get("range_pos").compute(bars, {"period": 30})
    hh, ll = talib.MAX(h, 30), talib.MIN(lo, 30)
    np.testing.assert_allclose(out.signal, 2 * (c - ll) / (hh - ll) - 1, equal_nan=True)


# --- hand-computed cases for the numpy indicators ---------------------------------------------


def test_cmf_by_hand():
    bars = path_bars([(10, 12, 8, 11), (11, 12, 10, 10), (10, 14, 10, 14)])
    bars["volume"] = [100.0, 200.0, 300.0]
    out = ind.get("cmf").compute(bars, {"period": 3, "saturation": 0.5})
    # MFM: (3-1)/4 = 0.5, (0-2)/2 = -1, (4-0)/4 = 1 -> (50 - 200 + 300) / 600 = 0.25
    assert np.isnan(out.signal.iloc[:2]).all()
    assert out.values["cmf"].iloc[2] == pytest.approx(0.25)
    assert out.signal.iloc[2] == pytest.approx(0.5)


def test_cmf_is_zero_for_a_doji_window():
    bars = path_bars([(10, 10, 10, 10)] * 4)
    assert ind.get("cmf").compute(bars, {"period": 2}).signal.iloc[-1] == 0.0


def test_vwap_dev_by_hand():
    bars = path_bars([(10, 11, 9, 10), (10, 13, 11, 12), (12, 13, 11, 13)])
    bars["volume"] = [100.0, 300.0, 100.0]
    out = ind.get("vwap_dev").compute(bars, {"period": 2, "band": 0.1})
    tp = np.array([10.0, 12.0, (13 + 11 + 13) / 3])
    vwap2 = (tp[1] * 300 + tp[2] * 100) / 400
    assert out.values["vwap"].iloc[2] == pytest.approx(vwap2)
    assert out.signal.iloc[2] == pytest.approx(np.clip(-(13 / vwap2 - 1) / 0.1, -1, 1))
    # the bar's own vwap, when the vendor gives it, replaces the typical price
    bars["vwap"] = [10.0, 11.0, 12.0]
    out = ind.get("vwap_dev").compute(bars, {"period": 2, "band": 0.1})
    assert out.values["vwap"].iloc[2] == pytest.approx((11 * 300 + 12 * 100) / 400)


def test_range_pos_by_hand():
    bars = path_bars([(10, 12, 8, 10), (10, 11, 9, 11), (11, 12, 10, 12)])
    s = ind.get("range_pos").compute(bars, {"period": 3}).signal
    assert s.iloc[2] == pytest.approx(2 * (12 - 8) / (12 - 8) - 1)  # close at the range high
    flat = path_bars([(10, 10, 10, 10)] * 3)
    assert ind.get("range_pos").compute(flat, {"period": 3}).signal.iloc[2] == 0.0


def test_wyckoff_accumulation_and_distribution():
    # price flat-to-down while volume piles in on the up bars -> accumulation -> buy
    closes = [100, 101, 99.5, 100.5, 99, 100, 98.8]
    vols = [1, 900, 50, 900, 50, 900, 50]
    rows = [(c, c + 0.5, c - 0.5, c) for c in closes]
    bars = path_bars(rows)
    bars["volume"] = np.array(vols, dtype=float)
    out = ind.get("wyckoff").compute(bars, {"period": 6, "scale": 0.05})
    pressure = (900 * 3 - 50 * 3) / (900 * 3 + 50 * 3)
    trend = math.tanh((98.8 / 100 - 1) / 0.05)
    assert out.values["volume_pressure"].iloc[-1] == pytest.approx(pressure)
    assert out.signal.iloc[-1] == pytest.approx(min(pressure - trend, 1.0))
    assert out.signal.iloc[-1] > 0.9
    # mirror: price rising while the volume is on down bars -> distribution -> sell
    bars2 = path_bars([(200 - c, 200.5 - c, 199.5 - c, 200 - c) for c in closes])
    bars2["volume"] = np.array(vols, dtype=float)
    assert ind.get("wyckoff").compute(bars2, {"period": 6}).signal.iloc[-1] < -0.9


def test_phi_mft_is_the_regime_composite(bars):
    from primeflow_lib.research.regime import regime_probabilities

    probs = regime_probabilities(bars)
    sig = ind.get("phi_mft").compute(bars).signal
    expected = (
        probs["p_trend_up"] - probs["p_trend_down"] + probs["breakout_dir"] * probs["p_breakout"]
    )
    np.testing.assert_allclose(sig, expected, equal_nan=True)


# --- API ----------------------------------------------------------------------------------------


def test_compute_signals_with_labels_and_defaults(bars):
    df = ind.compute_signals(bars, {"dual_sma:short": {"fast": 5, "slow": 10}, "dual_sma": None})
    assert list(df.columns) == ["dual_sma:short", "dual_sma"]
    assert df.index.equals(bars.index)
    assert df["dual_sma:short"].isna().sum() == 9 and df["dual_sma"].isna().sum() == 19
    assert ind.max_lookback({"rsi": {}, "macd": {}}) == 33


@pytest.mark.parametrize(
    ("name", "params", "needle"),
    [
        ("rsi", {"perod": 3}, "unknown parameter 'perod'"),
        ("rsi", {"period": 2.5}, "'period' value 2.5 must be a whole number"),
        ("rsi", {"period": "x"}, "'period' value 'x' is not a number"),
        ("dual_sma", {"fast": 30, "slow": 20}, "fast (30) must be < slow (20)"),
        ("nope", {}, "unknown indicator 'nope'"),
    ],
)
def test_bad_parameters_name_the_parameter(name, params, needle, bars):
    with pytest.raises(ResearchError) as exc:
        ind.get(name).compute(bars, params)
    assert needle in str(exc.value)


def test_signals_do_not_depend_on_the_index_type():
    b = make_bars(100, seed=4)
    same = b.reset_index(drop=True)
    a = ind.compute_signals(b, {"rsi": {}, "cmf": {}}).to_numpy()
    c = ind.compute_signals(same, {"rsi": {}, "cmf": {}}).to_numpy()
    np.testing.assert_array_equal(a, c)
    assert isinstance(ind.compute_signals(same, {"rsi": {}}), pd.DataFrame)

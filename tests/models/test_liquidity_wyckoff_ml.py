"""LiquidityPools and WyckoffML as registry indicators: sweeps on a constructed path, the event
study, and the tuner (DSR, PBO) applying to them unchanged."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from model_fixtures import walk_bars

from primeflow_lib.research.errors import ResearchError
from primeflow_lib.research.indicators import get
from primeflow_lib.research.liquidity import event_study, sweep_events
from primeflow_lib.research.tuning import TuneConfig, phiai_full_auto
from primeflow_lib.research.tuning.folds import FoldSpec


def test_a_swing_high_is_a_level_only_after_it_is_confirmed_and_a_sweep_fades_it():
    high = np.array([10, 11, 12, 15, 12, 11, 10, 11, 16, 12, 11], dtype=float)
    low = high - 2
    close = high - 0.5
    close[8] = 14.0  # bar 8 trades to 16 above the swing high 15 (bar 3) and closes back below
    ev = sweep_events(high, low, close, swing=2, window=50)
    assert ev[8] == -1 and (ev[[0, 1, 2, 3, 4, 5, 6, 7, 9, 10]] == 0).all()
    early = high.copy()
    early[5] = 16.0  # bar 5: the swing at bar 3 is not confirmed before bar 6 -> no event
    ev2 = sweep_events(early, early - 2, np.minimum(close, early - 0.5), swing=2, window=50)
    assert ev2[5] == 0


def test_a_sell_side_sweep_is_bullish_and_the_signal_halves_every_decay_bars():
    low = np.array([20, 19, 18, 15, 18, 19, 20, 19, 14, 19, 19, 19, 19], dtype=float)
    high = low + 2
    close = low + 0.5
    close[8] = 16.0
    bars = pd.DataFrame({"open": close, "high": high, "low": low, "close": close, "volume": 1e5},
                        index=pd.DatetimeIndex(pd.bdate_range("2024-01-01", periods=13), name="ts"))
    sig = get("liquidity_pools").compute(bars, {"swing": 2, "decay": 2}).signal.to_numpy()
    assert np.isnan(sig[:4]).all() and sig[8] == 1.0
    assert sig[10] == pytest.approx(0.5) and sig[12] == pytest.approx(0.25)


def test_event_study_on_a_random_walk_finds_no_effect_and_reports_intervals():
    table = event_study(walk_bars(3000, seed=21), swing=3, window=50, horizons=(1, 5), n_boot=500)
    assert list(table["horizon"]) == [1, 5] and (table["events"] > 50).all()
    assert (table["diff_lo"] < 0).all() and (table["diff_hi"] > 0).all()  # 0 inside the 95 % interval
    assert (table["event_lo"] <= table["event_mean"]).all() and (table["event_mean"] <= table["event_hi"]).all()
    with pytest.raises(ResearchError, match="horizons: 0"):
        event_study(walk_bars(300), horizons=(0,))


def test_wyckoff_ml_learns_a_real_edge_and_stays_near_zero_on_noise():
    sig_ar = get("wyckoff_ml").compute(walk_bars(1500, seed=3, ar=0.5), {"horizon": 1}).signal
    sig_rw = get("wyckoff_ml").compute(walk_bars(1500, seed=3), {"horizon": 1}).signal
    c_ar = walk_bars(1500, seed=3, ar=0.5)["close"]
    nxt = np.sign(c_ar.shift(-1) - c_ar)
    hit = (np.sign(sig_ar) == nxt)[sig_ar.notna() & nxt.notna()].mean()
    assert hit > 0.55  # a coin: 0.50 +/- 0.015 on these 1,200 bars
    assert sig_rw.abs().mean() < sig_ar.abs().mean()


@pytest.mark.parametrize("name", ["liquidity_pools", "wyckoff_ml"])
def test_the_tuner_dsr_and_pbo_apply_unchanged(name):
    tc = TuneConfig(indicators=(name,), trials=24, folds=FoldSpec(n_folds=3), pbo_splits=8)
    # wyckoff_ml's longest lookback in its tune range is 570 bars: folds need that many
    study = phiai_full_auto(walk_bars(1400 if name == "liquidity_pools" else 3500, seed=4), tc)
    assert len(study.trials) == 24 and set(study.trials["indicator"]) == {name}
    assert 0.0 <= study.stats["pbo"] <= 1.0 and np.isfinite(study.stats["dsr"])
    assert study.verdict

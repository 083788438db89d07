"""The leakage gates run as tests, and each is shown to fail on a protocol that leaks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from model_fixtures import walk_bars

from primeflow_lib.research.models import ModelConfig
from primeflow_lib.research.models import gates as g
from primeflow_lib.research.models.features import build_features
from primeflow_lib.research.models.lab import plan_folds

CFG = ModelConfig(models=("logistic",), indicators=("rsi", "momentum", "macd"), include_regime=False,
                  gates=False)


@pytest.fixture(scope="module")
def setup():
    bars = walk_bars(7000, seed=11)
    ff = build_features(bars, CFG.indicators, CFG.include_regime)
    folds, _ = plan_folds(len(bars), ff.first, CFG)
    return bars, folds


def leaky(frame: pd.DataFrame):
    """One feature: the next bar's return (what a careless shift(-1) produces)."""
    c = frame["close"].to_numpy()
    nxt = np.r_[np.log(c[1:] / c[:-1]), 0.0]
    return pd.DataFrame({"next_ret": nxt}, index=frame.index), 2, None


def noise(frame: pd.DataFrame):
    """Features unrelated to prices: shifting them cannot reveal anything."""
    rng = np.random.default_rng(0)
    return pd.DataFrame(rng.normal(size=(len(frame), 3)), index=frame.index, columns=list("abc")), 2, None


def test_shuffled_labels_give_auc_within_half_plus_minus_002(setup):
    bars, folds = setup
    r = g.shuffled_labels(bars, CFG, "logistic", folds)
    assert r["tolerance"] == pytest.approx(0.02)  # enough test bars for the strict band
    assert r["passed"], r["detail"]
    assert abs(r["value"] - 0.5) <= 0.02


def test_shuffled_labels_gate_fails_when_scores_still_carry_the_test_labels(setup):
    bars, folds = setup
    r = g.shuffled_labels(bars, CFG, "logistic", folds, feature_fn=leaky)
    assert not r["passed"] and abs(r["value"] - 0.5) > 0.1, r["detail"]


def test_features_shifted_one_bar_into_the_future_raise_auc(setup):
    bars, folds = setup
    r = g.future_shift(bars, CFG, "logistic", folds)
    assert r["passed"], r["detail"]
    assert r["value"] > 0.9 and r["reference"] < 0.56


def test_future_shift_gate_fails_when_the_scoring_cannot_see_a_look_ahead(setup):
    bars, folds = setup
    r = g.future_shift(bars, CFG, "logistic", folds, feature_fn=noise)
    assert not r["passed"], r["detail"]


def test_bars_after_a_folds_end_change_nothing_inside_it(setup):
    bars, folds = setup
    r = g.truncation(bars, CFG, "logistic", folds)
    assert r["passed"] and r["value"] == 0.0, r["detail"]


def test_truncation_gate_fails_on_a_feature_that_reads_the_next_bar(setup):
    bars, folds = setup
    r = g.truncation(bars, CFG, "logistic", folds, feature_fn=leaky)
    assert not r["passed"] and r["value"] > 1e-6, r["detail"]


def test_truncation_gate_holds_for_lightgbm_and_the_full_feature_set():
    bars = walk_bars(1400, seed=12)
    cfg = ModelConfig(models=("lightgbm",), gates=False)
    ff = build_features(bars)
    folds, _ = plan_folds(len(bars), ff.first, cfg)
    r = g.truncation(bars, cfg, "lightgbm", folds)
    assert r["passed"], r["detail"]


def test_perturbed_bars_are_valid_and_untouched_before_the_cut():
    bars = walk_bars(300, seed=13)
    out = g.perturb_after(bars, 200, 1)
    pd.testing.assert_frame_equal(out.iloc[:200], bars.iloc[:200])
    assert not np.allclose(out["close"].to_numpy()[200:], bars["close"].to_numpy()[200:])
    assert (out["high"] >= out[["open", "close"]].max(axis=1)).all()

"""The model lab: labels, baselines, the model-vs-baseline verdict, storage, bad input."""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pandas as pd
import pytest
from model_fixtures import walk_bars

from primeflow_lib.research.errors import ResearchError
from primeflow_lib.research.models import ModelConfig, fit_models
from primeflow_lib.research.models import estimators as est
from primeflow_lib.research.models.labels import make_labels
from primeflow_lib.research.models.store import load_model, write_model_study
from primeflow_lib.research.tuning.folds import FoldSpec

FAST = {"indicators": ("rsi", "momentum", "macd"), "include_regime": False}


def cfg(**kw) -> ModelConfig:
    return ModelConfig(**{"models": ("logistic",), "gates": False, **FAST, **kw})


def test_direction_label_uses_exactly_the_next_horizon_bars():
    bars = walk_bars(50, seed=3)
    y = make_labels(bars, "direction", 3)
    c = bars["close"].to_numpy()
    assert (y[-3:] == -1).all()
    assert np.array_equal(y[:-3], (c[3:] > c[:-3]).astype(int))


def test_vol_bucket_label_compares_future_with_past_variance():
    alt = (-1.0) ** np.arange(60)
    r = np.where(np.arange(60) < 30, 0.001, 0.05) * alt
    c = 100 * np.exp(np.cumsum(r))
    bars = walk_bars(60, seed=4).assign(close=c, open=c, high=c * 1.06, low=c * 0.94)
    y = make_labels(bars, "vol_bucket", 5)
    assert y[29] == 2  # calm past, swings of 5 % ahead
    assert y[40] == 1 and y[20] == 1
    assert (y[-5:] == -1).all() and (y[:5] == -1).all()


def test_persistence_baseline_predicts_the_last_known_label():
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, -1])
    probs = est.persistence(y, np.arange(0, 8), np.arange(8, 12), 1, 2)
    assert np.array_equal(np.argmax(probs, axis=1), y[7:11])
    assert probs[0, 0] == pytest.approx(6 / 7)  # labels repeated 6 times in 7 in the train window
    flip = np.array([1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, -1, -1])  # never repeats 2 bars later
    probs = est.persistence(flip, np.arange(0, 8), np.arange(8, 12), 2, 2)
    assert np.array_equal(np.argmax(probs, axis=1), 1 - flip[6:10])


def test_random_walk_has_no_edge_and_the_table_holds_the_three_baselines():
    study = fit_models(walk_bars(1500, seed=1), cfg())
    table = study.table()
    assert list(table["model"]) == ["logistic", "majority", "persistence", "logistic_baseline"]
    assert set(table.loc[table.role == "baseline", "model"]) == set(est.BASELINES)
    assert not study.edge and study.verdict.startswith("no edge:")
    assert study.stats["n_trials"] == 4 * len(study.config.thresholds)
    assert study.purge == 1 and all(f.test_start - f.train_end >= 1 for f in study.folds)


def test_a_real_edge_beats_the_baselines():
    study = fit_models(walk_bars(2500, seed=2, ar=0.4), cfg(models=("lightgbm", "logistic")))
    pooled = study.table().set_index("model")
    assert study.edge, study.verdict
    assert pooled.loc[study.best_model, "auc"] > 0.6
    assert study.verdict.startswith("edge over the baselines")
    assert study.stats["oos_sharpe_ann"] > study.stats["buy_hold_sharpe_ann"]


def test_signals_are_nan_before_the_first_test_bar_and_within_bounds():
    study = fit_models(walk_bars(1200, seed=5), cfg())
    s = study.signal("logistic")
    assert np.isnan(s[: study.oos_start]).all()
    assert np.isfinite(s[study.oos_start:]).all() and np.abs(s[study.oos_start:]).max() <= 1


def test_stored_fit_lands_in_the_tables_and_the_model_file_keeps_its_hash(tmp_path):
    study = fit_models(walk_bars(1200, seed=6), cfg(gates=True))
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    write_model_study(con, study)
    write_model_study(con, study)  # idempotent: the fit id's rows are replaced
    fits = con.execute("SELECT model, role, fold, auc, model_hash, model_path FROM research.model_fits "
                       "WHERE fit_id = ? ORDER BY model, fold", [study.fit_id]).df()
    assert len(fits) == 4 * (len(study.folds) + 1)
    row = fits[(fits.model == "logistic") & (fits.fold == -1)].iloc[0]
    payload = load_model(row.model_path)
    assert payload["features"] == study.features and row.model_path.endswith(f"_{row.model_hash}.pkl")
    gates = con.execute("SELECT gate, passed FROM research.model_gates WHERE fit_id = ?", [study.fit_id]).fetchall()
    assert {g for g, _ in gates} == {"shuffled_labels", "future_shift", "truncation"}
    n_sig = con.execute("SELECT count(*) FROM research.model_signals WHERE fit_id = ?", [study.fit_id]).fetchone()[0]
    assert n_sig == 4 * (len(study.index) - study.oos_start)
    st = con.execute("SELECT edge, verdict, n_trials, trials FROM research.model_studies").fetchone()
    assert st[1] == study.verdict and len(json.loads(st[3])) == st[2]
    with open(row.model_path, "ab") as fh:
        fh.write(b"tampered")
    with pytest.raises(ResearchError, match="does not match the hash"):
        load_model(row.model_path)


@pytest.mark.parametrize(
    ("bars_n", "kw", "match"),
    [
        (150, {}, r"bars: 150 bars are too few for 5 folds"),
        (800, {"horizon": 200}, r"label.horizon: 200 bars is longer than the test fold"),
        (800, {"models": ("xgboost",)}, r"models: unknown model 'xgboost'"),
        (800, {"label": "colour"}, r"label: 'colour' is not one of"),
        (800, {"horizon": 0}, r"label.horizon: 0 must be a whole number"),
        (800, {"folds": FoldSpec(n_folds=0)}, r"folds.n_folds: 0"),
    ],
)
def test_bad_input_names_the_parameter_and_value(bars_n, kw, match):
    with pytest.raises(ResearchError, match=match):
        fit_models(walk_bars(bars_n, seed=7), cfg(**kw))


def test_constant_and_nan_features_are_refused_by_name():
    bars = walk_bars(600, seed=8)
    flat = bars.assign(volume=0.0)  # cmf and vwap_dev: no volume -> a constant 0 signal
    with pytest.raises(ResearchError, match=r"features.sig_cmf: constant"):
        fit_models(flat, cfg(indicators=("rsi", "cmf")))
    from primeflow_lib.research.models.features import check_features

    X = pd.DataFrame({"a": np.arange(10.0), "b": np.r_[np.arange(9.0), np.nan]},
                     index=pd.bdate_range("2024-01-01", periods=10))
    with pytest.raises(ResearchError, match=r"features.b: value nan at bar 9 \(2024-01-12"):
        check_features(X, 2)


def test_majority_baseline_is_the_train_frequencies_with_one_extra_count_per_class():
    probs = est.majority(np.array([0, 0, 0, 1]), 3, 3)
    np.testing.assert_allclose(probs, np.tile([4 / 7, 2 / 7, 1 / 7], (3, 1)))

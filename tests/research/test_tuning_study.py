"""PhiAI studies: determinism, no look-ahead across folds, reuse of the engine, statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest
from research_fixtures import make_bars

from primeflow_lib.research import RunConfig, simulate
from primeflow_lib.research.errors import ResearchError
from primeflow_lib.research.indicators import get
from primeflow_lib.research.metrics import simple_returns
from primeflow_lib.research.tuning import FoldSpec, TuneConfig, phiai_full_auto, tune_indicator
from primeflow_lib.research.tuning.evaluate import evaluate

TC = TuneConfig(indicators=("rsi", "macd"), trials=120, seed=5, folds=FoldSpec(n_folds=3), pbo_splits=8)
BASE = RunConfig.from_dict({"dataset": {"symbol": "TEST"}})


@pytest.fixture(scope="module")
def bars():
    return make_bars(1200, seed=8)


@pytest.fixture(scope="module")
def study(bars):
    return phiai_full_auto(bars, TC, BASE)


def test_same_config_and_seed_same_study_byte_for_byte(bars, study):
    again = phiai_full_auto(bars, TC, BASE)
    assert again.study_id == study.study_id
    assert again.trials.drop(columns=["is_sharpe", "oos_sharpe"]).equals(
        study.trials.drop(columns=["is_sharpe", "oos_sharpe"])
    )
    assert np.array_equal(np.stack(again.trials["is_sharpe"]), np.stack(study.trials["is_sharpe"]))
    assert again.oos_returns.tobytes() == study.oos_returns.tobytes()
    assert again.stats == study.stats and again.chosen == study.chosen
    other = phiai_full_auto(bars, TuneConfig(**{**TC.__dict__, "seed": 6}), BASE)
    assert other.study_id != study.study_id
    assert list(other.trials["params"]) != list(study.trials["params"])


def test_trial_counts_and_statistics(study):
    n = len(study.trials)
    assert n == TC.trials  # every trial counts in N
    assert study.stats["n_trials"] == n
    assert (study.trials["indicator"] == "rsi").sum() == 60
    assert 0.0 <= study.stats["pbo"] <= 1.0 and 0.0 <= study.stats["dsr"] <= study.stats["psr"] <= 1.0
    assert study.pbo.n_combinations == math.comb(8, 4)
    assert len(study.oos_returns) == sum(f.test_end - f.test_start for f in study.folds)
    assert study.purge >= max(get(k).lookback(p) for k, p in study.chosen.items()) + 1
    assert study.verdict.split(":")[0] in ("likely overfit", "not significant after deflation", "passes")


def test_a_trial_is_the_engine_backtest_of_its_signal(bars, study):
    p = study.trials["params"].iloc[10]
    ind = study.trials["indicator"].iloc[10]
    blk = evaluate(bars, ind, [p], BASE.engine_params(), study.folds)
    sig = get(ind).compute(bars, p).signal
    eq = simulate(bars, sig, BASE.engine_params()).equity.to_numpy()
    assert np.allclose(blk.returns[0], simple_returns(eq, BASE.capital), rtol=0, atol=1e-14)


@pytest.mark.parametrize("fold", [0, 1, 2])
def test_no_look_ahead_perturbing_a_test_fold_keeps_its_selection(bars, study, fold):
    f = study.folds[fold]
    noisy = bars.copy()
    rng = np.random.default_rng(fold)
    factor = np.exp(np.cumsum(rng.normal(0, 0.03, f.test_end - f.test_start)))
    cols = ["open", "high", "low", "close"]
    noisy.iloc[f.test_start : f.test_end, [noisy.columns.get_loc(c) for c in cols]] *= factor[:, None]
    other = phiai_full_auto(noisy, TC, BASE)
    # the selections of this fold and of every earlier one only see bars before their test window
    assert other.fold_winners[: fold + 1] == study.fold_winners[: fold + 1]
    assert np.array_equal(
        np.stack(other.trials["is_sharpe"])[:, : fold + 1], np.stack(study.trials["is_sharpe"])[:, : fold + 1]
    )
    if fold == len(study.folds) - 1:
        assert other.chosen == study.chosen  # the deployed parameters ignore the last test window
    # while the test window itself did change the out-of-sample result
    assert not np.array_equal(other.oos_returns, study.oos_returns)


def test_tune_indicator_alone(bars, study):
    blk = tune_indicator(bars, "rsi", BASE, study.folds, 64, "random", 1)
    assert blk.returns.shape == (64, len(bars)) and blk.is_sharpe.shape == (64, 3)


def test_bad_tune_configs():
    with pytest.raises(ResearchError, match="trials: 0 must be"):
        TuneConfig(indicators=("rsi",), trials=0)
    with pytest.raises(ResearchError, match="metric: 'calmar'"):
        TuneConfig(indicators=("rsi",), metric="calmar")
    with pytest.raises(ResearchError, match="unknown indicator 'nope'"):
        TuneConfig(indicators=("nope",))
    with pytest.raises(ResearchError, match="tune config: unknown key 'budget'"):
        TuneConfig.from_dict({"indicators": "rsi", "budget": 3})
    assert TuneConfig.from_dict({"indicators": "rsi, macd", "folds": {"n_folds": 2}}).folds.n_folds == 2


def test_folds_too_short_for_the_lookback(bars):
    with pytest.raises(ResearchError, match="folds.test_bars"):
        phiai_full_auto(bars.iloc[:300], TuneConfig(indicators=("macd",), trials=10), BASE)

"""HMM regimes: filtered posteriors are causal (the smoothed ones are not), states are ordered
by volatility, BIC finds the number of regimes, the comparison with MFT is computed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from primeflow_lib.research.models.hmm import (
    HMMConfig,
    _fit,
    choose_k,
    eta_squared,
    filtered_posteriors,
    fit_hmm_regimes,
    write_hmm_study,
)
from primeflow_lib.research.tuning.folds import FoldSpec


def two_regime_bars(n: int = 1600, seed: int = 0) -> pd.DataFrame:
    """Blocks of 100 bars alternating between 0.4 % and 2 % daily volatility."""
    rng = np.random.default_rng(seed)
    vol = np.where((np.arange(n) // 100) % 2 == 0, 0.004, 0.02)
    c = 100 * np.exp(np.cumsum(rng.normal(0, vol)))
    o = np.r_[c[0], c[:-1]]
    idx = pd.DatetimeIndex(pd.bdate_range("2015-01-01", periods=n), name="ts")
    return pd.DataFrame({"open": o, "high": np.maximum(o, c) * 1.001, "low": np.minimum(o, c) * 0.999,
                         "close": c, "volume": 1e6}, index=idx)


@pytest.fixture(scope="module")
def obs():
    rng = np.random.default_rng(1)
    vol = np.where((np.arange(1200) // 100) % 2 == 0, 0.5, 2.0)
    return np.column_stack([rng.normal(0, vol), np.log(vol) + rng.normal(0, 0.1, 1200)])


def test_filtered_posteriors_use_no_later_bar_but_smoothed_ones_do():
    rng = np.random.default_rng(5)
    vol = np.where((np.arange(1200) // 50) % 2 == 0, 1.0, 1.6)  # regimes hard to tell apart
    obs = np.column_stack([rng.normal(0, vol), np.log(vol) + rng.normal(0, 0.6, 1200)])
    m = _fit(obs[:800], 2, HMMConfig())
    changed = obs.copy()
    changed[600:] = changed[600:][::-1] * 3.0
    f1, f2 = filtered_posteriors(m, obs), filtered_posteriors(m, changed)
    np.testing.assert_allclose(f1[:600], f2[:600], atol=1e-12)
    s1, s2 = m.predict_proba(obs), m.predict_proba(changed)
    assert np.abs(s1[:600] - s2[:600]).max() > 1e-3  # hmmlearn's smoothed posterior looks ahead
    np.testing.assert_allclose(f1.sum(axis=1), 1.0)


def test_forward_algorithm_matches_hmmlearn_on_the_last_bar(obs):
    m = _fit(obs[:500], 2, HMMConfig())
    # the smoothed and filtered posteriors coincide on the last observation
    np.testing.assert_allclose(filtered_posteriors(m, obs[:500])[-1], m.predict_proba(obs[:500])[-1], atol=1e-6)


def test_states_are_ordered_by_volatility_after_every_refit(obs):
    for seed in (1, 2, 3):
        m = _fit(obs, 3, HMMConfig(seed=seed))
        assert np.all(np.diff(m.covars_[:, 0, 0]) > 0)


def test_bic_picks_the_true_number_of_regimes(obs):
    k, bic = choose_k(obs, HMMConfig(k_range=(2, 4)))
    assert k == 2 and set(bic) == {2, 3, 4}


def test_walk_forward_study_separates_volatility_and_is_stored(tmp_path):
    import duckdb

    study = fit_hmm_regimes(two_regime_bars(1200), HMMConfig(k_range=(2, 3), folds=FoldSpec(n_folds=3), n_iter=50), "SYN")
    assert study.k in (2, 3) and set(study.bic) == {2, 3}
    per = {r["state"]: r for r in study.separation["hmm"]["per_state"]}
    assert per["0"]["fwd_vol_mean"] < per[str(study.k - 1)]["fwd_vol_mean"]
    assert study.separation["hmm"]["eta2_vol"] > study.separation["mft"]["eta2_vol"]
    assert 0.0 <= study.smoothed_disagreement < 0.5
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    write_hmm_study(con, study)
    n = con.execute("SELECT count(*) FROM research.hmm_states WHERE hmm_id = ?", [study.hmm_id]).fetchone()[0]
    assert n == len(study.index) - study.oos_start


def test_eta_squared_is_zero_for_uninformative_groups_and_one_for_perfect_ones():
    v = np.array([1.0, 1.0, 5.0, 5.0])
    assert eta_squared(v, np.array([0, 0, 1, 1])) == pytest.approx(1.0)
    assert eta_squared(v, np.array([0, 1, 0, 1])) == pytest.approx(0.0)


def test_bad_hmm_settings_are_named():
    from primeflow_lib.research.errors import ResearchError

    with pytest.raises(ResearchError, match=r"hmm.k_range: \(5, 2\)"):
        HMMConfig(k_range=(5, 2))
    with pytest.raises(ResearchError, match=r"hmm.horizon: 0"):
        HMMConfig(horizon=0)

"""Overfitting statistics: the DSR paper's worked example, skfolio as an oracle, hand-built CSCV
matrices and every bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm
from skfolio import measures as sk

from primeflow_lib.research import overfit as of
from primeflow_lib.research.errors import ResearchError


def test_dsr_paper_worked_example():
    # Bailey & López de Prado (2014), "The Deflated Sharpe Ratio", numerical example: N = 100
    # trials, variance of the annualised trial Sharpes 1/2, T = 1250 daily observations (250 a
    # year), annualised SR 2.5, skew -3, kurtosis 10. The paper prints SR0 = 0.1132 (per day)
    # and DSR = 0.9004 (both rounded to 4 digits).
    sd = math.sqrt(0.5 / 250)
    sr0 = of.expected_max_sharpe(100, sd)
    assert sr0 == pytest.approx(0.1132, abs=5e-5)
    dsr = of.psr_from_stats(2.5 / math.sqrt(250), 1250, -3.0, 10.0, sr0)
    assert dsr == pytest.approx(0.9004, abs=5e-5)
    # and to 1e-9 against the closed form evaluated independently here
    g = np.euler_gamma
    want_sr0 = sd * ((1 - g) * norm.ppf(1 - 1 / 100) + g * norm.ppf(1 - 1 / (100 * np.e)))
    assert sr0 == pytest.approx(want_sr0, abs=1e-12)
    sr = 2.5 / math.sqrt(250)
    z = (sr - want_sr0) * math.sqrt(1249) / math.sqrt(1 + 3 * sr + 9 / 4 * sr**2)
    assert dsr == pytest.approx(norm.cdf(z), abs=1e-12)


def test_expected_max_sharpe_edges_and_errors():
    assert of.expected_max_sharpe(1, 0.3) == 0.0
    assert of.expected_max_sharpe(50, 0.0) == 0.0
    assert of.expected_max_sharpe(1000, 0.1) > of.expected_max_sharpe(10, 0.1) > 0
    with pytest.raises(ResearchError, match="n_trials: 0"):
        of.expected_max_sharpe(0, 0.1)
    with pytest.raises(ResearchError, match="trial_sharpe_std: -1"):
        of.expected_max_sharpe(10, -1.0)


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_psr_dsr_match_skfolio(seed):
    rng = np.random.default_rng(seed)
    r = rng.standard_t(5, 750) * 0.01 + 0.0007
    for bench in (0.0, 0.02, -0.01):
        assert of.probabilistic_sharpe_ratio(r, bench) == pytest.approx(
            sk.probabilistic_sharpe_ratio(r, benchmark_sharpe_ratio=bench), abs=1e-9
        )
    trials = rng.normal(0.0, 0.03, 200)
    # skfolio: SR0 with trial mean 0 and std ddof=1 of the trials, exactly as here
    assert of.deflated_sharpe_ratio(r, trials) == pytest.approx(
        sk.deflated_sharpe_ratio(r, trials), abs=1e-9
    )
    assert of.expected_max_sharpe(200, 0.03) == pytest.approx(
        sk.expected_max_sharpe_ratio(200, 0.03), abs=1e-12
    )


def test_moments_conventions():
    rng = np.random.default_rng(9)
    r = rng.normal(0.001, 0.01, 500)
    sr, g3, g4, t = of.moments(r)
    d = r - r.mean()
    assert sr == pytest.approx(r.mean() / r.std(ddof=1), abs=1e-15)
    assert g3 == pytest.approx(np.mean(d**3) / np.mean(d**2) ** 1.5, abs=1e-12)
    assert g4 == pytest.approx(np.mean(d**4) / np.mean(d**2) ** 2, abs=1e-12)  # raw, ~3
    assert 2.5 < g4 < 3.5 and t == 500


def test_min_track_record_length_inverts_psr():
    rng = np.random.default_rng(5)
    r = rng.normal(0.002, 0.01, 400)
    sr, g3, g4, _ = of.moments(r)
    mtrl = of.min_track_record_length(r, 0.05, 0.95)
    # closed form
    want = 1 + (1 - g3 * sr + (g4 - 1) / 4 * sr**2) * (norm.ppf(0.95) / (sr - 0.05)) ** 2
    assert mtrl == pytest.approx(want, abs=1e-9)
    # PSR evaluated at exactly MinTRL observations is the requested probability
    assert of.psr_from_stats(sr, mtrl, g3, g4, 0.05) == pytest.approx(0.95, abs=1e-9)
    assert of.min_track_record_length(r, sr + 0.01) == math.inf
    with pytest.raises(ResearchError, match="prob: 1.5"):
        of.min_track_record_length(r, 0.0, 1.5)


def test_constant_series_is_defined():
    r = np.full(100, 0.001)
    assert of.sharpe_per_period(r) == 0.0
    assert of.moments(r) == (0.0, 0.0, 3.0, 100)
    assert of.probabilistic_sharpe_ratio(r) == pytest.approx(0.5)
    assert of.min_track_record_length(r) == math.inf


def test_bad_returns_and_trials():
    with pytest.raises(ResearchError, match="position 2 is not finite"):
        of.probabilistic_sharpe_ratio([0.01, 0.02, np.nan, 0.0])
    with pytest.raises(ResearchError, match="at least 2 observations"):
        of.probabilistic_sharpe_ratio([0.01])
    with pytest.raises(ResearchError, match="DSR needs at least 2 trials, got 1"):
        of.deflated_sharpe_ratio(np.ones(10) * 0.01, [0.1])
    with pytest.raises(ResearchError, match="trial_sharpes: value inf at position 1"):
        of.deflated_sharpe_ratio(np.linspace(0, 1, 10), [0.1, np.inf])


def test_cscv_split_counts():
    assert of.cscv_splits(16).shape == (12870, 16)
    assert of.cscv_splits(4).shape == (6, 4)
    s = of.cscv_splits(8)
    assert len(s) == math.comb(8, 4) and (s.sum(axis=1) == 4).all()
    assert len({tuple(row) for row in s}) == len(s)


def test_pbo_dominant_column_is_zero():
    rng = np.random.default_rng(1)
    x = rng.normal(0, 0.01, (800, 20))
    x[:, 7] += 0.02  # best in every block, in and out of sample
    res = of.pbo(x, 8)
    assert res.pbo == 0.0
    assert res.n_combinations == 70 and res.rows_used == 800
    assert (res.logits > 0).all() and res.prob_oos_loss == 0.0


def test_pbo_best_in_sample_worst_out_of_sample_is_one():
    # S = 2: the first half is one split's IS; column 0 wins there and loses in the other half
    t, n = 200, 5
    rng = np.random.default_rng(2)
    x = rng.normal(0, 0.001, (t, n))
    x[:100, 0] += 0.05
    x[100:, 0] -= 0.05
    x[100:, 1] += 0.05
    x[:100, 1] -= 0.05
    res = of.pbo(x, 2)
    assert res.n_combinations == 2
    assert res.pbo == 1.0
    assert res.logits == pytest.approx(np.full(2, math.log((1 / 6) / (5 / 6))))
    assert res.prob_oos_loss == 1.0


def test_pbo_drops_leading_residual_rows_and_is_fast_enough_shape():
    rng = np.random.default_rng(3)
    x = rng.normal(0, 0.01, (1003, 30))
    res = of.pbo(x, 10)
    assert res.rows_used == 1000
    same = of.pbo(x[3:], 10)
    assert res.pbo == same.pbo and np.array_equal(res.logits, same.logits)


def test_pbo_bad_inputs():
    x = np.zeros((100, 4))
    with pytest.raises(ResearchError, match="n_splits: 7"):
        of.pbo(x, 7)
    with pytest.raises(ResearchError, match="n_splits: 0"):
        of.pbo(x, 0)
    with pytest.raises(ResearchError, match="20 rows is too few for n_splits = 16"):
        of.pbo(np.zeros((20, 4)), 16)
    y = np.zeros((100, 4))
    y[5, 2] = np.nan
    with pytest.raises(ResearchError, match="column 2 has NaN"):
        of.pbo(y, 4)
    with pytest.raises(ResearchError, match="at least 2 configurations"):
        of.pbo(np.zeros((100, 1)), 4)


def test_verdict_wording():
    assert of.verdict(0.62, 0.99) == "likely overfit: PBO 0.62"
    assert of.verdict(0.2, 0.71) == "not significant after deflation: DSR 0.71, PBO 0.20"
    assert of.verdict(0.1, 0.97) == "passes: DSR 0.97, PBO 0.10"


def test_pbo_matches_a_naive_cscv():
    import itertools

    rng = np.random.default_rng(11)
    x = rng.normal(0.0002, 0.01, (123, 7))
    x[:, 3] = 0.0  # a flat configuration: Sharpe 0
    s = 6
    rows = x[123 % s :].reshape(s, -1, 7)

    def sr(a):
        sd = a.std(axis=0, ddof=1)
        return np.where(sd > 0, a.mean(axis=0) / np.where(sd > 0, sd, 1), 0.0)

    want = []
    for c in itertools.combinations(range(s), s // 2):
        ins = np.concatenate([rows[b] for b in c])
        outs = np.concatenate([rows[b] for b in range(s) if b not in c])
        k = int(np.argmax(sr(ins)))
        o = sr(outs)
        rank = (o < o[k]).sum() + ((o == o[k]).sum() + 1) / 2
        w = rank / 8
        want.append(math.log(w / (1 - w)))
    res = of.pbo(x, s)
    assert res.logits == pytest.approx(np.array(want), abs=1e-9)
    assert res.pbo == pytest.approx(np.mean(np.array(want) <= 0))

"""Search spaces, samplers and walk-forward folds."""

from __future__ import annotations

import numpy as np
import pytest

from primeflow_lib.research import indicators
from primeflow_lib.research.errors import ResearchError
from primeflow_lib.research.indicators import Indicator, get
from primeflow_lib.research.tuning import FoldSpec, make_folds, sample, space_for
from primeflow_lib.research.tuning.samplers import unit_draws


@pytest.mark.parametrize("name", sorted(indicators.REGISTRY))
@pytest.mark.parametrize("sampler", ["sobol", "random"])
def test_every_sample_is_valid_and_typed(name, sampler):
    space = space_for(name)
    ind = get(name)
    pts = sample(space, sampler, 256, seed=3)
    assert len(pts) == 256
    for p in pts:
        assert ind.resolve(p) == {**ind.resolve({}), **p}  # cross-rules hold, no error
        for k, v in p.items():
            assert isinstance(v, int) == ind.params[k].integer
            lo, hi, _ = ind.params[k].tune
            assert lo - 1e-9 <= v <= hi + 1e-9


def test_cross_rule_by_construction_reaches_the_whole_valid_grid():
    space = space_for("dual_sma")
    grid = space.grid_points()
    assert all(p["fast"] < p["slow"] for p in grid)
    # fast 5..50 step 5, slow 20..200 step 10, fast < slow: 174 of the 190 pairs
    want = sum(1 for sl in range(20, 201, 10) for f in range(5, 51, 5) if f < sl)
    assert len(grid) == space.grid_size() == want == 174
    drawn = {tuple(sorted(p.items())) for p in sample(space, "random", 20000, seed=1)}
    assert drawn <= {tuple(sorted(p.items())) for p in grid}
    macd = space_for("macd")
    pts = sample(macd, "sobol", 4000, seed=2)
    assert all(p["fast"] < p["slow"] for p in pts)
    assert any(p["fast"] == 19 and p["slow"] == 20 for p in pts)  # the tight corner is reachable


def test_samplers_are_deterministic_and_seeded():
    space = space_for("macd")
    for s in ("sobol", "random"):
        a, b = sample(space, s, 500, 11), sample(space, s, 500, 11)
        assert a == b
        assert a != sample(space, s, 500, 12)
    assert np.array_equal(unit_draws("sobol", 64, 3, 5), unit_draws("sobol", 64, 3, 5))


def test_grid_sampler_and_its_budget():
    space = space_for("dual_sma")
    assert sample(space, "grid", 10_000, 0) == space.grid_points()
    with pytest.raises(ResearchError, match="trials: 50 is fewer than the 174 grid points"):
        sample(space, "grid", 50, 0)
    with pytest.raises(ResearchError, match="trials: 0 must be a whole number >= 1"):
        sample(space, "sobol", 0, 0)
    with pytest.raises(ResearchError, match="sampler: 'tpe'"):
        sample(space, "tpe", 10, 0)


def test_indicator_without_tune_ranges_is_refused(monkeypatch):
    fixed = Indicator("fixed", "test", "none", {}, lambda p: 0, lambda b, p: ({}, b.close))
    monkeypatch.setitem(indicators.REGISTRY, "fixed", fixed)
    with pytest.raises(ResearchError, match="indicators: 'fixed' has no tune ranges"):
        space_for("fixed")


def test_folds_anchored_rolling_purge_and_embargo():
    folds = make_folds(1000, FoldSpec(n_folds=4, test_bars=100), purge=30, first=50)
    assert [(f.test_start, f.test_end) for f in folds] == [(600, 700), (700, 800), (800, 900), (900, 1000)]
    assert all(f.train_start == 50 and f.test_start - f.train_end == 30 for f in folds)
    roll = make_folds(1000, FoldSpec(n_folds=4, test_bars=100, anchored=False, train_bars=200, embargo=5), purge=30)
    assert all(f.train_end - f.train_start == 200 and f.test_start - f.train_end == 35 for f in roll)
    d = make_folds(1000, FoldSpec(n_folds=4), purge=30, first=50)
    assert d[-1].test_end == 1000 and d[0].test_end - d[0].test_start == (1000 - 50 - 30) // 5


def test_folds_shorter_than_the_lookback_are_refused():
    with pytest.raises(ResearchError, match=r"folds.test_bars: 40 bars per test fold is shorter than the longest lookback \(60 bars\)"):
        make_folds(500, FoldSpec(n_folds=5, test_bars=40), purge=61, min_bars=60)
    with pytest.raises(ResearchError, match="folds: train fold 1 has"):
        make_folds(500, FoldSpec(n_folds=5, test_bars=90), purge=61, first=60, min_bars=60)
    with pytest.raises(ResearchError, match="folds.train_bars: 600 does not fit before test fold 1"):
        make_folds(1000, FoldSpec(n_folds=4, test_bars=100, anchored=False, train_bars=600), purge=30)
    with pytest.raises(ResearchError, match="folds.n_folds: 0"):
        make_folds(1000, FoldSpec(n_folds=0), purge=1)

"""Memory limits of searches (issue 23, item 1): a tuning study or a sweep whose estimate is above
the budget is refused before any trial runs, with the estimate in the message."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from primeflow_lib.research import limits
from primeflow_lib.research.errors import ResearchError
from primeflow_lib.research.sweep import sma_sweep
from primeflow_lib.research.tuning import FoldSpec, TuneConfig, phiai_full_auto
from primeflow_pipelines.commands import main


def _bars(n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    idx = pd.DatetimeIndex(pd.bdate_range("2015-01-02", periods=n), name="ts")
    return pd.DataFrame({"open": close, "high": close * 1.01, "low": close * 0.99, "close": close,
                         "volume": 1e6}, index=idx)


def test_estimate_grows_with_trials_and_bars():
    a = limits.estimate_tune_bytes(1000, 260)
    assert limits.estimate_tune_bytes(2000, 260) > a and limits.estimate_tune_bytes(1000, 520) > a
    # the request: 100 million trials on the demo's SPY history is terabytes
    assert limits.estimate_tune_bytes(100_000_000, 260) > 1e12


def test_a_huge_study_is_refused_before_any_trial(monkeypatch):
    calls = []
    monkeypatch.setattr("primeflow_lib.research.tuning.study.tune_indicator",
                        lambda *a, **k: calls.append(a) or pytest.fail("a trial ran"))
    tc = TuneConfig(indicators=("rsi",), trials=100_000_000, folds=FoldSpec(n_folds=3))
    with pytest.raises(limits.ResourceLimitError) as ei:
        phiai_full_auto(_bars(), tc)
    msg = str(ei.value)
    assert "trials 100,000,000 x 300 bars" in msg and "estimated peak memory" in msg
    assert "limits.research_memory_mb" in msg and "at most about" in msg
    assert not calls


def test_the_budget_comes_from_the_config(tmp_path, monkeypatch):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump({"limits": {"research_memory_mb": 70}}))
    monkeypatch.setenv("PRIMEFLOW_CONFIG", str(cfg))
    assert limits.memory_budget_mb() == 70
    with pytest.raises(limits.ResourceLimitError, match="budget of 70 MB"):
        limits.check_tune_memory(5000, 300)
    limits.check_tune_memory(10, 300)  # fits


def test_the_cli_refuses_with_the_estimate(tmp_path):
    csv = tmp_path / "px.csv"
    _bars().rename_axis("Date").reset_index().rename(columns=str.capitalize).to_csv(csv, index=False)
    r = CliRunner().invoke(main, ["tune", "--csv", str(csv), "--indicators", "rsi", "--trials", "100000000",
                                  "--no-record"])
    assert r.exit_code == 1 and "estimated peak memory" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(main, ["tune", "--csv", str(csv), "--indicators", "rsi", "--trials", "50",
                                  "--folds", "2", "--no-record", "--memory-mb", "1"])
    assert r.exit_code == 1 and "budget of 1 MB" in r.output


def test_a_huge_sweep_is_refused():
    with pytest.raises(limits.ResourceLimitError, match=r"sweep of 999,996 periods"):
        sma_sweep(_bars(), 5, 1_000_000)


def test_negative_seed_is_a_typed_error():
    with pytest.raises(ResearchError, match="seed: -1 must be a whole number >= 0"):
        TuneConfig(indicators=("rsi",), seed=-1)

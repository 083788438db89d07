"""Plausibility of research inputs (issue 23, item 4): implausible bars and sizes are refused
with the row, the field and the value, before a backtest or a tuning study runs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from research_fixtures import as_csv_frame, make_bars

from primeflow_lib.research.data import validate_bars
from primeflow_lib.research.errors import BarsError, ResearchError, RunConfigError
from primeflow_lib.research.plausibility import PlausibilityRules, check_bars
from primeflow_lib.research.presets import preset
from primeflow_lib.research.runconfig import RunConfig
from primeflow_lib.research.runner import run_backtest
from primeflow_lib.research.tuning import FoldSpec, TuneConfig, phiai_full_auto
from primeflow_pipelines.commands import main


def _sessions(n: int = 300, seed: int = 8) -> pd.DataFrame:
    from primeflow_lib import calendar

    bars = make_bars(n, seed=seed)
    bars.index = pd.DatetimeIndex(pd.to_datetime(calendar.sessions("2022-01-03", "2024-12-31")[:n]), name="ts")
    return bars


def test_a_high_of_1e308_is_refused_with_its_row():
    bars = _sessions()
    bars.iloc[150, bars.columns.get_loc("high")] = 1e308
    with pytest.raises(BarsError) as ei:
        run_backtest(preset("dual_sma", "SPY"), bars)
    msg = str(ei.value)
    assert "row 151" in msg and f"date {bars.index[150].date()}" in msg and "field 'High' value 1e+308" in msg
    assert "spike_multiple" in msg


def test_a_50x_close_spike_is_refused():
    bars = _sessions()
    row = bars.iloc[200].copy()
    spike = row["close"] * 50
    bars.iloc[200, :4] = [row["open"], spike, row["low"], spike]
    with pytest.raises(BarsError, match=r"row 201 .*field 'High'"):
        run_backtest(preset("rsi", "SPY"), bars)
    # the tuner refuses the same bars before any trial
    with pytest.raises(BarsError, match="row 201"):
        phiai_full_auto(bars, TuneConfig(indicators=("rsi",), trials=10, folds=FoldSpec(n_folds=2)))


def test_real_moves_pass():
    bars = _sessions()
    # a 25 % earnings gap on a stock moving ~1-2 % a day
    bars.iloc[100:, :4] *= 1.25
    assert check_bars(validate_bars(bars), "1d", "x", PlausibilityRules()) == []
    run_backtest(preset("rsi", "SPY"), bars)


def test_weekend_dates_are_refused_at_daily_bars_unless_allowed(tmp_path, monkeypatch):
    bars = make_bars(120, seed=2)
    idx = bars.index.to_list()
    idx[60] = pd.Timestamp("2015-03-28")  # a Saturday between its neighbours
    bars.index = pd.DatetimeIndex(idx, name="ts")
    bars = bars.sort_index()
    with pytest.raises(BarsError, match=r"row 6[12]: field 'Date' value '2015-03-28' is a Saturday"):
        run_backtest(preset("rsi", "SPY"), bars)
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump({"research": {"plausibility": {"weekend_bars": "allow"}}}))
    monkeypatch.setenv("PRIMEFLOW_CONFIG", str(cfg))
    run_backtest(preset("rsi", "SPY"), bars)


def test_holidays_are_a_warning_on_the_result():
    bars = make_bars(200, seed=3)  # business days: 2015-01-01 and other NYSE holidays included
    res = run_backtest(preset("rsi", "SPY"), bars)
    assert any("NYSE holidays (2015-01-01" in w for w in res.warnings)


def test_sizing_beyond_capital_is_refused():
    bars = _sessions()
    opts = RunConfig.from_dict({"mode": "options", "dataset": {"symbol": "SPY"}, "indicators": {"rsi": {}},
                                "options": {"bullish": "long_call", "contracts": 1_000_000_000}})
    with pytest.raises(RunConfigError) as ei:
        run_backtest(opts, bars)
    assert "options.contracts: 1,000,000,000 structures x 100 shares" in str(ei.value)
    assert "max_notional_multiple" in str(ei.value)
    cash = preset("rsi", "SPY").replace(sizing={"mode": "fixed_cash", "value": 1e12})
    with pytest.raises(RunConfigError, match=r"sizing.value: \$1,000,000,000,000 per entry"):
        run_backtest(cash, bars)
    pct = preset("rsi", "SPY").replace(sizing={"mode": "percent_equity", "value": 1e9})
    with pytest.raises(RunConfigError, match="sizing.value: 1e\\+09 x equity"):
        run_backtest(pct, bars)
    # ten contracts of a $100 underlying on $100k is fine
    ok = opts.replace(options={"contracts": 10})
    run_backtest(ok, bars)


def test_a_period_of_a_billion_bars_is_a_typed_error():
    cfg = preset("dual_sma", "SPY").replace(indicators={"dual_sma": {"fast": 10, "slow": 1e9}})
    with pytest.raises(ResearchError, match="parameter 'slow' value 1000000000.0 must be <= 100,000 bars"):
        run_backtest(cfg, _sessions())


def test_dst_offsets_parse_and_mixed_naive_and_offset_is_refused():
    rows = {"Open": [1.0, 1.0], "High": [1.0, 1.0], "Low": [1.0, 1.0], "Close": [1.0, 1.0], "Volume": [1, 1]}
    ok = validate_bars(pd.DataFrame({"Date": ["2024-03-08 10:00-05:00", "2024-03-11 10:00-04:00"], **rows}))
    assert [str(t) for t in ok.index] == ["2024-03-08 10:00:00", "2024-03-11 10:00:00"]
    with pytest.raises(BarsError, match=r"row 2: field 'Date' value '2024-03-11 10:00' has no UTC offset"):
        validate_bars(pd.DataFrame({"Date": ["2024-03-08 10:00-05:00", "2024-03-11 10:00"], **rows}))


def test_cli_refusals_are_one_line_errors(tmp_path):
    bars = _sessions()
    bars.iloc[150, bars.columns.get_loc("high")] = 1e308
    csv = tmp_path / "px.csv"
    as_csv_frame(bars).to_csv(csv, index=False)
    r = CliRunner().invoke(main, ["backtest", "--csv", str(csv), "--strategy", "rsi", "--no-record"])
    assert r.exit_code == 1 and "field 'High' value 1e+308" in r.output and "Traceback" not in r.output
    good = tmp_path / "good.csv"
    as_csv_frame(_sessions()).to_csv(good, index=False)
    r = CliRunner().invoke(main, ["backtest", "--csv", str(good), "--strategy", "rsi", "--mode", "options",
                                  "--structure", "long_call", "--contracts", "1000000000", "--no-record"])
    assert r.exit_code == 1 and "options.contracts: 1,000,000,000" in r.output and "Traceback" not in r.output
    assert np.isfinite(bars["close"]).all()

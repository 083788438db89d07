"""``auto_tune: true``: tuned on bars strictly before dataset.start, recorded with the run, the
run linked to its study."""

from __future__ import annotations

import json

import duckdb
import pytest
from research_fixtures import make_bars

from primeflow_lib.research import RunConfig, RunConfigError, read_run, record_run, run_backtest


@pytest.fixture(scope="module")
def long_bars():
    return make_bars(1400, seed=21)


def _cfg(start: str) -> RunConfig:
    return RunConfig.from_dict({
        "dataset": {"symbol": "TEST", "start": start},
        "indicators": {"rsi": {"auto_tune": True}, "bollinger": {"params": {"period": 20}}},
        "blend": {"mode": "weighted_sum"},
    })  # fmt: skip


def test_auto_tune_runs_on_the_window_with_tuned_values(long_bars):
    start = str(long_bars.index[1000].date())
    res = run_backtest(_cfg(start), long_bars)
    assert res.equity.index[0] == long_bars.index[1000]  # the run covers start .. end only
    study = res.tuning
    assert study is not None and study.last_bar < long_bars.index[1000]  # tuned strictly before
    assert res.config.indicators["rsi"].params == study.chosen["rsi"]
    assert res.config.indicators["rsi"].auto_tune is True
    assert res.config.indicators["bollinger"].params == {"period": 20}  # not flagged: unchanged
    assert f"tuning_study:{study.study_id}" in res.config.tags
    assert study.run_id == res.run_id
    # tuning is deterministic: the same config and bars give the same run
    again = run_backtest(_cfg(start), long_bars)
    assert again.run_id == res.run_id and again.tuning.study_id == study.study_id


def test_auto_tune_run_is_stored_with_its_study(long_bars):
    start = str(long_bars.index[1000].date())
    res = run_backtest(_cfg(start), long_bars)
    con = duckdb.connect()
    record_run(con, res)
    stored = read_run(con, res.run_id)
    assert stored["run"]["config"]["indicators"]["rsi"]["params"] == json.loads(
        json.dumps(res.tuning.chosen["rsi"])
    )
    row = con.execute(
        "SELECT study_id, run_id, params FROM research.tuned_parameters WHERE indicator = 'rsi'"
    ).fetchall()
    assert row == [(res.tuning.study_id, res.run_id, json.dumps(res.tuning.chosen["rsi"], sort_keys=True))]
    n = con.execute("SELECT count(*) FROM research.tuning_trials WHERE study_id = ?", [res.tuning.study_id]).fetchall()[0][0]
    assert n == len(res.tuning.trials) > 100


def test_auto_tune_without_enough_history_is_a_clear_error(long_bars):
    start = str(long_bars.index[150].date())
    with pytest.raises(RunConfigError, match=r"auto_tune: 150 bars before dataset.start"):
        run_backtest(_cfg(start), long_bars)

"""PhiAI tuning assets through Dagster: a launchpad study lands in the three tables."""

import base64
import re

import dagster as dg
import pytest

from primeflow_lib import warehouse
from primeflow_pipelines.defs.research.tuning import tuned_parameters, tuning_trials


@pytest.mark.slow
def test_launchpad_study_lands_in_the_three_tables(resources, store_daily_bars):
    store_daily_bars("TUNE", 900, 4, "2020-01-02")
    cfg = {"symbol": "TUNE", "tune_config": "indicators: [rsi, macd]\ntrials: 120\nfolds: {n_folds: 3}\nseed: 3\n"}
    res = dg.materialize([tuning_trials, tuned_parameters], resources=resources,
                         instance=dg.DagsterInstance.ephemeral(),
                         run_config={"ops": {"research__tuning_trials": {"config": cfg},
                                             "research__tuned_parameters": {"config": cfg}}})
    assert res.success
    md = res.asset_materializations_for_node("research__tuning_trials")[0].metadata
    sid = md["study_id"].value
    for key in ("is_vs_oos", "pbo_logits"):
        png = re.search(r"base64,([A-Za-z0-9+/=]+)\)", md[key].value).group(1)
        assert base64.b64decode(png).startswith(b"\x89PNG") and len(png) < 200_000
    assert "trial_no" in md["top_trials"].value and "pbo" in md["statistics"].value
    md2 = res.asset_materializations_for_node("research__tuned_parameters")[0].metadata
    assert md2["study_id"].value == sid and md2["verdict"].value == md["verdict"].value
    with warehouse.connect() as con:
        n = con.execute("SELECT count(*) FROM research.tuning_trials WHERE study_id = ?", [sid]).fetchone()[0]
        studies = con.execute("SELECT n_trials FROM research.tuning_studies WHERE study_id = ?", [sid]).fetchall()
        tp = con.execute("SELECT run_id, verdict FROM research.tuned_parameters WHERE study_id = ?", [sid]).fetchall()
        runs = con.execute("SELECT tags FROM research.backtest_runs WHERE run_id = ?", [tp[0][0]]).fetchall()
    assert n == 120 and studies == [(120,)]
    assert tp and all(r[0] == tp[0][0] for r in tp) and runs and f"tuning_study:{sid}" in runs[0][0]


@pytest.mark.slow
def test_auto_tune_through_the_backtest_launchpad(resources, store_daily_bars):
    from primeflow_pipelines.defs.research.assets import backtest_runs

    store_daily_bars("TUNE", 900, 4, "2020-01-02")
    yaml_cfg = ("dataset: {symbol: TUNE, start: '2022-09-01'}\n"
                "indicators: {rsi: {auto_tune: true}}\n")
    res = dg.materialize([backtest_runs], resources=resources, instance=dg.DagsterInstance.ephemeral(),
                         run_config={"ops": {"research__backtest_runs": {"config": {"run_config": yaml_cfg}}}})
    assert res.success
    run_id = res.asset_materializations_for_node("research__backtest_runs")[0].metadata["run_id"].value
    with warehouse.connect() as con:
        first = con.execute("SELECT first_bar FROM research.backtest_runs WHERE run_id = ?", [run_id]).fetchone()[0]
        linked = con.execute("SELECT study_id FROM research.tuned_parameters WHERE run_id = ?", [run_id]).fetchall()
    assert str(first.date()) >= "2022-09-01" and len(linked) == 1

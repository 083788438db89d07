"""The Models, Regimes and System pages through AppTest on the small test warehouse plus a
model fit, an HMM fit, MFT regimes and blends, and a Dagster run history of its own."""

from __future__ import annotations

import sqlite3

import duckdb
import pytest
import wb_fixtures

from primeflow_lib import warehouse
from primeflow_lib.research import preset
from primeflow_lib.research.models import ModelConfig, fit_models
from primeflow_lib.research.models.hmm import HMMConfig, fit_hmm_regimes, write_hmm_study
from primeflow_lib.research.models.store import write_model_study
from primeflow_lib.research.rows import blend_rows, regime_rows
from primeflow_lib.research.tuning.folds import FoldSpec


def no_traceback(at) -> None:
    assert not at.exception, [e.value for e in at.exception]


def texts(at, kind: str) -> list[str]:
    return [e.value for e in getattr(at, kind)]


@pytest.fixture
def with_models(wb, tmp_path, monkeypatch):
    monkeypatch.setenv("PRIMEFLOW_MODELS_DIR", str(tmp_path / "models"))
    bars = wb_fixtures.spy_bars(wb["read"])
    study = fit_models(bars, ModelConfig(models=("logistic",), indicators=("rsi", "macd"), include_regime=False,
                                         folds=FoldSpec(n_folds=3), base=ModelConfig().base.replace(
                                             dataset={"symbol": "SPY"})))
    hmm = fit_hmm_regimes(bars, HMMConfig(k_range=(2, 3), folds=FoldSpec(n_folds=2), n_iter=30), "SPY")
    con = duckdb.connect(str(wb["read"]))
    try:
        write_model_study(con, study)
        write_hmm_study(con, hmm)
        warehouse.append_rows(con, "research.regimes", regime_rows(bars, None, "SPY"))
        warehouse.append_rows(con, "research.blends", blend_rows(bars, preset("phibot", "SPY"), "SPY"))
    finally:
        con.close()
    return study, hmm


def test_models_page_says_how_to_get_a_fit_when_there_is_none(app, wb):
    at = app.run().switch_page("pages/models.py").run()
    no_traceback(at)
    assert any("primeflow model fit --symbol SPY" in i for i in texts(at, "info"))


def test_models_page_shows_baselines_gates_calibration_and_a_no_edge_verdict(app, with_models):
    study, _ = with_models
    at = app.run().switch_page("pages/models.py").run()
    no_traceback(at)
    assert "Out of sample: models vs baselines" in texts(at, "subheader")
    tables = [d.value for d in at.dataframe if "role" in d.value.columns and "auc" in d.value.columns]
    assert set(tables[0]["model"]) == {"logistic", "majority", "persistence", "logistic_baseline"}
    gates = [s for s in texts(at, "success") + texts(at, "error") if s.split(":")[0] in
             ("shuffled_labels", "future_shift", "truncation")]
    assert len(gates) == 3
    verdict = texts(at, "error") if not study.edge else texts(at, "success")
    assert any(("No edge" in v) != study.edge for v in verdict)


def test_regimes_page_shows_mft_blender_weights_and_filtered_hmm_states(app, with_models):
    _, hmm = with_models
    at = app.run().switch_page("pages/regimes.py").run()
    no_traceback(at)
    heads = texts(at, "subheader")
    assert "MFT regime probabilities · SPY" in heads and "Hidden-Markov regimes" in heads
    assert any("only the filtered (causal) posterior is used" in c for c in texts(at, "caption"))
    sep = [d.value for d in at.dataframe if "eta2_forward_vol" in d.value.columns]
    assert list(sep[0]["model"]) == ["hmm", "mft"]
    assert len(at.get("vega_lite_chart")) >= 3  # MFT probabilities, blend weights, HMM states


def test_system_page_reads_heartbeat_alerts_quarantine_and_the_dagster_history(app, wb, tmp_path, monkeypatch):
    home = tmp_path / "dagster_home"
    (home / "history").mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(home / "history" / "runs.db")
    con.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY, run_id TEXT, pipeline_name TEXT, status TEXT, "
                "start_time FLOAT, end_time FLOAT)")
    con.execute("INSERT INTO runs VALUES (1, 'r1', 'models_job', 'SUCCESS', 1700000000.0, 1700000002.5)")
    con.execute("CREATE TABLE daemon_heartbeats (daemon_type TEXT, timestamp TIMESTAMP)")
    con.commit()
    con.close()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    at = app.run().switch_page("pages/system.py").run()
    no_traceback(at)
    runs = [d.value for d in at.dataframe if "job" in d.value.columns]
    assert list(runs[0]["job"]) == ["models_job"] and runs[0]["seconds"].iloc[0] == 2.5
    assert any("the Dagster daemon is not running" in i for i in texts(at, "info"))
    alerts = [d.value for d in at.dataframe if "all_time" in d.value.columns and "status" in d.value.columns]
    assert alerts and int(alerts[0]["all_time"].sum()) == 1
    assert "Quarantine (today, UTC)" in texts(at, "subheader")

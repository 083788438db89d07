"""primeflow_lib.workbench without the app: read-copy errors, allow-listed identifiers, gaps,
tuning column discovery, the form's RunConfig, recording a run and stored-run export."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from primeflow_lib.research import RunConfig, preset
from primeflow_lib.warehouse import WarehouseError
from primeflow_lib.workbench import backtests as bt
from primeflow_lib.workbench import data_views, readcopy, tuning_views


def test_missing_read_copy_names_the_file_and_make_demo(tmp_path):
    with pytest.raises(readcopy.ReadCopyMissingError, match="run `make demo`") as exc:
        readcopy.require(tmp_path / "nope.duckdb")
    assert str(tmp_path / "nope.duckdb") in str(exc.value)


def test_quote_only_allows_listed_columns():
    assert readcopy.quote("call_wall", ["call_wall"]) == '"call_wall"'
    with pytest.raises(WarehouseError, match="not one of"):
        readcopy.quote('x"; DROP TABLE t; --', ["call_wall"])


def test_missing_sessions_skips_weekends_and_holidays():
    stored = [dt.date(2024, 12, 23), dt.date(2024, 12, 24), dt.date(2024, 12, 27)]
    # 12-25 is Christmas; 12-26 is a session that is missing
    assert data_views.missing_sessions(stored) == [dt.date(2024, 12, 26)]
    assert data_views.missing_sessions([]) == []


def test_is_oos_pairs_and_stats_are_found_by_name():
    cols = ["study_id", "is_sharpe", "oos_sharpe", "train_cagr", "test_cagr", "is_only"]
    assert tuning_views.is_oos_pairs(cols) == [("sharpe", "is_sharpe", "oos_sharpe"),
                                                ("cagr", "train_cagr", "test_cagr")]
    row = {"study_id": "s", "psr": 0.9, "dsr": 0.4, "pbo": 0.3, "verdict": "ok", "n": 3}
    assert tuning_views.study_stats(row) == {"psr": 0.9, "dsr": 0.4, "pbo": 0.3, "verdict": "ok"}


def test_form_config_of_an_unchanged_preset_has_the_cli_run_id():
    base = bt.preset_config("dual_sma")
    data = bt.form_config(
        base, dataset={"symbol": "SPY"}, mode="equities", strategy="signals",
        indicators={"dual_sma": {"params": {"fast": 10, "slow": 20}}},
        blend={"mode": "weighted_sum", "weights": {"dual_sma": 1.0}}, entry={}, exits={},
        execution={}, sizing={}, capital=100_000.0, tags=("workbench",))
    assert bt.build_config(data).run_id == preset("dual_sma", "SPY").run_id


def test_form_config_keeps_regime_weights_of_chosen_indicators_only():
    base = bt.preset_config("phibot")
    data = bt.form_config(
        base, dataset={"symbol": "SPY"}, mode="equities", strategy="signals",
        indicators={"rsi": {}, "macd": {}}, blend={"mode": "regime_weighted"}, entry={},
        exits={}, execution={}, sizing={}, capital=1e5)
    cfg = bt.build_config(data)
    assert all(set(row) <= {"rsi", "macd"} for row in cfg.blend.regime_weights.values())


def test_record_export_and_reproduce_a_run(wb, tmp_path):
    cfg = preset("rsi", "QQQ")
    result = bt.run(cfg)
    assert bt.record_run(result) == cfg.run_id
    assert cfg.run_id in set(bt.runs()["run_id"])  # republished: the read copy has it
    files = bt.export_stored(cfg.run_id, tmp_path / "out")
    assert RunConfig.load(files["config.json"]).run_id == cfg.run_id
    again, same = bt.reproduce(cfg.run_id)
    assert same and again.metrics["sharpe"] == pytest.approx(result.metrics["sharpe"])
    con = duckdb.connect(str(wb["live"]), read_only=True)
    assert con.execute("SELECT count(*) FROM research.backtest_runs WHERE run_id = ?",
                       [cfg.run_id]).fetchone()[0] == 1
    con.close()


def test_save_upload_is_content_addressed_and_discard_removes_it(tmp_path):
    p1 = bt.save_upload("../my prices.csv", b"a", tmp_path)
    assert p1.parent.parent == tmp_path and p1.name == "my_prices.csv"
    assert bt.save_upload("my prices.csv", b"a", tmp_path) == p1
    bt.discard_upload(p1)
    assert not p1.exists() and not p1.parent.exists()

"""primeflow_lib.workbench without the app: read-copy errors, allow-listed identifiers, gaps,
tuning and gamma views, the form's RunConfig, recording a run and stored-run export."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from primeflow_lib.research import RunConfig, preset
from primeflow_lib.workbench import backtests as bt
from primeflow_lib.workbench import data_views, flow_views, readcopy, tuning_views


def test_missing_read_copy_names_the_file_and_make_demo(tmp_path):
    with pytest.raises(readcopy.ReadCopyMissingError, match="run `make demo`") as exc:
        readcopy.require(tmp_path / "nope.duckdb")
    assert str(tmp_path / "nope.duckdb") in str(exc.value)


def test_missing_sessions_skips_weekends_and_holidays():
    stored = [dt.date(2024, 12, 23), dt.date(2024, 12, 24), dt.date(2024, 12, 27)]
    # 12-25 is Christmas; 12-26 is a session that is missing
    assert data_views.missing_sessions(stored) == [dt.date(2024, 12, 26)]
    assert data_views.missing_sessions([]) == []


def test_tuning_views_read_the_study_write_study_stored(wb):
    read = wb["read"]
    st = tuning_views.studies(read)
    assert len(st) == 1 and st["symbol"].iloc[0] == "SPY"
    sid = st["study_id"].iloc[0]
    tuned = tuning_views.tuned_parameters(sid, read)
    assert list(tuned["indicator"]) == ["rsi"] and tuned["verdict"].iloc[0]
    assert 0.0 <= tuned["pbo"].iloc[0] <= 1.0
    assert tuning_views.oos_run_stored(tuned["run_id"].iloc[0], read)
    assert not tuning_views.oos_run_stored("0000000000000000", read)
    trials = tuning_views.trials(sid, read)
    assert list(trials["trial_no"]) == list(range(1, len(trials) + 1))
    assert tuning_views.trials("no-such-study", read).empty


def test_gamma_views_prefer_the_mart_and_bind_the_ticker(wb):
    read = wb["read"]
    assert flow_views.gamma_source(read) == "marts.gamma_levels"
    lv = flow_views.gamma_levels("SPY", dt.date(2024, 12, 30), read)
    assert list(lv["trade_date"].dt.date) == [dt.date(2024, 12, 30)]  # nothing after the session
    assert flow_views.gamma_levels("SPY' OR 1=1 --", None, read).empty
    strikes = flow_views.gamma_by_strike("SPY", dt.date(2024, 12, 31), read)
    assert list(strikes["strike"]) == sorted(strikes["strike"]) and len(strikes) == 7


def test_a_signal_sees_the_gamma_snapshot_before_its_session(wb):
    # issue 23: the Gamma tab showed the snapshot taken after the signal's day (look-ahead)
    read = wb["read"]
    same = flow_views.gamma_levels("SPY", dt.date(2024, 12, 31), read)
    knew = flow_views.gamma_levels("SPY", dt.date(2024, 12, 31), read, before=True)
    assert same["trade_date"].dt.date.iloc[0] == dt.date(2024, 12, 31)
    assert not knew.empty and (knew["trade_date"].dt.date < dt.date(2024, 12, 31)).all()
    assert knew["trade_date"].dt.date.iloc[0] == dt.date(2024, 12, 30)


def test_form_config_of_an_unchanged_preset_has_the_cli_run_id():
    base = bt.preset_config("dual_sma")
    data = bt.form_config(
        base, dataset={"symbol": "SPY"}, mode="equities", strategy="signals",
        indicators={"dual_sma": {"params": {"fast": 10, "slow": 20}}},
        blend={"mode": "weighted_sum", "weights": {"dual_sma": 1.0}}, entry={}, exits={},
        execution={}, sizing={}, capital=100_000.0, tags=("workbench",))
    assert bt.build_config(data).config_id == preset("dual_sma", "SPY").config_id


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
    rid = result.run_id
    assert bt.record_run(result) == rid
    assert rid in set(bt.runs()["run_id"])  # republished: the read copy has it
    files = bt.export_stored(rid, tmp_path / "out")
    assert RunConfig.load(files["config.json"]).run_id_for(result.data_hash) == rid
    again, same = bt.reproduce(rid)
    assert same and again.run_id == rid
    assert again.metrics["sharpe"] == pytest.approx(result.metrics["sharpe"])
    con = duckdb.connect(str(wb["live"]), read_only=True)
    assert con.execute("SELECT count(*) FROM research.backtest_runs WHERE run_id = ?",
                       [rid]).fetchone()[0] == 1
    con.close()


def test_save_upload_is_content_addressed_and_discard_removes_it(tmp_path):
    p1 = bt.save_upload("../my prices.csv", b"a", tmp_path)
    assert p1.parent.parent == tmp_path and p1.name == "my_prices.csv"
    assert bt.save_upload("my prices.csv", b"a", tmp_path) == p1
    bt.discard_upload(p1)
    assert not p1.exists() and not p1.parent.exists()

"""``primeflow tune``: progress, summary, --json, the three tables, auto_tune from the backtest CLI."""

from __future__ import annotations

import json

import duckdb
from click.testing import CliRunner
from research_fixtures import as_csv_frame, make_bars

from primeflow_pipelines.commands import main


def test_tune_csv_json_and_tables(tmp_path):
    csv = tmp_path / "px.csv"
    as_csv_frame(make_bars(1100, seed=12)).to_csv(csv, index=False)
    db, out = tmp_path / "wh.duckdb", tmp_path / "study.json"
    args = ["tune", "--csv", str(csv), "--indicators", "rsi,macd", "--trials", "90", "--folds", "3",
            "--seed", "7", "--sampler", "random", "--warehouse", str(db), "--json", str(out)]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert "verdict: " in res.output and "PBO (CSCV, S = 16)" in res.output and "DSR (N = 90)" in res.output
    doc = json.loads(out.read_text())
    assert len(doc["trials"]) == 90 and doc["study"]["n_trials"] == 90
    assert doc["run_config"]["indicators"] and doc["study"]["verdict"] in res.output
    con = duckdb.connect(str(db))
    sid = doc["study"]["study_id"]
    assert con.execute("SELECT count(*) FROM research.tuning_trials WHERE study_id = ?", [sid]).fetchone()[0] == 90
    run_id = con.execute("SELECT DISTINCT run_id FROM research.tuned_parameters WHERE study_id = ?", [sid]).fetchall()
    assert run_id == [(doc["study"]["run_id"],)]
    assert con.execute("SELECT count(*) FROM research.backtest_runs WHERE run_id = ?", [run_id[0][0]]).fetchone()[0] == 1
    # same inputs, same study, byte for byte
    again = CliRunner().invoke(main, [*args[:-2], "--no-record", "--json", str(tmp_path / "b.json")])
    assert again.exit_code == 0
    b = json.loads((tmp_path / "b.json").read_text())
    assert b["trials"] == doc["trials"] and b["study"]["stats"] == doc["study"]["stats"]


def test_tune_bad_input_is_one_clear_line(tmp_path):
    csv = tmp_path / "px.csv"
    as_csv_frame(make_bars(300, seed=1)).to_csv(csv, index=False)
    r = CliRunner().invoke(main, ["tune", "--csv", str(csv), "--indicators", "rsi", "--trials", "0", "--no-record"])
    assert r.exit_code != 0 and "trials: 0 must be a whole number >= 1" in r.output
    r = CliRunner().invoke(main, ["tune", "--indicators", "rsi", "--no-record"])
    assert r.exit_code != 0 and "give --csv FILE or --symbol TICKER" in r.output
    r = CliRunner().invoke(main, ["tune", "--csv", str(csv), "--indicators", "dual_sma", "--no-record"])
    assert r.exit_code != 0 and "folds.test_bars" in r.output


def test_backtest_cli_auto_tune_uses_history_before_start(tmp_path):
    csv = tmp_path / "px.csv"
    bars = make_bars(1200, seed=4)
    as_csv_frame(bars).to_csv(csv, index=False)
    cfg = tmp_path / "run.yaml"
    start = str(bars.index[900].date())
    cfg.write_text(f"dataset: {{csv: {csv}, start: '{start}'}}\nindicators: {{rsi: {{auto_tune: true}}}}\n")
    r = CliRunner().invoke(main, ["backtest", "--config", str(cfg), "--json", str(tmp_path / "o.json")])
    assert r.exit_code == 0, r.output
    doc = json.loads((tmp_path / "o.json").read_text())
    assert doc["summary"]["first_bar"].startswith(start)
    # the run is the tuned config (its id includes the tuned parameters), not the config file's
    from primeflow_lib.research import RunConfig

    assert doc["run_id"] != RunConfig.load(cfg).run_id_for(doc["summary"]["data_hash"])
    assert any(t.startswith("tuning_study:") for t in doc["config"]["tags"])
    assert doc["config"]["indicators"]["rsi"]["auto_tune"] is True

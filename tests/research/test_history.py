"""Run history in DuckDB, table rows for the research schema, and run export."""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from primeflow_lib.research import history
from primeflow_lib.research.export import export_run
from primeflow_lib.research.presets import preset
from primeflow_lib.research.rows import blend_rows, indicator_signal_rows, regime_rows
from primeflow_lib.research.runconfig import RunConfig
from primeflow_lib.research.runner import run_backtest
from primeflow_lib.schema import research as schema


@pytest.fixture(scope="module")
def results(bars):
    a = run_backtest(preset("dual_sma", "TEST").replace(exits={"stop_loss": 0.05}), bars)
    b = run_backtest(preset("rsi", "TEST"), bars)
    return a, b


def counts(con, run_id):
    return [
        con.execute(f"SELECT count(*) FROM {t} WHERE run_id = ?", [run_id]).fetchone()[0]
        for t in ("research.backtest_runs", "research.backtest_trades", "research.backtest_equity")
    ]


def test_write_run_is_idempotent_and_round_trips(results):
    a, b = results
    con = duckdb.connect()
    history.write_run(con, a)
    history.write_run(con, b)
    first = counts(con, a.run_id)
    assert first == [1, len(a.trades), len(a.equity)]
    history.write_run(con, a)  # rerun: the stored run is kept, not duplicated
    assert counts(con, a.run_id) == first
    stored = history.read_run(con, a.run_id)
    assert stored["run"]["sharpe"] == pytest.approx(a.metrics["sharpe"])
    assert RunConfig.from_dict(stored["run"]["config"]).run_id_for(stored["run"]["data_hash"]) == a.run_id
    assert stored["run"]["data_hash"] == a.data_hash
    np.testing.assert_allclose(stored["equity"]["equity"], a.equity.to_numpy())
    assert stored["trades"]["exit_reason"].tolist() == a.trades["exit_reason"].tolist()
    assert stored["trades"]["is_open"].iloc[-1] == a.trades["is_open"].iloc[-1]
    # warm-up bars have no blended signal: NULL, not NaN
    nulls = con.execute(
        "SELECT count(*) FROM research.backtest_equity WHERE run_id = ? AND signal IS NULL",
        [a.run_id],
    ).fetchone()[0]
    assert nulls == 19


def test_failed_write_leaves_nothing_and_the_other_runs_intact(results, monkeypatch):
    a, b = results
    con = duckdb.connect()
    history.write_run(con, a)
    before = counts(con, a.run_id)
    good = history.run_rows

    def broken(result):
        rows = good(result)
        rows["research.backtest_equity"] = rows["research.backtest_equity"].assign(ts=None)
        return rows

    monkeypatch.setattr(history, "run_rows", broken)
    with pytest.raises(duckdb.Error):
        history.write_run(con, b)
    assert counts(con, a.run_id) == before
    assert counts(con, b.run_id) == [0, 0, 0]  # the runs row was rolled back with the equity


def test_compare_runs_side_by_side_and_the_view(results):
    a, b = results
    con = duckdb.connect()
    for r in results:
        history.write_run(con, r)
    side = history.compare_runs(con, [b.run_id, a.run_id])
    assert list(side.columns) == [b.run_id, a.run_id]
    assert side.loc["sharpe", a.run_id] == pytest.approx(a.metrics["sharpe"])
    assert side.loc["n_trades", b.run_id] == len(b.trades)
    view = con.execute(
        "SELECT run_id, sharpe_rank FROM research.run_comparison ORDER BY sharpe_rank"
    ).df()
    best = a if a.metrics["sharpe"] > b.metrics["sharpe"] else b
    assert view.run_id.iloc[0] == best.run_id
    with pytest.raises(KeyError, match="nope"):
        history.compare_runs(con, ["nope"])
    assert len(history.list_runs(con, symbol="TEST")) == 2


def test_rows_match_the_table_declarations(bars):
    con = duckdb.connect()
    history.ensure_tables(con)
    sig = indicator_signal_rows(bars, {"rsi": {}, "macd": {"fast": 10}}, "TEST", vendor="synthetic")
    reg = regime_rows(bars, None, "TEST")
    cfg = preset("phibot")
    bl = blend_rows(bars, cfg, "TEST", since=bars.index[200].date())
    for table, rows in (
        (schema.INDICATOR_SIGNALS, sig),
        (schema.REGIMES, reg),
        (schema.BLENDS, bl),
    ):
        assert list(rows.columns) == table.column_names
        con.register("r", rows)
        con.execute(f"INSERT INTO {table.fqn} SELECT * FROM r")
        con.unregister("r")
        assert not rows.duplicated(list(table.key)).any()
    assert len(sig) == 2 * len(bars) and len(bl) == len(bars) - 200
    nulls = con.execute(
        "SELECT count(*) FROM research.indicator_signals WHERE indicator = 'rsi' AND signal IS NULL"
    ).fetchone()[0]
    assert nulls == 14
    # the blend rows carry the same signal run_backtest trades on
    result = run_backtest(cfg, bars)
    np.testing.assert_allclose(
        bl["signal"].to_numpy(dtype=float, na_value=np.nan), result.signal.iloc[200:].to_numpy()
    )
    w = json.loads(bl["weights"].iloc[-1])
    assert set(w) == set(cfg.indicators)


def test_export_writes_a_small_readable_folder(results, tmp_path):
    a, _ = results
    paths = export_run(a, tmp_path / "run")
    assert RunConfig.load(paths["config.json"]).run_id_for(a.data_hash) == a.run_id
    res = json.loads(paths["results.json"].read_text())
    assert res["run_id"] == a.run_id and res["metrics"]["sharpe"] == pytest.approx(
        a.metrics["sharpe"]
    )
    trades = pd.read_csv(paths["trades.csv"])
    assert len(trades) == len(a.trades) and "exit_reason" in trades
    w, h = Image.open(paths["equity.png"]).size
    assert w <= 900 and h <= 900
    assert paths["equity.png"].stat().st_size < 100_000

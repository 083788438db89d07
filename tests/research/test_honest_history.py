"""Honest run history (issue 23, item 3): a run id includes the data's hash, a stored run is never
overwritten, and a run and its study land in one transaction (also under SIGKILL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest
from research_fixtures import make_bars

from primeflow_lib import warehouse
from primeflow_lib.research import history
from primeflow_lib.research.presets import preset
from primeflow_lib.research.record import record_run
from primeflow_lib.research.runconfig import RunConfig
from primeflow_lib.research.runner import run_backtest
from primeflow_lib.research.tuning import FoldSpec, TuneConfig, phiai_full_auto, write_study
from primeflow_lib.research.tuning import store as tuning_store

REPO = Path(__file__).resolve().parents[2]


def _runs(con) -> dict[str, float]:
    return dict(con.execute("SELECT run_id, sharpe FROM research.backtest_runs").fetchall())


def test_changed_data_is_another_run_and_the_stored_one_is_kept():
    cfg = preset("dual_sma", "SPY")
    bars = make_bars(400, seed=1)
    changed = bars.copy()
    changed.iloc[200:, :4] *= 1.5  # the case: same config, the data changed underneath
    a, b = run_backtest(cfg, bars), run_backtest(cfg, changed)
    assert a.config.config_id == b.config.config_id and a.data_hash != b.data_hash
    assert a.run_id != b.run_id
    con = duckdb.connect()
    record_run(con, a)
    first = _runs(con)[a.run_id]
    record_run(con, b)
    runs = _runs(con)
    assert set(runs) == {a.run_id, b.run_id} and runs[a.run_id] == first  # never overwritten


def test_same_config_and_data_is_the_same_run_and_keeps_its_rows():
    cfg = preset("rsi", "SPY")
    bars = make_bars(300, seed=2)
    a = run_backtest(cfg, bars)
    con = duckdb.connect()
    history.write_run(con, a)
    created = con.execute("SELECT created_at FROM research.backtest_runs").fetchone()[0]
    again = run_backtest(cfg.replace(description="relabelled"), bars.copy())
    assert again.run_id == a.run_id
    assert history.is_stored(con, again.run_id)
    history.write_run(con, again)
    assert con.execute("SELECT count(*), max(created_at) FROM research.backtest_runs").fetchone() == (1, created)


def test_different_numbers_under_one_id_are_refused(monkeypatch):
    cfg = preset("rsi", "SPY")
    a = run_backtest(cfg, make_bars(300, seed=2))
    con = duckdb.connect()
    history.write_run(con, a)
    a.metrics["final_equity"] = a.metrics["final_equity"] * 2  # what an unversioned engine change does
    with pytest.raises(history.RunConflictError, match=r"already stored with final_equity"):
        history.write_run(con, a)
    assert con.execute("SELECT count(*) FROM research.backtest_runs").fetchone()[0] == 1


def _auto_tune_result():
    bars = make_bars(700, seed=4)
    cfg = RunConfig.from_dict({"dataset": {"symbol": "SPY", "start": str(bars.index[500].date())},
                               "indicators": {"rsi": {"auto_tune": True}}})
    return run_backtest(cfg, bars)


def test_record_run_writes_run_and_study_in_one_transaction(monkeypatch):
    result = _auto_tune_result()
    assert result.tuning is not None and result.tuning.run_id == result.run_id
    con = duckdb.connect()

    def broken(con, study):
        raise RuntimeError("disk full while writing the study")

    monkeypatch.setattr("primeflow_lib.research.record.write_study_rows", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        record_run(con, result)
    assert con.execute("SELECT count(*) FROM research.backtest_runs").fetchone()[0] == 0
    monkeypatch.undo()
    record_run(con, result)
    linked = con.execute("SELECT DISTINCT run_id FROM research.tuned_parameters").fetchall()
    assert linked == [(result.run_id,)]
    assert con.execute("SELECT count(*) FROM research.backtest_runs").fetchone()[0] == 1


def test_write_study_writes_the_oos_run_and_the_study_together(monkeypatch):
    study = phiai_full_auto(make_bars(500, seed=5), TuneConfig(indicators=("rsi",), trials=40,
                                                                 folds=FoldSpec(n_folds=2)))
    con = duckdb.connect()
    monkeypatch.setattr(tuning_store, "study_rows", lambda s: (_ for _ in ()).throw(RuntimeError("killed")))
    with pytest.raises(RuntimeError):
        write_study(con, study, make_bars(500, seed=5))
    history.ensure_tables(con)
    assert con.execute("SELECT count(*) FROM research.backtest_runs").fetchone()[0] == 0


@pytest.mark.slow
def test_sigkill_while_recording_a_study_leaves_no_run_without_its_study(tmp_path):
    db = tmp_path / "w.duckdb"
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(REPO / "tests" / "research")!r})
        from research_fixtures import make_bars
        from primeflow_lib import warehouse
        from primeflow_lib.research.tuning import FoldSpec, TuneConfig, phiai_full_auto, write_study
        from primeflow_lib.research.tuning import store
        bars = make_bars(500, seed=5)
        study = phiai_full_auto(bars, TuneConfig(indicators=("rsi",), trials=40, folds=FoldSpec(n_folds=2)))
        real = store.write_study_rows
        def slow(con, st):
            print("run-written", flush=True)   # the OOS run is inserted, the transaction is open
            time.sleep(120)
            return real(con, st)
        store.write_study_rows = slow
        with warehouse.connect({str(db)!r}) as con:
            write_study(con, study, bars)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                            cwd=REPO, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        line = proc.stdout.readline()
        assert line.strip() == "run-written", line
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    with warehouse.connect(db) as con:
        history.ensure_tables(con)
        runs = con.execute("SELECT count(*) FROM research.backtest_runs").fetchone()[0]
        studies = con.execute("SELECT count(*) FROM research.tuning_studies").fetchone()[0]
    assert (runs, studies) == (0, 0)

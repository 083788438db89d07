import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap
import time

import duckdb
import pandas as pd
import pytest

from primeflow_lib import warehouse
from primeflow_lib.market import quality
from primeflow_lib.schema import table
from primeflow_lib.sql_sandbox import run_sandboxed

D1, D2 = dt.date(2024, 1, 2), dt.date(2024, 1, 3)


def daily(day, tickers=("SPY", "QQQ"), close=100.0):
    n = len(tickers)
    return pd.DataFrame({
        "trade_date": [day] * n, "ticker": list(tickers), "open": [close] * n, "high": [close + 1] * n,
        "low": [close - 1] * n, "close": [close] * n, "volume": [1e6] * n, "vwap": [close] * n,
        "vendor": ["synthetic"] * n,
    })


def test_rewrite_twice_gives_same_rows(tmp_path):
    p = tmp_path / "w.duckdb"
    with warehouse.connect(p) as con:
        warehouse.ensure_tables(con)
        warehouse.replace_partition(con, "market.ohlcv_daily", daily(D1), D1)
        warehouse.replace_partition(con, "market.ohlcv_daily", daily(D2), D2)
        first = con.execute("SELECT * FROM market.ohlcv_daily ORDER BY ALL").df()
        warehouse.replace_partition(con, "market.ohlcv_daily", daily(D1), D1)
        second = con.execute("SELECT * FROM market.ohlcv_daily ORDER BY ALL").df()
    pd.testing.assert_frame_equal(first, second)
    assert len(second) == 4
    assert str(second["trade_date"].dtype).startswith("datetime64")  # a real DATE column


def test_rows_outside_window_and_nulls_are_rejected(tmp_path):
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        warehouse.ensure_tables(con)
        with pytest.raises(warehouse.WarehouseError, match="row 0 has trade_date"):
            warehouse.replace_partition(con, "market.ohlcv_daily", daily(D2), D1)
        bad = daily(D1)
        bad.loc[1, "close"] = None
        with pytest.raises(warehouse.WarehouseError, match="'close' is NULL in row 1"):
            warehouse.replace_partition(con, "market.ohlcv_daily", bad, D1)
        with pytest.raises(warehouse.WarehouseError, match="undeclared columns \\['extra'\\]"):
            warehouse.replace_partition(con, "market.ohlcv_daily", daily(D1).assign(extra=1), D1)
        # the failed writes left nothing behind
        assert con.execute("SELECT count(*) FROM market.ohlcv_daily").fetchall()[0][0] == 0


def test_corrupt_or_wrong_paths_are_clear_errors(tmp_path):
    junk = tmp_path / "junk.duckdb"
    junk.write_bytes(b"this is definitely not a duckdb database file at all")
    with pytest.raises(warehouse.WarehouseError, match="not a DuckDB database"), warehouse.connect(junk):
        pass
    assert junk.read_bytes().startswith(b"this is")  # untouched
    with pytest.raises(warehouse.WarehouseError, match="is a directory"), warehouse.connect(tmp_path):
        pass
    with pytest.raises(warehouse.WarehouseError, match="does not exist"), warehouse.connect(
            tmp_path / "missing.duckdb", read_only=True):
        pass


def test_schema_drift_is_detected(tmp_path):
    p = tmp_path / "w.duckdb"
    with warehouse.connect(p) as con:
        con.execute("CREATE SCHEMA market")
        con.execute("CREATE TABLE market.universe (trade_date DATE, ticker VARCHAR)")
        with pytest.raises(warehouse.SchemaMismatchError, match="market.universe"):
            warehouse.ensure_tables(con)


def test_read_copy_is_published_and_readers_do_not_block_writers(tmp_path):
    p, r = tmp_path / "w.duckdb", tmp_path / "r.duckdb"
    with warehouse.connect(p) as con:
        warehouse.ensure_tables(con)
        warehouse.replace_partition(con, "market.ohlcv_daily", daily(D1), D1)
    warehouse.publish_read_copy(p, r)
    reader = duckdb.connect(str(r), read_only=True)
    try:
        # the live file is free for a writer while someone reads the copy
        with warehouse.connect(p, lock_timeout_s=1) as con:
            warehouse.replace_partition(con, "market.ohlcv_daily", daily(D2), D2)
        warehouse.publish_read_copy(p, r)
        assert reader.execute("SELECT count(*) FROM market.ohlcv_daily").fetchall()[0][0] == 2
    finally:
        reader.close()
    assert run_sandboxed("SELECT count(*) AS n FROM market.ohlcv_daily", path=r)["n"][0] == 4
    assert not list(tmp_path.glob("*.tmp*"))


_HOLD_LOCK = """
import duckdb, sys, time, pathlib
con = duckdb.connect(sys.argv[1])
pathlib.Path(sys.argv[2]).write_text("locked")
time.sleep(float(sys.argv[3]))
con.close()
"""


def _hold_lock(path, marker, seconds):
    proc = subprocess.Popen([sys.executable, "-c", _HOLD_LOCK, str(path), str(marker), str(seconds)])
    deadline = time.monotonic() + 20
    while not marker.exists():
        assert time.monotonic() < deadline, "lock holder did not start"
        time.sleep(0.05)
    return proc


def test_lock_held_by_another_process_is_waited_for_then_reported(tmp_path):
    p = tmp_path / "w.duckdb"
    with warehouse.connect(p) as con:
        warehouse.ensure_tables(con)
    proc = _hold_lock(p, tmp_path / "m1", 30)
    try:
        t0 = time.monotonic()
        with pytest.raises(warehouse.WarehouseLockedError, match="locked by another process"), \
                warehouse.connect(p, lock_timeout_s=1.0):
            pass
        assert time.monotonic() - t0 < 10
    finally:
        proc.kill()
        proc.wait()
    proc = _hold_lock(p, tmp_path / "m2", 2)
    try:
        t0 = time.monotonic()
        with warehouse.connect(p, lock_timeout_s=30) as con:
            assert con.execute("SELECT 1").fetchall()[0][0] == 1
        assert 0.5 < time.monotonic() - t0 < 20
    finally:
        proc.wait()


_WRITER = textwrap.dedent("""
    import datetime as dt, pathlib, sys
    import numpy as np, pandas as pd
    from primeflow_lib import warehouse
    n = int(sys.argv[3])
    day = dt.date(2024, 1, 2)
    df = pd.DataFrame({
        "trade_date": [day] * n, "ticker": [f"T{i}" for i in range(n)],
        "open": 2.0, "high": 3.0, "low": 1.0, "close": 2.0, "volume": 5.0, "vwap": 2.0,
        "vendor": "synthetic"})
    with warehouse.connect(sys.argv[1]) as con:
        pathlib.Path(sys.argv[2]).write_text("writing")
        warehouse.replace_partition(con, "market.ohlcv_daily", df, day)
    pathlib.Path(sys.argv[2]).write_text("done")
""")


@pytest.mark.slow
def test_write_killed_midway_leaves_old_or_new_partition(tmp_path):
    """docs/reliability.md scenario 10: SIGKILL during partition rewrites leaves the old or the new
    partition, never an empty or partial one."""
    p = tmp_path / "w.duckdb"
    with warehouse.connect(p) as con:
        warehouse.ensure_tables(con)
        warehouse.replace_partition(con, "market.ohlcv_daily", daily(D1, tickers=("OLD1", "OLD2", "OLD3")), D1)
    n_new = 400_000
    outcomes = []
    for i in range(8):
        marker = tmp_path / f"m{i}"
        proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(p), str(marker), str(n_new)])
        deadline = time.monotonic() + 60
        while not (marker.exists() and marker.read_text() == "writing"):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.01)
        time.sleep(0.05 * (i % 4))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        with warehouse.connect(p) as con:
            n = con.execute("SELECT count(*) FROM market.ohlcv_daily WHERE trade_date = ?", [D1]).fetchall()[0][0]
        assert n in (3, n_new), f"iteration {i}: partition has {n} rows (partial write)"
        outcomes.append(n)
        if n == n_new:  # restore the old partition so the next kill is meaningful
            with warehouse.connect(p) as con:
                warehouse.replace_partition(con, "market.ohlcv_daily", daily(D1, tickers=("OLD1", "OLD2", "OLD3")), D1)
    assert 3 in outcomes  # at least one kill landed mid-transaction


def test_checks_fail_on_corrupted_rows(tmp_path):
    t = table("market.ohlcv_daily")
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        warehouse.ensure_tables(con)
        warehouse.replace_partition(con, t, daily(D1), D1)
        assert all(o.passed for o in quality.run_checks(con, t, D1, D1))
        con.execute("UPDATE market.ohlcv_daily SET low = high + 5 WHERE ticker = 'QQQ'")
        con.execute("INSERT INTO market.ohlcv_daily SELECT * FROM market.ohlcv_daily WHERE ticker = 'SPY'")
        res = {o.name: o for o in quality.run_checks(con, t, D1, D2)}
    assert not res["ohlc_consistent"].passed and res["ohlc_consistent"].failing_rows == 1
    assert not res["unique_key"].passed and "SPY" in res["unique_key"].sample
    assert not res["non_empty"].passed and "2024-01-03" in res["non_empty"].sample


def test_validation_quarantines_with_field_value_and_row():
    t = table("market.ohlcv_daily")
    df = daily(D1, tickers=("A", "B", "C", "D"))
    df.loc[1, "low"] = 200.0        # above open/close
    df.loc[2, "close"] = -3.0
    df.loc[3, "ticker"] = "A"       # duplicate key
    v = quality.validate_market_frame(t, df, source="test", trade_date=D1)
    assert list(v.good["ticker"]) == ["A"]
    q = v.quarantine.set_index("row_number")
    assert q.loc[1, "field"] == "low" and q.loc[1, "value"] == "200.0" and "ohlc_consistent" in q.loc[1, "reason"]
    assert q.loc[2, "field"] == "close" and "price_positive" in q.loc[2, "reason"]
    assert "unique_key" in q.loc[3, "reason"]
    assert v.counts == {"ohlc_consistent": 1, "price_positive": 1, "unique_key": 1}
    assert '"ticker": "B"' in q.loc[1, "row_json"]


def test_deferred_checkpoint_keeps_every_committed_session(tmp_path):
    p = tmp_path / "w.duckdb"
    with warehouse.connect(p) as con:
        warehouse.ensure_tables(con)
        with warehouse.deferred_checkpoint(con):
            assert con.execute("SELECT current_setting('checkpoint_threshold')").fetchall()[0][0] != "16.0 MiB"
            for day in (D1, D2):
                with warehouse.transaction(con):
                    warehouse.replace_partition(con, "market.ohlcv_daily", daily(day), day)
            with pytest.raises(RuntimeError), warehouse.transaction(con):  # rolled back alone
                warehouse.replace_partition(con, "market.ohlcv_daily", daily(D1, close=5.0), D1)
                raise RuntimeError("boom")
        assert con.execute("SELECT current_setting('checkpoint_threshold')").fetchall()[0][0] == "16.0 MiB"
    with warehouse.connect(p, read_only=True) as con:
        rows = con.execute("SELECT trade_date, close FROM market.ohlcv_daily ORDER BY ALL").fetchall()
    assert [r[1] for r in rows] == [100.0] * 4


def test_background_writer_runs_jobs_in_order_and_reports_errors():
    done = []

    def job(i, delay=0.0):
        def run():
            time.sleep(delay)
            done.append(i)
        return run

    with warehouse.background_writer() as submit:
        for i in range(4):
            submit(job(i, delay=0.01 * (4 - i)))  # waits for the previous job first
    assert done == [0, 1, 2, 3]

    def fail():
        raise ValueError("disk full")

    with pytest.raises(ValueError, match="disk full"), warehouse.background_writer() as submit:
        submit(fail)
        submit(job(9))  # the previous job's error surfaces here
    assert 9 not in done

    # the block fails: the job in flight still finishes, the block's own error propagates
    with pytest.raises(KeyError), warehouse.background_writer() as submit:
        submit(job(5, delay=0.05))
        raise KeyError("scoring failed")
    assert done[-1] == 5

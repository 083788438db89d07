"""The writers' advisory lock beside the warehouse file (primeflow_lib.warehouse_lock)."""

import subprocess
import sys
import textwrap
import threading
import time

import pytest

from primeflow_lib import warehouse
from primeflow_lib.warehouse_errors import WarehouseLockedError
from primeflow_lib.warehouse_lock import lock_path, writer_turn


def _hold_in_other_process(db, seconds: float) -> subprocess.Popen:
    code = textwrap.dedent(f"""
        import sys, time
        from primeflow_lib import warehouse
        with warehouse.connect({str(db)!r}) as con:
            con.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
            print("held", flush=True)
            time.sleep({seconds})
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_waiting_writer_gets_its_turn_right_after_the_holder_closes(tmp_path):
    db = tmp_path / "w.duckdb"
    proc = _hold_in_other_process(db, 0.6)
    t0 = time.monotonic()
    with warehouse.connect(db) as con:
        waited = time.monotonic() - t0
        assert con.execute("SELECT count(*) FROM t").fetchone() == (0,)
    proc.wait(timeout=30)
    assert 0.3 < waited < 5
    assert lock_path(db).exists()


def test_connections_of_one_process_share_the_turn(tmp_path):
    db = tmp_path / "w.duckdb"
    with warehouse.connect(db, lock_timeout_s=2) as a:
        a.execute("CREATE TABLE t (x INTEGER)")
        with warehouse.connect(db, lock_timeout_s=2) as b:  # nested: no deadlock
            b.execute("INSERT INTO t VALUES (1)")
        errors = []

        def other_thread():
            try:
                with warehouse.connect(db, lock_timeout_s=2) as c:
                    c.execute("INSERT INTO t VALUES (2)")
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        th = threading.Thread(target=other_thread)
        th.start()
        th.join(10)
        assert errors == []
        assert a.execute("SELECT sum(x) FROM t").fetchone() == (3,)


def test_a_turn_held_too_long_is_a_clear_error(tmp_path):
    db = tmp_path / "w.duckdb"
    proc = _hold_in_other_process(db, 5)
    try:
        with (pytest.raises(WarehouseLockedError, match=r"another PrimeFlow process .*w\.duckdb\.writer\.lock"),
              writer_turn(db, timeout_s=0.3)):
            pass
    finally:
        proc.kill()
        proc.wait()

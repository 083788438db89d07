"""docs/reliability.md scenario 10, x20: SIGKILL during partition rewrites and during checkpoints. The
file reopens and the partition is the old or the new one, never empty or partial."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap
import time

import pandas as pd
import pytest

from primeflow_lib import warehouse

pytestmark = pytest.mark.slow

KILLS = int(os.environ.get("RELIABILITY_REWRITE_KILLS", "20"))
DAY = dt.date(2024, 1, 2)
N_NEW = 100_000

# one process does up to 50 rewrites (alternating new / old partition, a CHECKPOINT after every
# other one) and is killed at a random moment: restarts cost an import each, not each rewrite
_WRITER = textwrap.dedent("""
    import datetime as dt, pathlib, sys
    import pandas as pd
    from primeflow_lib import warehouse
    day = dt.date(2024, 1, 2)
    def frame(n, prefix):
        return pd.DataFrame({"trade_date": [day] * n, "ticker": [f"{prefix}{i}" for i in range(n)],
            "open": 2.0, "high": 3.0, "low": 1.0, "close": 2.0, "volume": 5.0, "vwap": 2.0,
            "vendor": "synthetic"})
    new, old = frame(int(sys.argv[3]), "N"), frame(3, "OLD")
    with warehouse.connect(sys.argv[1]) as con:
        for i in range(50):
            pathlib.Path(sys.argv[2]).write_text(f"writing {i}")
            warehouse.replace_partition(con, "market.ohlcv_daily", new if i % 2 == 0 else old, day)
            if i % 2:
                con.execute("CHECKPOINT")
""")


def test_rewrites_killed_leave_old_or_new(tmp_path, record_property):
    import random

    rng = random.Random(10)
    p = tmp_path / "w.duckdb"
    old = pd.DataFrame({"trade_date": [DAY] * 3, "ticker": ["OLD0", "OLD1", "OLD2"], "open": 2.0, "high": 3.0,
                        "low": 1.0, "close": 2.0, "volume": 5.0, "vwap": 2.0, "vendor": "synthetic"})
    with warehouse.connect(p) as con:
        warehouse.ensure_tables(con)
        warehouse.replace_partition(con, "market.ohlcv_daily", old, DAY)
        # another partition that no rewrite touches: it must survive every kill unchanged
        warehouse.replace_partition(con, "market.ohlcv_daily", old.assign(trade_date=dt.date(2024, 1, 3)),
                                    dt.date(2024, 1, 3))
    outcomes = {"old": 0, "new": 0, "partial_or_empty": 0, "other_partition_changed": 0, "reopen_failed": 0}
    for i in range(KILLS):
        marker = tmp_path / f"m{i}"
        proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(p), str(marker), str(N_NEW)])
        deadline = time.monotonic() + 90
        while not (marker.exists() and marker.read_text().startswith("writing")):
            assert time.monotonic() < deadline and proc.poll() is None, "writer did not start"
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 2.5))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        try:
            with warehouse.connect(p) as con:
                n, names = con.execute(
                    "SELECT count(*), count(*) FILTER (WHERE ticker LIKE 'OLD%') FROM market.ohlcv_daily "
                    "WHERE trade_date = ?", [DAY]).fetchall()[0]
                other = con.execute("SELECT count(*) FROM market.ohlcv_daily WHERE trade_date = ?",
                                    [dt.date(2024, 1, 3)]).fetchall()[0][0]
        except warehouse.WarehouseError:
            outcomes["reopen_failed"] += 1
            continue
        if n == 3 and names == 3:
            outcomes["old"] += 1
        elif n == N_NEW and names == 0:
            outcomes["new"] += 1
        else:
            outcomes["partial_or_empty"] += 1
        outcomes["other_partition_changed"] += int(other != 3)
    record_property("kills", KILLS)
    for k, v in outcomes.items():
        record_property(k, v)
    assert outcomes["partial_or_empty"] == outcomes["reopen_failed"] == outcomes["other_partition_changed"] == 0
    assert outcomes["old"] + outcomes["new"] == KILLS

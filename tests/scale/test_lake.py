"""The lake backend behind the warehouse interface: partition rewrites as one Delta commit, reads
through DuckDB views, the pinned read copy, the query sandbox, schema drift, write conflicts,
S3-compatible storage (a real moto server) and SIGKILL in the middle of a commit."""

from __future__ import annotations

import datetime as dt
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("deltalake", reason="the scale extra is not installed (uv sync --extra scale)")

from deltalake import DeltaTable, write_deltalake  # noqa: E402

from primeflow_lib import warehouse  # noqa: E402
from primeflow_lib.lake import delta  # noqa: E402
from primeflow_lib.lake.settings import LakeConfigError, lake_settings  # noqa: E402
from primeflow_lib.scale.content import table_hash  # noqa: E402
from primeflow_lib.schema import table  # noqa: E402
from primeflow_lib.sql_sandbox import QueryRefusedError, run_sandboxed  # noqa: E402

D1, D2, D3 = dt.date(2024, 1, 2), dt.date(2024, 1, 3), dt.date(2024, 1, 4)
BARS = table("market.ohlcv_intraday")


def bars(day: dt.date, n: int = 3, close: float = 100.0, tickers=("SPY",)) -> pd.DataFrame:
    ts = pd.date_range(f"{day} 09:30", periods=n, freq="min")
    rows = [{"trade_date": day, "ts": t, "ticker": k, "open": close, "high": close + 1, "low": close - 1,
             "close": close + i, "volume": 1000.0 + i, "vwap": None if i == 0 else close, "vendor": "synthetic"}
            for k in tickers for i, t in enumerate(ts)]
    return pd.DataFrame(rows)


@pytest.fixture
def lake(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "lake"
    monkeypatch.setenv("PRIMEFLOW_LAKE_URI", str(root))
    monkeypatch.delenv("PRIMEFLOW_LAKE_TABLES", raising=False)
    delta.forget_tables()
    yield root
    delta.forget_tables()


def _version(root: Path) -> int:
    return DeltaTable(str(root / "market" / "ohlcv_intraday")).version()


def test_partition_rewrite_is_one_commit_and_reads_through_duckdb(lake):
    with warehouse.connect() as con:
        warehouse.ensure_tables(con)
        # the lake table is a view in the warehouse file, not a DuckDB table
        kind = con.execute("SELECT table_type FROM information_schema.tables WHERE table_schema = "
                           "'market' AND table_name = 'ohlcv_intraday'").fetchall()
        assert kind == [("VIEW",)]
        v0 = _version(lake)
        warehouse.replace_partition(con, BARS, bars(D1), D1)
        warehouse.replace_partition(con, BARS, bars(D2, n=5), D2)
        assert _version(lake) == v0 + 2
        # a rewrite replaces exactly that day, in one commit; the same connection sees it
        warehouse.replace_partition(con, BARS, bars(D1, n=2, close=50.0), D1)
        assert _version(lake) == v0 + 3
        got = con.execute("SELECT trade_date, count(*), min(close) FROM market.ohlcv_intraday "
                          "GROUP BY 1 ORDER BY 1").fetchall()
        assert got == [(D1, 2, 50.0), (D2, 5, 100.0)]
        # an empty frame empties the partition (one commit), others untouched
        warehouse.replace_partition(con, BARS, bars(D1).iloc[:0], D1)
        assert con.execute("SELECT count(*) FROM market.ohlcv_intraday WHERE trade_date = ?", [D1]).fetchall() == [(0,)]
        assert _version(lake) == v0 + 4
        # NULL in a NOT NULL column: refused before anything is written
        bad = bars(D2)
        bad.loc[1, "close"] = None
        with pytest.raises(warehouse.WarehouseError, match="'close' is NULL in row 1"):
            warehouse.replace_partition(con, BARS, bad, D2)
        assert _version(lake) == v0 + 4
        # other write helpers are refused for lake tables
        with pytest.raises(warehouse.WarehouseError, match="lake table"):
            warehouse.append_rows(con, BARS, bars(D3))
    # one folder per trading day
    assert (lake / "market" / "ohlcv_intraday" / f"trade_date={D2}").is_dir()
    # a new connection (a new process would do the same) reads the latest version
    with warehouse.connect() as con:
        assert con.execute("SELECT count(*) FROM market.ohlcv_intraday").fetchall() == [(5,)]


def test_lake_and_duckdb_store_the_same_values(lake, tmp_path, monkeypatch):
    frame = pd.concat([bars(D1, n=4, tickers=("SPY", "QQQ")), bars(D2, n=3)], ignore_index=True)
    frame["ts"] = frame["ts"].astype("datetime64[ns]")
    frame.loc[0, "ts"] = pd.Timestamp(f"{D1} 09:30:00.123456789")  # nanoseconds: cast as DuckDB does
    with warehouse.connect() as con:
        warehouse.ensure_tables(con)
        for d in (D1, D2):
            warehouse.replace_partition(con, BARS, frame[frame["trade_date"] == d], d)
        lake_hash = table_hash(con, BARS.fqn)
    monkeypatch.delenv("PRIMEFLOW_LAKE_URI")
    with warehouse.connect(tmp_path / "embedded.duckdb") as con:
        warehouse.ensure_tables(con)
        for d in (D1, D2):
            warehouse.replace_partition(con, BARS, frame[frame["trade_date"] == d], d)
        assert table_hash(con, BARS.fqn) == lake_hash
        assert lake_hash[0] == 11


def test_read_copy_pins_the_version_and_the_sandbox_reads_only_registered_tables(lake):
    with warehouse.connect() as con:
        warehouse.ensure_tables(con)
        warehouse.replace_partition(con, BARS, bars(D1), D1)
        warehouse.publish_read_copy(con=con)
        warehouse.replace_partition(con, BARS, bars(D2, n=7), D2)
    # the read copy still shows the lake as it was when it was published
    assert run_sandboxed("SELECT count(*) AS n FROM market.ohlcv_intraday")["n"].tolist() == [3]
    with warehouse.connect(warehouse.read_copy_path(), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM market.ohlcv_intraday").fetchall() == [(3,)]
    # user SQL cannot reach the lake's files directly
    parquet = next((lake / "market" / "ohlcv_intraday").rglob("*.parquet"))
    for sql in (f"SELECT * FROM read_parquet('{parquet}')", f"SELECT * FROM glob('{lake}/*')",
                f"SELECT * FROM '{parquet}'"):
        with pytest.raises(QueryRefusedError, match="refused"):
            run_sandboxed(sql)
    with pytest.raises(QueryRefusedError, match="refused: SET"):
        run_sandboxed("SET enable_external_access = true")
    # republishing moves the pin
    with warehouse.connect() as con:
        warehouse.publish_read_copy(con=con)
    assert run_sandboxed("SELECT count(*) AS n FROM market.ohlcv_intraday")["n"].tolist() == [10]


def test_schema_drift_is_a_clear_error(lake):
    import pyarrow as pa

    uri = str(lake / "market" / "ohlcv_intraday")
    drifted = pa.schema([f if f.name != "volume" else pa.field("volume", pa.int64()) for f in delta.arrow_schema(BARS)]
                        + [pa.field("extra", pa.string())])
    DeltaTable.create(uri, schema=drifted, partition_by=["trade_date"])
    with pytest.raises(warehouse.SchemaMismatchError) as err, warehouse.connect():
        pass
    msg = str(err.value)
    assert "market.ohlcv_intraday" in msg and uri in msg
    assert "undeclared: ['extra']" in msg and "volume: long (declared double)" in msg


def test_two_writers_of_the_same_partition_conflict_and_distinct_partitions_do_not(lake, monkeypatch):
    with warehouse.connect() as con:
        warehouse.ensure_tables(con)
        warehouse.replace_partition(con, BARS, bars(D1), D1)
    s = lake_settings()
    uri = s.uri(BARS)
    # writer B read the table, then writer A committed a rewrite of D1
    stale = DeltaTable(uri)
    read_version = stale.version()
    write_deltalake(DeltaTable(uri), delta._to_arrow(BARS, bars(D1, n=4, close=7.0)), mode="overwrite",
                    predicate=f"trade_date = '{D1}'", partition_by=["trade_date"])
    real_open = delta._open
    monkeypatch.setattr(delta, "_open", lambda s, t, create: stale)
    # B's rewrite of another day commits (delta-rs checks it does not touch A's files)
    delta.replace_partition(None, BARS, bars(D2), D2, D2, s=s)
    stale = DeltaTable(uri, version=read_version)  # B again, from what it read before A's commit
    with pytest.raises(delta.LakeConflictError) as err:
        delta.replace_partition(None, BARS, bars(D1, n=9), D1, D1, s=s)
    assert "market.ohlcv_intraday partition 2024-01-02 .. 2024-01-02" in str(err.value)
    assert "not committed" in str(err.value)
    monkeypatch.setattr(delta, "_open", real_open)
    with warehouse.connect() as con:  # A's rows stand, B's D2 too
        got = con.execute("SELECT trade_date, count(*), min(close) FROM market.ohlcv_intraday GROUP BY 1 ORDER BY 1").fetchall()
    assert got == [(D1, 4, 7.0), (D2, 3, 100.0)]


def test_bad_settings_name_the_variable(lake, monkeypatch, tmp_path):
    monkeypatch.setenv("PRIMEFLOW_LAKE_URI", "gs://bucket/x")
    with pytest.raises(LakeConfigError, match="PRIMEFLOW_LAKE_URI='gs://bucket/x'"):
        lake_settings()
    monkeypatch.setenv("PRIMEFLOW_LAKE_URI", str(lake))
    monkeypatch.setenv("PRIMEFLOW_LAKE_TABLES", "market.ohlcv_intraday,market.nope")
    with pytest.raises(LakeConfigError, match="PRIMEFLOW_LAKE_TABLES: unknown warehouse table 'market.nope'"):
        lake_settings()
    monkeypatch.setenv("PRIMEFLOW_LAKE_TABLES", "live.alert_outbox")
    with pytest.raises(LakeConfigError, match="live.alert_outbox has no DATE partition column"):
        lake_settings()
    monkeypatch.delenv("PRIMEFLOW_LAKE_TABLES")
    # a warehouse that already has the table in DuckDB is not silently shadowed
    monkeypatch.delenv("PRIMEFLOW_LAKE_URI")
    with warehouse.connect() as con:
        warehouse.ensure_tables(con)
    monkeypatch.setenv("PRIMEFLOW_LAKE_URI", str(lake))
    with pytest.raises(warehouse.WarehouseError, match="already has a DuckDB table flow.option_prints"), \
            warehouse.connect() as con:
        warehouse.ensure_tables(con)
    # ... and a lake warehouse opened without the lake setting says what is missing
    monkeypatch.setenv("PRIMEFLOW_DUCKDB", str(tmp_path / "lake-wh.duckdb"))
    with warehouse.connect() as con:
        warehouse.ensure_tables(con)
    monkeypatch.delenv("PRIMEFLOW_LAKE_URI")
    with pytest.raises(warehouse.WarehouseError, match="PRIMEFLOW_LAKE_URI is not set"), warehouse.connect():
        pass


# ------------------------------------------------------------------------------------------
# S3-compatible storage: a real moto server on 127.0.0.1


@pytest.fixture
def s3(tmp_path, monkeypatch):
    from primeflow_lib.scale.local_services import LocalS3

    with LocalS3(tmp_path / "moto") as srv:
        for k, v in srv.env.items():
            monkeypatch.setenv(k, v)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
        delta.forget_tables()
        yield srv
        delta.forget_tables()


@pytest.mark.slow
def test_s3_lake_round_trip_and_missing_bucket(s3, monkeypatch):
    monkeypatch.setenv("PRIMEFLOW_LAKE_URI", "s3://no-such-bucket/lake")
    with pytest.raises(warehouse.WarehouseError) as err, warehouse.connect():
        pass
    msg = str(err.value)
    assert "PRIMEFLOW_LAKE_URI=s3://no-such-bucket/lake" in msg and "bucket 'no-such-bucket' does not exist" in msg
    assert s3.endpoint in msg

    s3.create_bucket("pf-lake")
    monkeypatch.setenv("PRIMEFLOW_LAKE_URI", "s3://pf-lake/prod")
    with warehouse.connect() as con:
        warehouse.ensure_tables(con)
        warehouse.replace_partition(con, BARS, bars(D1), D1)
        warehouse.replace_partition(con, BARS, bars(D2, n=4), D2)
        warehouse.replace_partition(con, BARS, bars(D1, n=2), D1)
        assert con.execute("SELECT trade_date, count(*) FROM market.ohlcv_intraday GROUP BY 1 ORDER BY 1"
                           ).fetchall() == [(D1, 2), (D2, 4)]
        warehouse.publish_read_copy(con=con)
    assert run_sandboxed("SELECT count(*) AS n FROM market.ohlcv_intraday")["n"].tolist() == [6]


@pytest.mark.slow
def test_s3_endpoint_that_does_not_answer(monkeypatch):
    from primeflow_lib.scale.local_services import free_port

    monkeypatch.setenv("PRIMEFLOW_LAKE_URI", "s3://pf-lake/prod")
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    delta.forget_tables()
    t0 = time.monotonic()
    with pytest.raises(warehouse.WarehouseError) as err, warehouse.connect():
        pass
    assert "PRIMEFLOW_LAKE_URI=s3://pf-lake/prod (AWS_ENDPOINT_URL=http://127.0.0.1:" in str(err.value)
    assert time.monotonic() - t0 < 120


# ------------------------------------------------------------------------------------------
# SIGKILL while a commit is in flight

_WRITER = textwrap.dedent("""
    import datetime as dt, sys
    import numpy as np, pandas as pd
    from primeflow_lib import warehouse
    day = dt.date(2024, 1, 2)
    n_old, n_new = int(sys.argv[1]), int(sys.argv[2])
    def frame(n, close):
        ts = pd.Timestamp("2024-01-02 09:30") + pd.to_timedelta(np.arange(n) % 390, unit="min")
        return pd.DataFrame({"trade_date": day, "ts": ts, "ticker": [f"T{i // 390}" for i in range(n)],
                             "open": close, "high": close, "low": close, "close": close, "volume": 1.0,
                             "vwap": close, "vendor": "synthetic"})
    old, new = frame(n_old, 1.0), frame(n_new, 2.0)
    with warehouse.connect() as con:
        print("ready", flush=True)
        k = 0
        while True:  # alternate the two versions until killed
            warehouse.replace_partition(con, "market.ohlcv_intraday", new if k % 2 == 0 else old, day)
            k += 1
""")


@pytest.mark.slow
def test_sigkill_mid_commit_leaves_the_old_or_the_new_partition(lake, tmp_path):
    n_old, n_new = 200_000, 300_000
    with warehouse.connect() as con:
        warehouse.ensure_tables(con)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    rng = random.Random(5)
    seen = set()
    for _ in range(5):
        proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(n_old), str(n_new)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        time.sleep(rng.uniform(0.5, 3.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        delta.forget_tables()
        with warehouse.connect() as con:
            rows = con.execute("SELECT count(*), count(DISTINCT close) FROM market.ohlcv_intraday").fetchall()[0]
        assert rows in {(0, 0), (n_old, 1), (n_new, 1)}, rows
        seen.add(rows[0])
    assert seen - {0}, "no commit finished before any kill: the test did not exercise a rewrite"

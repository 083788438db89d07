"""Limits of user SQL (issue 23, item 1): only the read copy, a statement timeout that
interrupts the query, a row limit applied in the query, and ``--csv`` never overwriting a file."""

from __future__ import annotations

import time

import pandas as pd
import pytest
from click.testing import CliRunner

from primeflow_lib import warehouse
from primeflow_lib.sql_sandbox import QueryRefusedError, QueryTimeoutError, run_sandboxed
from primeflow_pipelines.commands import main


@pytest.fixture
def files():
    live, read = warehouse.warehouse_path(), warehouse.read_copy_path()
    with warehouse.connect(live) as con:
        warehouse.ensure_tables(con)
        con.execute("INSERT INTO market.universe (trade_date, ticker, rank, avg_volume, vendor) "
                    "VALUES (DATE '2024-01-02', 'SPY', 1, 1e6, 'synthetic')")
        con.execute("CHECKPOINT")
    warehouse.publish_read_copy(live, read)
    return {"live": live, "read": read}


def test_the_live_warehouse_is_refused_by_name(files):
    with pytest.raises(QueryRefusedError, match="is the live warehouse"):
        run_sandboxed("SELECT 1", path=files["live"])
    r = CliRunner().invoke(main, ["query", "SELECT 1", "--db", str(files["live"])])
    assert r.exit_code == 2 and str(files["live"]) in r.output and "only the published read copy" in r.output


def test_any_other_file_is_refused_by_the_cli(files, tmp_path):
    other = tmp_path / "other.duckdb"
    warehouse.publish_read_copy(files["live"], other)
    r = CliRunner().invoke(main, ["query", "SELECT 1", "--db", str(other)])
    assert r.exit_code == 2 and str(other) in r.output
    r = CliRunner().invoke(main, ["query", "SELECT 1 AS a", "--db", str(files["read"])])
    assert r.exit_code == 0, r.output


def test_a_long_query_is_interrupted(files):
    t0 = time.monotonic()
    with pytest.raises(QueryTimeoutError, match=r"interrupted after 0.5 s"):
        run_sandboxed("SELECT count(*) FROM range(100000000000) a, range(10) b", timeout_s=0.5)
    assert time.monotonic() - t0 < 20


def test_the_cli_timeout_flag(files):
    r = CliRunner().invoke(main, ["query", "SELECT sum(a.range) FROM range(100000000000) a", "--timeout", "0.3"])
    assert r.exit_code == 1 and "interrupted after 0.3 s" in r.output and "Traceback" not in r.output


def test_the_row_limit_is_applied_in_the_query(files):
    # a trillion rows: materialising them first would never finish
    t0 = time.monotonic()
    df = run_sandboxed("SELECT range AS i FROM range(1000000000000)", max_rows=10, timeout_s=20)
    assert len(df) == 10 and df.attrs["truncated"] is True
    assert time.monotonic() - t0 < 15
    df = run_sandboxed("SELECT * FROM market.universe", max_rows=10)
    assert len(df) == 1 and df.attrs["truncated"] is False
    # other statement kinds are fetched row by row up to the limit
    df = run_sandboxed("CALL range(1000000000000)", max_rows=5, timeout_s=20)
    assert len(df) == 5 and df.attrs["truncated"] is True
    ordered = run_sandboxed("SELECT range AS i FROM range(100) ORDER BY i DESC;", max_rows=3)
    assert ordered["i"].tolist() == [99, 98, 97]


def test_the_cli_says_when_the_result_was_cut(files):
    r = CliRunner().invoke(main, ["query", "SELECT range AS i FROM range(1000000000000)", "--limit", "20",
                                  "--max-rows", "5"])
    assert r.exit_code == 0, r.output
    assert "... 15 more rows (20 in all)" in r.output and "result cut at 20 rows" in r.output


def test_csv_never_overwrites_without_force(files, tmp_path):
    out = tmp_path / "precious.csv"
    out.write_text("x" * 1000)
    r = CliRunner().invoke(main, ["query", "SELECT ticker FROM market.universe", "--csv", str(out)])
    assert r.exit_code == 2 and "already exists" in r.output and "--force" in r.output
    assert out.read_text() == "x" * 1000
    r = CliRunner().invoke(main, ["query", "SELECT ticker FROM market.universe", "--csv", str(out), "--force"])
    assert r.exit_code == 0, r.output
    assert pd.read_csv(out)["ticker"].tolist() == ["SPY"]

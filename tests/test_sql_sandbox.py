"""The query sandbox: every hostile statement is refused with its kind named, nothing is
written anywhere, and both warehouse files are byte-identical afterwards."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent))
from sandbox_cases import ALLOWED, HOSTILE  # noqa: E402

from primeflow_lib import warehouse  # noqa: E402
from primeflow_lib.sql_sandbox import (  # noqa: E402
    SANDBOX_SETTINGS,
    QueryRefusedError,
    open_sandboxed_connection,
    run_sandboxed,
)

hostile_frame = pd.DataFrame({"secret": ["from python"]})  # what a replacement scan would read


def _digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.fixture
def files(tmp_path):
    live, read = warehouse.warehouse_path(), warehouse.read_copy_path()
    with warehouse.connect(live) as con:
        warehouse.ensure_tables(con)
        con.execute("INSERT INTO market.universe (trade_date, ticker, rank, avg_volume, vendor) "
                    "VALUES (DATE '2024-01-02', 'SPY', 1, 1e6, 'synthetic')")
        con.execute("CHECKPOINT")
    warehouse.publish_read_copy(live, read)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    data = tmp_path / "data"
    pd.DataFrame({"a": [1]}).to_csv(f"{data}.csv", index=False)
    pd.DataFrame({"a": [1]}).to_parquet(f"{data}.parquet")
    Path(f"{data}.json").write_text('{"a": 1}\n')
    return {"live": live, "read": read, "tmp": scratch, "data": data}


def _fill(sql: str, f: dict) -> str:
    return sql.format(live=f["live"], tmp=f["tmp"], data=f["data"])


def test_settings_are_in_force(files):
    with open_sandboxed_connection() as con:
        got = dict(con.execute("SELECT name, value FROM duckdb_settings()").fetchall())
    for k, v in SANDBOX_SETTINGS.items():
        assert str(got[k]).lower() == str(v).lower(), k


def test_opens_the_read_copy_by_default(files):
    with open_sandboxed_connection() as con:
        path = con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchall()
    assert Path(path[0][0]).resolve() == files["read"].resolve()


@pytest.mark.parametrize(("sql", "kind"), HOSTILE, ids=[h[0][:40] for h in HOSTILE])
def test_hostile_statement_is_refused_and_nothing_changes(files, sql, kind):
    before = {k: _digest(files[k]) for k in ("live", "read")}
    with pytest.raises(QueryRefusedError) as ei:
        run_sandboxed(_fill(sql, files))
    msg = str(ei.value)
    assert msg.startswith("refused:") and kind.lower() in msg.lower(), msg
    assert {k: _digest(files[k]) for k in ("live", "read")} == before
    assert list(files["tmp"].iterdir()) == []
    with warehouse.connect(files["live"], read_only=True) as con:
        assert con.execute("SELECT count(*) FROM market.universe").fetchall() == [(1,)]


def test_raw_connection_refuses_without_the_statement_check(files):
    """The DuckDB settings alone (what the workbench gets) stop every file, ATTACH, extension and
    settings statement; the few that run (CHECKPOINT / VACUUM / BEGIN / a temp table in memory)
    change nothing."""
    before = {k: _digest(files[k]) for k in ("live", "read")}
    ran = []
    for sql, _ in HOSTILE:
        con = open_sandboxed_connection()
        try:
            con.execute(_fill(sql, files)).fetchall()
            ran.append(sql)
        except duckdb.Error:
            pass
        finally:
            con.close()
    harmless = {"CHECKPOINT", "VACUUM", "BEGIN TRANSACTION", "USE memory", "CREATE TEMP TABLE x AS SELECT 1"}
    assert set(ran) <= harmless, ran
    assert {k: _digest(files[k]) for k in ("live", "read")} == before
    assert list(files["tmp"].iterdir()) == []


@pytest.mark.parametrize("sql", ALLOWED)
def test_read_only_statements_still_work(files, sql):
    assert isinstance(run_sandboxed(sql), pd.DataFrame)


def test_bound_parameters_and_a_typo(files):
    assert run_sandboxed("SELECT ticker FROM market.universe WHERE rank = ?", [1])["ticker"].tolist() == ["SPY"]
    with pytest.raises(warehouse.WarehouseError, match="only tables of the read copy") as ei:
        run_sandboxed("SELECT * FROM no_such_table")
    assert not isinstance(ei.value, QueryRefusedError)


def test_cli_query_refuses_and_exports_only_through_csv(files, tmp_path):
    from primeflow_pipelines.commands import main

    r = CliRunner().invoke(main, ["query", f"ATTACH '{files['live']}' AS w (READ_WRITE); DROP TABLE w.market.universe"])
    assert r.exit_code == 1 and "refused: ATTACH" in r.output
    r = CliRunner().invoke(main, ["query", f"COPY (SELECT 1) TO '{files['tmp']}/x.csv'"])
    assert r.exit_code == 1 and "refused: COPY" in r.output
    out = tmp_path / "out.csv"
    r = CliRunner().invoke(main, ["query", "SELECT ticker, rank FROM market.universe", "--csv", str(out)])
    assert r.exit_code == 0, r.output
    assert pd.read_csv(out).to_dict("records") == [{"ticker": "SPY", "rank": 1}]
    assert list(files["tmp"].iterdir()) == []


def test_missing_read_copy_is_a_clear_error(tmp_path):
    with pytest.raises(warehouse.WarehouseError, match="does not exist"):
        open_sandboxed_connection(tmp_path / "nope.duckdb")


def test_an_unsandboxed_connection_in_the_same_process_fails_closed(files):
    con = duckdb.connect(str(files["read"]), read_only=True)
    try:
        with pytest.raises(warehouse.WarehouseError, match="without the sandbox"):
            run_sandboxed("SELECT 1")
    finally:
        con.close()
    assert run_sandboxed("SELECT 1 AS a")["a"].tolist() == [1]

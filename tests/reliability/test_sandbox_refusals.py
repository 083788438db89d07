"""Every hostile query statement is refused, through the library and through ``primeflow query``,
and the live warehouse and read copy are byte-identical afterwards."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from sandbox_cases import HOSTILE

from primeflow_lib import warehouse
from primeflow_lib.sql_sandbox import QueryRefusedError, run_sandboxed

pytestmark = pytest.mark.slow

hostile_frame = pd.DataFrame({"secret": ["from python"]})  # what a replacement scan would read


def _digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_hostile_statements_refused_files_untouched(tmp_path, record_property):
    from primeflow_pipelines.commands import main

    live, read = warehouse.warehouse_path(), warehouse.read_copy_path()
    with warehouse.connect(live) as con:
        warehouse.ensure_tables(con)
        con.execute("INSERT INTO market.universe (trade_date, ticker, rank, avg_volume, vendor) "
                    "VALUES (DATE '2024-01-02', 'SPY', 1, 1e6, 'synthetic')")
        con.execute("CHECKPOINT")
    warehouse.publish_read_copy(live, read)
    scratch, data = tmp_path / "scratch", tmp_path / "data"
    scratch.mkdir()
    pd.DataFrame({"a": [1]}).to_csv(f"{data}.csv", index=False)
    pd.DataFrame({"a": [1]}).to_parquet(f"{data}.parquet")
    Path(f"{data}.json").write_text('{"a": 1}\n')
    before = (_digest(live), _digest(read))
    refused = via_cli = ran = 0
    for sql, _ in HOSTILE:
        s = sql.format(live=live, tmp=scratch, data=data)
        try:
            run_sandboxed(s)
            ran += 1
        except QueryRefusedError:
            refused += 1
        r = CliRunner().invoke(main, ["query", s])
        via_cli += int(r.exit_code == 1 and "refused:" in r.output)
    identical = (_digest(live), _digest(read)) == before
    written = len(list(scratch.iterdir()))
    for k, v in {"statements": len(HOSTILE), "refused": refused, "refused_via_cli": via_cli, "ran": ran,
                 "files_identical": identical, "files_written": written}.items():
        record_property(k, v)
    assert refused == via_cli == len(HOSTILE) and ran == 0
    assert identical and written == 0

"""Content hashes of warehouse tables: equal hashes = the same rows, whatever the storage (a
DuckDB table or a Delta Lake table read through DuckDB) and whatever order they were written in.
Used to check that the scale profile stores exactly what the embedded profile stores."""

from __future__ import annotations

import datetime as dt
import hashlib

import duckdb

from primeflow_lib.schema import table


def table_hash(con: duckdb.DuckDBPyConnection, fqn: str, lo: dt.date | None = None,
               hi: dt.date | None = None) -> tuple[int, str]:
    """``(rows, hex digest)`` of the declared columns of ``fqn`` (optionally only partitions
    ``lo``..``hi``). Each row is cast to its declared type (JSON as text) and hashed by DuckDB;
    the digest is SHA-256 over the sorted row hashes, so it ignores row order and storage."""
    t = table(fqn)
    where, params = "", []
    if lo is not None and t.partition_column:
        where = f' WHERE "{t.partition_column}" BETWEEN ? AND ?'
        params = [lo, hi or lo]
    rows = con.execute(
        f"SELECT hash(x) AS h FROM (SELECT {t.cast_select()} FROM {t.fqn}{where}) x ORDER BY h",
        params).fetchall()
    digest = hashlib.sha256()
    for (h,) in rows:
        digest.update(int(h).to_bytes(8, "little"))
    return len(rows), digest.hexdigest()


def tables_hash(con: duckdb.DuckDBPyConnection, fqns: list[str], lo: dt.date | None = None,
                hi: dt.date | None = None) -> dict[str, tuple[int, str]]:
    """:func:`table_hash` of each table, plus ``"all"``: one digest over all of them."""
    out = {f: table_hash(con, f, lo, hi) for f in fqns}
    combined = hashlib.sha256("".join(f"{f}:{n}:{h};" for f, (n, h) in sorted(out.items())).encode())
    out["all"] = (sum(n for n, _ in out.values()), combined.hexdigest())
    return out

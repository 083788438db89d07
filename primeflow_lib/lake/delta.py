"""Delta Lake tables (delta-rs) for the partitioned fact tables, and their place in DuckDB.

**Writing.** :func:`replace_partition` rewrites a window of trading days of one table as **one
Delta commit** (an overwrite with a predicate on the partition column): readers see the old
partition or the new one, never a half-written day, and a writer killed before its commit leaves
only unreferenced files (the old version stays current). Commits of different partitions by
concurrent writers (runs, machines) succeed side by side; two writers rewriting the same
partition at once conflict, and the loser gets :class:`LakeConflictError` (nothing of its write
is visible). Values are cast by DuckDB with the same casts as the DuckDB tables
(:meth:`~primeflow_lib.schema.base.Table.cast_select`), so a lake table and its DuckDB twin hold
the same values.

**Reading.** :func:`attach` registers each lake table on a DuckDB connection as an Arrow dataset
named ``pf_lake__<schema>__<table>``; the warehouse file holds a view ``<schema>.<table>`` over
that name, so every query (assets, checks, marts, the read copy, ``primeflow query``) reads
lake tables with the same SQL as DuckDB tables. DuckDB pushes filters on the partition column
down to the dataset (only the days asked for are read). The read copy pins each table to the
Delta version current at publish time (views over ``pf_lake__<schema>__<table>__v<version>``).

**Schema.** A Delta table's columns must equal its declaration in :mod:`primeflow_lib.schema`
(names, order and types); anything else is a :class:`~primeflow_lib.warehouse_errors.SchemaMismatchError`
naming the table, its URI and the differing columns. Tables are created from the declarations
on first use, partitioned by their DATE partition column (one folder per trading day).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import threading
from collections.abc import Mapping
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from primeflow_lib.lake.settings import LakeSettings, lake_settings
from primeflow_lib.schema import Table, table
from primeflow_lib.warehouse_errors import SchemaMismatchError, WarehouseError

#: name prefix of the Arrow datasets registered on a connection
PREFIX = "pf_lake__"
_VIEW_REF = re.compile(r"\bpf_lake__([a-z_]+?)__([a-z_0-9]+?)(?:__v(\d+))?\b")

#: declared DuckDB type -> (Arrow type written, Delta primitive type stored)
_TYPES: dict[str, tuple[pa.DataType, str]] = {
    "BOOLEAN": (pa.bool_(), "boolean"),
    "INTEGER": (pa.int32(), "integer"),
    "BIGINT": (pa.int64(), "long"),
    "DOUBLE": (pa.float64(), "double"),
    "VARCHAR": (pa.string(), "string"),
    "JSON": (pa.string(), "string"),
    "DATE": (pa.date32(), "date"),
    "TIMESTAMP": (pa.timestamp("us"), "timestamp_ntz"),
}


class LakeError(WarehouseError):
    """The lake could not be read or written; the message names the setting, table and URI."""


class LakeConflictError(LakeError):
    """Another writer committed to the same partition first; this write was not committed."""


def arrow_schema(t: Table) -> pa.Schema:
    """The Arrow schema a lake table is written with (every column nullable in Delta; NOT NULL
    is enforced before writing, as for DuckDB tables)."""
    return pa.schema([pa.field(c.name, _TYPES[c.type][0], nullable=True) for c in t.columns])


def registered_name(t: Table, version: int | None = None) -> str:
    """``pf_lake__<schema>__<table>`` (latest) or ``...__v<version>`` (pinned)."""
    return f"{PREFIX}{t.schema}__{t.name}" + ("" if version is None else f"__v{version}")


def view_sql(t: Table, version: int | None = None) -> str:
    """``CREATE OR REPLACE VIEW`` of ``t`` over its registered dataset."""
    return f"CREATE OR REPLACE VIEW {t.fqn} AS SELECT * FROM {registered_name(t, version)}"


# ------------------------------------------------------------------------------------------
# opening tables (cached per process: opening reads the Delta log)

_OPEN: dict[str, Any] = {}
#: uri -> (version, Arrow dataset of that version): building a dataset lists every data file of
#: the table (~15 ms for a few dozen files), and every warehouse connection registers each table
_DATASETS: dict[str, tuple[int, Any]] = {}
_LOCK = threading.Lock()
_MEM = threading.local()


def memory_connection() -> duckdb.DuckDBPyConnection:
    """This thread's in-memory DuckDB connection for lake work (casting frames, reading lake
    tables by name), opened once: opening one costs ~25 ms. Callers register what they need
    and must not close it."""
    con = getattr(_MEM, "con", None)
    # a DuckDB connection is not used across fork (the child opens its own; no at-fork hook:
    # those also run in subprocess children before exec, where they must not allocate)
    if con is None or getattr(_MEM, "pid", None) != os.getpid():
        con = _MEM.con = duckdb.connect()
        _MEM.pid = os.getpid()
    return con


def forget_tables() -> None:
    """Drop the process's cache of opened Delta tables (after the lake settings change, e.g. in
    tests and the benchmark that switch between lakes in one process)."""
    with _LOCK:
        _OPEN.clear()
        _DATASETS.clear()


def latest_dataset(s: LakeSettings, t: Table, *, create: bool) -> Any:
    """The Arrow dataset of ``t`` at its latest version (built once per version and process: a
    Delta version never changes)."""
    dtab = _open(s, t, create=create)
    version, uri = int(dtab.version()), s.uri(t)
    with _LOCK:
        hit = _DATASETS.get(uri)
    if hit is not None and hit[0] == version:
        return hit[1]
    ds = dtab.to_pyarrow_dataset()
    with _LOCK:
        _DATASETS[uri] = (version, ds)
    return ds


def _explain(exc: Exception, s: LakeSettings, t: Table, uri: str) -> str:
    text = str(exc)
    first = " ".join(text.split())[:400]
    if "NoSuchBucket" in text or "bucket does not exist" in text.lower():
        bucket = uri.split("/")[2]
        return (f"{s.describe()}: bucket {bucket!r} does not exist on the S3 endpoint; create it "
                f"(or fix {s.describe().split('=')[0]}) before writing {t.fqn}")
    if "InvalidAccessKeyId" in text or "SignatureDoesNotMatch" in text or "403" in text:
        return (f"{s.describe()}: the S3 server refused the credentials (AWS_ACCESS_KEY_ID / "
                f"AWS_SECRET_ACCESS_KEY) for {t.fqn} at {uri}: {first}")
    if any(k in text for k in ("Connection refused", "error sending request", "tcp connect", "dns error")):
        return (f"{s.describe()}: the storage endpoint does not answer (reading {t.fqn} at {uri}): {first}")
    return f"{s.describe()}: {t.fqn} at {uri}: {first}"


def _open(s: LakeSettings, t: Table, *, create: bool) -> Any:
    """The DeltaTable of ``t`` at its latest version (created from the declaration if missing
    and ``create``); the schema is checked against the declaration."""
    from deltalake import DeltaTable

    uri = s.uri(t)
    with _LOCK:
        dtab = _OPEN.get(uri)
    try:
        if dtab is not None:
            dtab.update_incremental()
        elif DeltaTable.is_deltatable(uri, storage_options=s.storage_options):
            dtab = DeltaTable(uri, storage_options=s.storage_options)
        elif create:
            with contextlib.suppress(Exception):  # another process may create it at the same moment
                DeltaTable.create(uri, schema=arrow_schema(t), partition_by=[t.partition_column],
                                  mode="ignore", storage_options=s.storage_options,
                                  name=t.fqn, description=t.doc[:200])
            dtab = DeltaTable(uri, storage_options=s.storage_options)
        else:
            raise LakeError(f"{s.describe()}: no Delta table for {t.fqn} at {uri}")
    except LakeError:
        raise
    except Exception as exc:  # delta-rs raises OSError / DeltaError / TableNotFoundError
        raise LakeError(_explain(exc, s, t, uri)) from None
    check_schema(dtab, t, uri)
    with _LOCK:
        _OPEN[uri] = dtab
    return dtab


def check_schema(dtab: Any, t: Table, uri: str) -> None:
    """Raise :class:`SchemaMismatchError` when the Delta table's columns or partitioning differ
    from the declaration of ``t``."""
    got = [(f.name, str(getattr(f.type, "type", f.type))) for f in dtab.schema().fields]
    want = [(c.name, _TYPES[c.type][1]) for c in t.columns]
    parts = list(dtab.metadata().partition_columns)
    if got == want and parts == [t.partition_column]:
        return
    g, w = dict(got), dict(want)
    missing = [n for n, _ in want if n not in g]
    extra = [n for n, _ in got if n not in w]
    changed = [f"{n}: {g[n]} (declared {ty})" for n, ty in want if n in g and g[n] != ty]
    order = "" if missing or extra or changed or [n for n, _ in got] == [n for n, _ in want] else "; column order differs"
    part = "" if parts == [t.partition_column] else f"; partitioned by {parts} (declared [{t.partition_column!r}])"
    raise SchemaMismatchError(
        f"lake table {t.fqn} at {uri} does not match its declaration (missing: {missing}, "
        f"undeclared: {extra}, type changed: {changed}{order}{part}); it was written by another "
        "version: point PRIMEFLOW_LAKE_URI at a new location or rewrite the table")


# ------------------------------------------------------------------------------------------
# DuckDB side


def lake_tables(s: LakeSettings) -> list[Table]:
    return [table(fqn) for fqn in s.tables]


def attach(con: duckdb.DuckDBPyConnection, s: LakeSettings | None = None, *, create: bool = True,
           tables: list[Table] | None = None) -> None:
    """Register every lake table (or only ``tables``) on ``con`` at its latest version (see the
    module doc); tables the read copy pins to a version (its views name ``...__v<version>``) at
    that version."""
    s = s or lake_settings()
    refs = lake_refs(con)
    if s is None:
        if refs:
            names = sorted({f"{sc}.{n}" for sc, n, _ in refs})
            raise LakeError(
                f"this warehouse keeps {', '.join(names)} in Delta Lake tables, but "
                "PRIMEFLOW_LAKE_URI is not set: set it to the lake the pipeline writes")
        return
    for t in lake_tables(s) if tables is None else tables:
        con.register(registered_name(t), latest_dataset(s, t, create=create))
    for sc, n, version in refs:
        if version is None:
            continue
        t = table(f"{sc}.{n}")
        if not s.holds(t.fqn):
            raise LakeError(f"the read copy reads {t.fqn} from the lake, but {s.describe()} does "
                            f"not list it (PRIMEFLOW_LAKE_TABLES)")
        con.register(registered_name(t, version), _at_version(s, t, version).to_pyarrow_dataset())


def _at_version(s: LakeSettings, t: Table, version: int) -> Any:
    from deltalake import DeltaTable

    uri = s.uri(t)
    try:
        return DeltaTable(uri, version=version, storage_options=s.storage_options)
    except Exception as exc:
        raise LakeError(_explain(exc, s, t, uri) + f" (version {version} pinned by the read copy)") from None


def lake_refs(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, int | None]]:
    """``(schema, table, version)`` of every view of the open file that reads a lake table:
    ``version`` is the pinned Delta version (the read copy) or ``None`` (the latest)."""
    out = []
    for (sql,) in con.execute("SELECT sql FROM duckdb_views() WHERE NOT internal AND NOT temporary").fetchall():
        for m in _VIEW_REF.finditer(sql or ""):
            out.append((m.group(1), m.group(2), None if m.group(3) is None else int(m.group(3))))
    return out


def ensure_views(con: duckdb.DuckDBPyConnection, s: LakeSettings) -> None:
    """Create the view of each lake table in the warehouse file (refusing when the file holds
    a real table of that name: its rows would be hidden, not moved)."""
    kinds = dict(((sc, n), ty) for sc, n, ty in con.execute(
        "SELECT table_schema, table_name, table_type FROM information_schema.tables "
        "WHERE table_catalog = current_database()").fetchall())
    for t in lake_tables(s):
        kind = kinds.get((t.schema, t.name))
        if kind == "BASE TABLE":
            raise LakeError(
                f"{s.describe()} puts {t.fqn} in the lake, but this warehouse file already has a "
                f"DuckDB table {t.fqn}; use a new warehouse file (PRIMEFLOW_DUCKDB) for the lake "
                "profile, or remove the table from PRIMEFLOW_LAKE_TABLES")
        con.execute(view_sql(t))


def pin_views(con: duckdb.DuckDBPyConnection, catalog: str, s: LakeSettings) -> dict[str, int]:
    """In the attached database ``catalog`` (a read copy being written), point each lake
    table's view at the version current now; returns ``{fqn: version}``."""
    out = {}
    for t in lake_tables(s):
        dtab = _open(s, t, create=True)
        v = int(dtab.version())
        con.register(registered_name(t, v), dtab.to_pyarrow_dataset())
        con.execute(f"CREATE OR REPLACE VIEW {catalog}.{t.fqn} AS SELECT * FROM {registered_name(t, v)}")
        out[t.fqn] = v
    return out


# ------------------------------------------------------------------------------------------
# writing


def _literal(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (dt.date, pd.Timestamp)):
        return f"'{pd.Timestamp(v).date().isoformat()}'"
    return "'" + str(v).replace("'", "''") + "'"


def replace_partition(
    con: duckdb.DuckDBPyConnection | None, t: Table, frame: pd.DataFrame, lo: dt.date, hi: dt.date,
    where: Mapping[str, Any] | None = None, s: LakeSettings | None = None,
) -> int:
    """Replace the rows of ``t`` with ``lo <= partition <= hi`` (and the equality filters
    ``where``) by ``frame`` in one Delta commit; ``frame`` has the declared columns (checked by
    the caller). Re-registers the new version on ``con`` so the same connection reads it.

    Raises:
        LakeConflictError: another writer committed to the same partition in the meantime.
        LakeError: the storage refused the write (message names the setting and URI).
    """
    from deltalake import write_deltalake
    from deltalake.exceptions import CommitFailedError

    s = s or lake_settings()
    if s is None or not s.holds(t.fqn):
        raise LakeError(f"{t.fqn} is not a lake table under the current settings")
    dtab = _open(s, t, create=True)
    pc = t.partition_column
    pred = [f'"{pc}" >= {_literal(lo)}', f'"{pc}" <= {_literal(hi)}']
    pred += [f'"{c}" = {_literal(v)}' for c, v in (where or {}).items() if t.column(c)]
    data = _to_arrow(t, frame)
    try:
        write_deltalake(dtab, data, mode="overwrite", predicate=" AND ".join(pred),
                        partition_by=[pc], storage_options=s.storage_options)
    except CommitFailedError as exc:
        raise LakeConflictError(
            f"{t.fqn} partition {lo} .. {hi} at {s.uri(t)} was rewritten by another writer at the same "
            f"time; this write was not committed (the partition holds the other writer's rows). "
            f"Rewrite the partition again when the other run is done: {str(exc).splitlines()[0]}"
        ) from None
    except Exception as exc:
        raise LakeError(_explain(exc, s, t, s.uri(t))) from None
    if con is not None:
        con.register(registered_name(t), latest_dataset(s, t, create=False))
    return len(frame)


def _to_arrow(t: Table, frame: pd.DataFrame) -> pa.Table:
    """``frame`` cast by DuckDB exactly as an INSERT into the DuckDB table would cast it."""
    if frame.empty:
        return arrow_schema(t).empty_table()
    mem = memory_connection()
    try:
        mem.register("_pf_frame", frame)
        out = mem.sql(f"SELECT {t.cast_select()} FROM _pf_frame").to_arrow_table()
    finally:
        mem.unregister("_pf_frame")
    return out.cast(arrow_schema(t))

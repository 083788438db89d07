"""The DuckDB warehouse: one file, short connections, atomic partition rewrites, a read copy.

Paths: ``PRIMEFLOW_DUCKDB`` (default ``var/primeflow.duckdb``) is the live file only the pipeline
opens; ``PRIMEFLOW_READ_DUCKDB`` (default ``var/primeflow_read.duckdb``) is the published copy
people and query tools read, so a reader never blocks the pipeline with DuckDB's single-writer
lock. The copy is replaced atomically (``os.replace``) after each successful write run.

Every write goes through :func:`replace_partition`, :func:`replace_where` or :func:`append_rows`:
one transaction, values bound or scanned from a registered frame, identifiers only from the
declarations in :mod:`primeflow_lib.schema`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from primeflow_lib.lake import delta as lake
from primeflow_lib.lake.settings import lake_settings
from primeflow_lib.schema import ALL_TABLES, SCHEMAS, Table, table
from primeflow_lib.warehouse_errors import SchemaMismatchError, WarehouseError, WarehouseLockedError
from primeflow_lib.warehouse_lock import writer_turn

DEFAULT_PATH = "var/primeflow.duckdb"
DEFAULT_READ_PATH = "var/primeflow_read.duckdb"
_DUCKDB_MAGIC = b"DUCK"




def warehouse_path() -> Path:
    """The live warehouse file (``PRIMEFLOW_DUCKDB``)."""
    return Path(os.environ.get("PRIMEFLOW_DUCKDB") or DEFAULT_PATH)


def read_copy_path() -> Path:
    """The published read copy (``PRIMEFLOW_READ_DUCKDB``)."""
    return Path(os.environ.get("PRIMEFLOW_READ_DUCKDB") or DEFAULT_READ_PATH)


def check_file(path: Path) -> None:
    """Refuse a path that is a directory, a truncated file or not a DuckDB file (a missing file
    is fine: DuckDB creates it). Raises :class:`WarehouseError` naming the path."""
    if path.exists():
        if path.is_dir():
            raise WarehouseError(f"warehouse path {path} is a directory, not a DuckDB file")
        with path.open("rb") as fh:
            head = fh.read(16)
        if len(head) >= 12 and head[8:12] != _DUCKDB_MAGIC:
            raise WarehouseError(
                f"warehouse path {path} exists but is not a DuckDB database file "
                "(refusing to open or overwrite it; point PRIMEFLOW_DUCKDB elsewhere)"
            )
        if 0 < len(head) < 12:
            raise WarehouseError(f"warehouse file {path} is truncated ({len(head)} bytes)")


@contextlib.contextmanager
def connect(
    path: str | os.PathLike | None = None,
    *,
    read_only: bool = False,
    lock_timeout_s: float = 120.0,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse for the duration of a ``with`` block, then close it.

    Args:
        path: the DuckDB file; default :func:`warehouse_path`.
        read_only: open read-only (the file must exist).
        lock_timeout_s: how long to wait while another process holds the file, before raising
            :class:`WarehouseLockedError`: for another PrimeFlow process, its turn on the
            advisory lock (:mod:`primeflow_lib.warehouse_lock`, asked for every few
            milliseconds); for any other process, DuckDB's own lock (jittered exponential backoff).

    Keep the block short: never hold it across a vendor call or a long computation.
    """
    p = Path(path) if path is not None else warehouse_path()
    check_file(p)
    if read_only and not p.exists():
        raise WarehouseError(f"warehouse file {p} does not exist (run `make demo` or materialize assets first)")
    if not read_only:
        p.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as turn:
        if not read_only:  # PrimeFlow writers take turns on an advisory lock (warehouse_lock)
            turn.enter_context(writer_turn(p, lock_timeout_s))
        with _open(p, read_only, lock_timeout_s) as con:
            yield con


@contextlib.contextmanager
def _open(p: Path, read_only: bool, lock_timeout_s: float) -> Iterator[duckdb.DuckDBPyConnection]:
    deadline = time.monotonic() + lock_timeout_s
    delay = 0.05
    while True:
        try:
            con = duckdb.connect(str(p), read_only=read_only)
            break
        except duckdb.IOException as exc:
            msg = str(exc)
            if "lock" not in msg.lower():
                raise WarehouseError(f"cannot open warehouse {p}: {msg}") from None
            if time.monotonic() >= deadline:
                raise WarehouseLockedError(
                    f"warehouse {p} is locked by another process for more than {lock_timeout_s:.0f} s: {msg}"
                ) from None
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 0.25)  # a process outside PrimeFlow's turns holds the file
        except duckdb.Error as exc:
            raise WarehouseError(f"cannot open warehouse {p}: {exc}") from None
    try:
        lake.attach(con, create=not read_only)  # lake tables, when PRIMEFLOW_LAKE_URI is set
        yield con
    finally:
        con.close()


def in_lake(t: Table | str) -> bool:
    """True when ``t`` is kept in a Delta Lake table under the current settings
    (``PRIMEFLOW_LAKE_URI`` / ``PRIMEFLOW_LAKE_TABLES``), False when it is a DuckDB table."""
    lk = lake_settings()
    return lk is not None and lk.holds(_as_table(t).fqn)


@contextlib.contextmanager
def connect_for(tables: Sequence[Table | str], path: str | os.PathLike | None = None,
                **kw: Any) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to read ``tables`` by their usual names (``flow.option_prints`` ...).

    When every table is a lake table this is an in-memory DuckDB connection with the lake
    tables registered at their latest version and a view ``<schema>.<table>`` over each: reading
    the lake does not need the warehouse file, so it neither waits for nor holds the file's lock
    (the one lock every process writing the small DuckDB tables shares); only ``tables`` are
    registered (a table not written yet is created empty, as :func:`connect` does). Otherwise (a DuckDB
    table among them, or no lake configured) it is :func:`connect` on the file (``path``,
    ``**kw``). Read with it only: the in-memory connection is this thread's
    (:func:`primeflow_lib.lake.delta.memory_connection`), kept open for the next block."""
    tbs = [_as_table(t) for t in tables]
    lk = lake_settings()
    if not tbs or lk is None or not all(lk.holds(t.fqn) for t in tbs):
        with connect(path, **kw) as con:
            yield con
        return
    con = lake.memory_connection()
    lake.attach(con, lk, tables=tbs)
    for t in tbs:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {t.schema}")
        con.execute(lake.view_sql(t))
    yield con


@contextlib.contextmanager
def scratch(frames: Mapping[str, pd.DataFrame]) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB connection with ``frames`` registered under their names, for SQL over
    in-memory rows (no file). One connection per thread, kept open: opening one costs about
    25 ms, which a streaming step cannot pay on every commit. The names are unregistered when
    the block ends, so nothing from one use is seen by the next."""
    con = lake.memory_connection()  # the thread's one in-memory connection (lake work uses it too)
    names = []
    try:
        for name, df in frames.items():
            con.register(name, df)
            names.append(name)
        yield con
    finally:
        for name in names:
            with contextlib.suppress(duckdb.Error):
                con.unregister(name)


def ensure_tables(con: duckdb.DuckDBPyConnection, tables: Sequence[Table] | None = None) -> None:
    """Create the schemas and declared tables that do not exist yet, and check the existing ones
    still match their declarations (:class:`SchemaMismatchError` names the table and columns)."""
    for s in SCHEMAS:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {s}")
    lk = lake_settings()
    for t in tables if tables is not None else ALL_TABLES.values():
        if lk is not None and lk.holds(t.fqn):
            continue  # a view over the Delta table (below); its schema is checked when opened
        con.execute(t.ddl())
        stored = con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
            [t.schema, t.name],
        ).fetchall()
        declared = [(c.name, c.type) for c in t.columns]
        got = [(n, "JSON" if ty == "JSON" else ty) for n, ty in stored]
        if got != declared:
            missing = [n for n, _ in declared if n not in dict(got)]
            extra = [n for n, _ in got if n not in dict(declared)]
            changed = [n for n, ty in declared if n in dict(got) and dict(got)[n] != ty]
            raise SchemaMismatchError(
                f"{t.fqn} in the warehouse does not match its declaration "
                f"(missing: {missing}, undeclared: {extra}, type changed: {changed}); "
                "this warehouse was written by another version: rebuild it (delete the file and "
                "re-materialize) or point PRIMEFLOW_DUCKDB at a new file"
            )
    if lk is not None:
        lake.ensure_views(con, lk)


_ENSURED: set[tuple[str, int]] = set()


def ensure_tables_once(con: duckdb.DuckDBPyConnection, path: str | os.PathLike) -> None:
    """:func:`ensure_tables` the first time this process opens a given warehouse file (the same
    path and inode); later connections skip the ~0.2 s of DDL and catalog checks."""
    p = Path(path).resolve()
    key = (str(p), p.stat().st_ino if p.exists() else -1)
    if key in _ENSURED:
        return
    ensure_tables(con)
    key = (str(p), p.stat().st_ino)
    _ENSURED.add(key)


def conform(t: Table, df: pd.DataFrame) -> pd.DataFrame:
    """Check ``df`` has exactly the declared columns of ``t`` and no NULL in a NOT NULL column.

    Raises:
        WarehouseError: naming the table, the column and (for NULLs) the first offending row.
    """
    cols = list(df.columns)
    missing = [c for c in t.column_names if c not in cols]
    extra = [c for c in cols if c not in t.column_names]
    if missing or extra:
        raise WarehouseError(f"frame for {t.fqn}: missing columns {missing}, undeclared columns {extra}")
    out = df[t.column_names]
    for c in t.columns:
        if c.nullable:
            continue
        isnull = out[c.name].isna().to_numpy()
        if isnull.any():
            row = int(np.flatnonzero(isnull)[0])
            raise WarehouseError(
                f"frame for {t.fqn}: column {c.name!r} is NULL in row {row} "
                f"(of {len(out)}); the column is NOT NULL"
            )
    return out


def _insert(con: duckdb.DuckDBPyConnection, t: Table, df: pd.DataFrame) -> int:
    if df.empty:
        return 0
    frame = conform(t, df)
    name = "_pf_frame"
    con.register(name, frame)
    try:
        con.execute(f"INSERT INTO {t.fqn} SELECT {t.cast_select()} FROM {name}")
    finally:
        con.unregister(name)
    return len(frame)


def _as_table(t: Table | str) -> Table:
    return t if isinstance(t, Table) else table(t)


def _window_bounds(start: Any, end: Any) -> tuple[Any, Any]:
    if end is None:
        end = start
    if end < start:
        raise WarehouseError(f"partition window end {end} is before its start {start}")
    return start, end


def replace_partition(
    con: duckdb.DuckDBPyConnection,
    t: Table | str,
    df: pd.DataFrame,
    start: dt.date | dt.datetime,
    end: dt.date | dt.datetime | None = None,
    *,
    where: Mapping[str, Any] | None = None,
) -> int:
    """Rewrite the partition window ``start``..``end`` (inclusive) of ``t`` with ``df`` in one
    transaction: ``BEGIN; DELETE window; INSERT; COMMIT``. A crash leaves the old or the new
    partition, never an empty or partial one. Rewriting twice gives the same rows.

    Args:
        where: extra equality filters on declared columns narrowing what is deleted (e.g.
            ``{"ticker": "SPY"}``).
    Returns:
        Rows inserted.
    Raises:
        WarehouseError: a row of ``df`` outside the window, or a column problem (see :func:`conform`).
    """
    tb = _as_table(t)
    if tb.partition_column is None:
        raise WarehouseError(f"{tb.fqn} has no partition column; use replace_where or append_rows")
    lo, hi = _window_bounds(start, end)
    pc = tb.partition_column
    if not df.empty:
        vals = pd.to_datetime(df[pc])
        lo_ts, hi_ts = pd.Timestamp(lo), pd.Timestamp(hi)
        if tb.column(pc).type == "DATE":
            hi_ts = hi_ts + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)
        bad = ~((vals >= lo_ts) & (vals <= hi_ts)).to_numpy()
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise WarehouseError(
                f"frame for {tb.fqn}: row {row} has {pc}={df[pc].iloc[row]!r}, outside the "
                f"partition window {lo} .. {hi}"
            )
    lk = lake_settings()
    if lk is not None and lk.holds(tb.fqn):  # one Delta commit, outside the DuckDB transaction
        return lake.replace_partition(con, tb, df if df.empty else conform(tb, df), lo, hi, where, lk)
    clauses = [f'"{pc}" BETWEEN ? AND ?']
    params: list[Any] = [lo, hi]
    for col, val in (where or {}).items():
        tb.column(col)  # allow-list: only declared columns
        clauses.append(f'"{col}" = ?')
        params.append(val)
    return _rewrite(con, tb, df, " AND ".join(clauses), params)


def replace_where(con: duckdb.DuckDBPyConnection, t: Table | str, df: pd.DataFrame, where: Mapping[str, Any]) -> int:
    """Delete the rows of ``t`` matching the equality filters ``where`` and insert ``df``, in one
    transaction (e.g. all rows of one backtest ``run_id``)."""
    tb = _as_table(t)
    _not_in_lake(tb, "replace_where")
    if not where:
        raise WarehouseError(f"replace_where on {tb.fqn} needs at least one filter")
    clauses, params = [], []
    for col, val in where.items():
        tb.column(col)
        clauses.append(f'"{col}" = ?')
        params.append(val)
    return _rewrite(con, tb, df, " AND ".join(clauses), params)


@contextlib.contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """``BEGIN`` ... ``COMMIT`` (``ROLLBACK`` on any error). Writes made with the helpers of this
    module inside the block join it instead of committing on their own, so several tables change
    together or not at all."""
    if id(con) in _TX_OPEN:
        yield con
        return
    con.execute("BEGIN TRANSACTION")
    _TX_OPEN.add(id(con))
    try:
        yield con
        con.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            con.execute("ROLLBACK")
        raise
    finally:
        _TX_OPEN.discard(id(con))


_TX_OPEN: set[int] = set()

#: WAL size up to which commits inside :func:`deferred_checkpoint` stay in the write-ahead log
DEFERRED_CHECKPOINT_THRESHOLD = "8GB"


@contextlib.contextmanager
def deferred_checkpoint(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """Checkpoint once at the end of the block instead of at every large commit.

    DuckDB checkpoints (merges the write-ahead log into the main file) whenever a commit takes
    the WAL past ``checkpoint_threshold`` (16 MiB): with a transaction per session of ~50k rows
    that is a checkpoint per session, most of the write time. Inside this block each transaction
    still commits on its own, durably, to the WAL (a crash keeps every committed session: the
    WAL is replayed on the next open); the merge into the main file happens once at the end.
    Use it around several transactions written on one short connection.
    """
    con.execute(f"SET checkpoint_threshold = '{DEFERRED_CHECKPOINT_THRESHOLD}'")
    try:
        yield con
    finally:  # errors here would hide the block's own; closing the connection checkpoints too
        with contextlib.suppress(duckdb.Error):
            con.execute("RESET checkpoint_threshold")
            con.execute("CHECKPOINT")  # fails while another connection has a transaction open


@contextlib.contextmanager
def background_writer() -> Iterator[Callable[[Callable[[], Any]], Future]]:
    """Run write jobs on one background thread, in the order submitted, one at a time, so the
    caller computes the next batch while DuckDB writes the previous one (DuckDB releases the GIL
    while it inserts, commits and checkpoints; on 2 cores that hides most of the writing).

    Yields ``submit(job) -> Future``: it first waits for the previous job (re-raising its
    error), then starts ``job``. Leaving the block waits for the last job; its error propagates
    unless the block is already failing (then the job still finishes, so what it commits is
    kept). Each job opens its own short connection.
    """
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pf-writer")
    pending: list[Future] = []

    def submit(job: Callable[[], Any]) -> Future:
        if pending:
            pending.pop().result()
        fut = pool.submit(job)
        pending.append(fut)
        return fut

    try:
        yield submit
        if pending:
            pending.pop().result()
    finally:
        for fut in pending:  # only when the block failed: let the job finish, keep the first error
            with contextlib.suppress(Exception):
                fut.result()
        pool.shutdown(wait=True)


def _not_in_lake(tb: Table, how: str) -> None:
    lk = lake_settings()
    if lk is not None and lk.holds(tb.fqn):
        raise WarehouseError(f"{tb.fqn} is a lake table ({lk.describe()}): it is written a partition at a "
                             f"time with replace_partition, not with {how}")


def _rewrite(con: duckdb.DuckDBPyConnection, tb: Table, df: pd.DataFrame, clause: str, params: list) -> int:
    if id(con) in _TX_OPEN:  # part of the caller's transaction
        con.execute(f"DELETE FROM {tb.fqn} WHERE {clause}", params)
        return _insert(con, tb, df)
    with transaction(con):
        con.execute(f"DELETE FROM {tb.fqn} WHERE {clause}", params)
        return _insert(con, tb, df)


def upsert_rows(con: duckdb.DuckDBPyConnection, t: Table | str, df: pd.DataFrame) -> int:
    """Replace the rows of ``t`` whose key appears in ``df`` and insert ``df`` (one transaction,
    or the caller's). For tables updated across partitions, e.g. paper positions that carry
    over."""
    tb = _as_table(t)
    _not_in_lake(tb, "upsert_rows")
    if df.empty:
        return 0
    keys = list(tb.key)
    name = "_pf_keys"
    con.register(name, df[keys].drop_duplicates())
    try:
        on = " AND ".join(f't."{k}" = k."{k}"' for k in keys)
        with transaction(con):
            con.execute(f"DELETE FROM {tb.fqn} t WHERE EXISTS (SELECT 1 FROM {name} k WHERE {on})")
            return _insert(con, tb, df)
    finally:
        con.unregister(name)


def append_rows(con: duckdb.DuckDBPyConnection, t: Table | str, df: pd.DataFrame) -> int:
    """Insert ``df`` into ``t`` (caller controls the transaction)."""
    _not_in_lake(_as_table(t), "append_rows")
    return _insert(con, _as_table(t), df)


def write_quarantine(con: duckdb.DuckDBPyConnection, schema: str, qrows: pd.DataFrame, *, source: str, trade_date: dt.date | None) -> int:
    """Replace the quarantine rows of (``source``, ``trade_date``) in ``<schema>.quarantine``
    with ``qrows`` (so re-running a partition does not duplicate them)."""
    tb = table(f"{schema}.quarantine")
    where = {"source": source}
    if trade_date is None:
        return replace_where(con, tb, qrows, where)
    return replace_partition(con, tb, qrows, trade_date, trade_date, where=where)


def publish_read_copy(
    src: str | os.PathLike | None = None,
    dst: str | os.PathLike | None = None,
    *,
    con: duckdb.DuckDBPyConnection | None = None,
) -> Path:
    """Copy the live warehouse to the read copy atomically (write ``dst.tmp``, then
    ``os.replace``). A reader holding the old copy open is unaffected.

    The copy's modification time is set to when the copy **started** (its snapshot time), so
    :func:`read_copy_snapshot_time` says which writes it holds: every write committed before it.

    Pass ``con`` to reuse an open read-write connection to the live file."""
    dst_p = Path(dst) if dst is not None else read_copy_path()
    dst_p.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst_p.with_name(dst_p.name + f".tmp{os.getpid()}")
    tmp.unlink(missing_ok=True)

    def _copy(c: duckdb.DuckDBPyConnection) -> None:
        live = c.execute("SELECT current_database()").fetchall()[0][0]
        c.execute("ATTACH ? AS pf_snap", [str(tmp)])
        try:
            c.execute(f'COPY FROM DATABASE "{live}" TO pf_snap')
            lk = lake_settings()
            if lk is not None:  # the copy reads each lake table at today's version, not later ones
                lake.pin_views(c, "pf_snap", lk)
        finally:
            c.execute("DETACH pf_snap")

    started = time.time()
    try:
        if con is not None:
            _copy(con)
        else:
            with connect(src) as c:
                _copy(c)
        os.utime(tmp, (started, started))
        os.replace(tmp, dst_p)
    finally:
        tmp.unlink(missing_ok=True)
        Path(str(tmp) + ".wal").unlink(missing_ok=True)
    return dst_p


def read_copy_snapshot_time(dst: str | os.PathLike | None = None) -> float | None:
    """When the read copy's snapshot of the live warehouse was taken (epoch seconds; see
    :func:`publish_read_copy`), or None when there is no read copy."""
    p = Path(dst) if dst is not None else read_copy_path()
    try:
        return p.stat().st_mtime
    except FileNotFoundError:
        return None


def table_summary(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Rows and partition range per declared table that exists (for the demo summary)."""
    out = []
    existing = {
        f"{s}.{n}" for s, n in con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables"
        ).fetchall()
    }
    for fqn, t in ALL_TABLES.items():
        if fqn not in existing:
            continue
        n = con.execute(f"SELECT count(*) FROM {fqn}").fetchall()[0][0]
        lo = hi = None
        if t.partition_column and n:
            lo, hi = con.execute(f'SELECT min("{t.partition_column}"), max("{t.partition_column}") FROM {fqn}').fetchall()[0]
        out.append({"table": fqn, "rows": n, "from": lo, "to": hi})
    # marts are built from dbt_like_sql/, not declared: list whatever exists
    for s, name in sorted(x.split(".", 1) for x in existing if x.startswith("marts.")):
        n = con.execute(f'SELECT count(*) FROM marts."{name}"').fetchall()[0][0]
        out.append({"table": f"{s}.{name}", "rows": n, "from": None, "to": None})
    return pd.DataFrame(out)

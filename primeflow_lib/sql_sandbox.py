"""The query sandbox: the one way to open a DuckDB connection that runs SQL typed by a person.

``primeflow query``, the workbench and any later tool that runs user SQL call
:func:`open_sandboxed_connection` (and usually :func:`run_sandboxed` on top of it). The
connection opens the **read copy** (``PRIMEFLOW_READ_DUCKDB``) read-only, never the live file,
with these DuckDB settings fixed at startup:

===================================  ========  ==================================================
setting                              value     what it stops
===================================  ========  ==================================================
``access_mode``                      READ_ONLY any write to the opened file
``enable_external_access``           false     ATTACH of another file, COPY TO/FROM, EXPORT /
                                               IMPORT DATABASE, file readers (``read_csv``,
                                               ``read_parquet``, ``read_json``, ``read_text``,
                                               ``read_blob``, ``glob``, ``sniff_csv``, ...),
                                               INSTALL / LOAD, replacement scans
``python_enable_replacements``       false     ``SELECT * FROM df`` reading a Python variable
``autoinstall_known_extensions``     false     a query that downloads an extension
``autoload_known_extensions``        false     a query that loads an installed extension
``allow_community_extensions``       false     community extensions
``allow_unsigned_extensions``        false     unsigned extensions (the default, made explicit)
``allow_extension_repositories``     forbidden custom extension repositories
``allow_persistent_secrets``         false     secrets written to disk
``lock_configuration``               true      ``SET`` / ``RESET`` / ``PRAGMA`` of any of the above
===================================  ========  ==================================================

DuckDB's own documentation says SQL is code and untrusted SQL needs an OS-level sandbox; these
settings are what DuckDB offers inside the process, and the tests in ``tests/test_sql_sandbox.py``
and ``tests/reliability/`` check every hostile statement PrimeFlow knows of is refused and that
both warehouse files are byte-identical afterwards.

On top of the settings, :func:`run_sandboxed` accepts only ``SELECT`` (including ``WITH``,
``VALUES``, ``DESCRIBE``, ``SHOW``, ``SUMMARIZE``), ``EXPLAIN``, ``PRAGMA`` and ``CALL``
statements, and turns every refusal into a :class:`QueryRefusedError` whose message names the
statement kind (``ATTACH``, ``COPY``, ``INSTALL``, ``SET``, ``file-reading function read_csv``,
...). Results leave the sandbox only as a DataFrame; ``primeflow query --csv FILE`` writes that
frame with pandas where the user asked.

Resource limits (checked by the tests in ``tests/test_sql_sandbox.py``):

* **only the read copy**: :func:`run_sandboxed` refuses the live warehouse (``PRIMEFLOW_DUCKDB``)
  by name, so a long query can never hold the pipeline's file; ``primeflow query`` refuses any
  file but the read copy;
* **statement timeout**: every statement is interrupted after ``timeout_s`` seconds (default
  ``limits.query_timeout_s``, 30 s) with :class:`QueryTimeoutError`;
* **row limit in the query**: with ``max_rows`` the last statement is run as
  ``SELECT * FROM (<statement>) LIMIT max_rows + 1`` (other statement kinds are fetched with
  ``fetchmany``), so a huge result is never materialised; the returned frame then has at most
  ``max_rows`` rows and ``frame.attrs["truncated"]`` says whether more existed.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from primeflow_lib.lake import delta as lake
from primeflow_lib.warehouse import WarehouseError, check_file, read_copy_path, warehouse_path

#: seconds a sandboxed statement may run when the config does not say (``limits.query_timeout_s``)
DEFAULT_TIMEOUT_S = 30.0

#: DuckDB settings of every sandboxed connection (see the module doc)
SANDBOX_SETTINGS: dict[str, Any] = {
    "access_mode": "READ_ONLY",
    "enable_external_access": False,
    "python_enable_replacements": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "allow_unsigned_extensions": False,
    "allow_extension_repositories": "forbidden",
    "allow_persistent_secrets": False,
    # last: once locked no statement can change any of the above
    "lock_configuration": True,
}

#: statement types :func:`run_sandboxed` runs; everything else is refused before it reaches DuckDB
ALLOWED_STATEMENTS = frozenset({"SELECT", "EXPLAIN", "PRAGMA", "CALL"})

#: table functions that read files (only used to name the refused function in messages: the
#: refusal itself is DuckDB's ``enable_external_access = false``, which covers every reader)
FILE_FUNCTIONS = (
    "read_csv_auto", "read_csv", "read_parquet", "parquet_scan", "parquet_metadata",
    "parquet_schema", "parquet_file_metadata", "parquet_kv_metadata", "read_json_auto",
    "read_json_objects_auto", "read_json_objects", "read_ndjson_auto", "read_ndjson_objects",
    "read_ndjson", "read_json", "read_text", "read_blob", "glob", "sniff_csv", "read_duckdb",
)
_FILE_FN_RE = re.compile(r"\b(" + "|".join(FILE_FUNCTIONS) + r")\s*\(", re.IGNORECASE)
_CALL_RE = re.compile(r"^\s*(?:(?:--[^\n]*\n|/\*.*?\*/)\s*)*CALL\s+", re.IGNORECASE | re.DOTALL)
_MISSING_TABLE_RE = re.compile(r"Table with name (\S+) does not exist")


class QueryRefusedError(WarehouseError):
    """A user statement the sandbox does not run; the message names the statement kind."""


class QueryTimeoutError(WarehouseError):
    """A statement ran longer than the sandbox's timeout and was interrupted."""


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name the same file (resolved; a file that does not exist compares by
    its resolved path)."""
    pa, pb = Path(a), Path(b)
    try:
        if pa.exists() and pb.exists():
            return os.path.samefile(pa, pb)
    except OSError:
        pass
    return pa.resolve() == pb.resolve()


def refuse_live_warehouse(path: str | os.PathLike) -> None:
    """Raise :class:`QueryRefusedError` when ``path`` is the live warehouse (``PRIMEFLOW_DUCKDB``):
    user SQL reads only the published read copy, so it never holds the pipeline's file lock."""
    if same_file(path, warehouse_path()):
        raise QueryRefusedError(
            f"refused: {path} is the live warehouse (PRIMEFLOW_DUCKDB); queries read only the published "
            f"read copy ({read_copy_path()}), so they never lock the pipeline's file (republish it "
            "with `primeflow publish`)")


def open_sandboxed_connection(path: str | os.PathLike | None = None) -> duckdb.DuckDBPyConnection:
    """Open ``path`` (default: the read copy, :func:`~primeflow_lib.warehouse.read_copy_path`)
    read-only with external access disabled and the configuration locked (settings in
    :data:`SANDBOX_SETTINGS`). The caller closes it (``with open_sandboxed_connection() as con``).

    Raises:
        WarehouseError: the file does not exist, is not a DuckDB file, or cannot be opened.
    """
    p = Path(path) if path is not None else read_copy_path()
    check_file(p)
    refuse_live_warehouse(p)
    if not p.is_file():
        raise WarehouseError(f"warehouse file {p} does not exist (run `make demo` or `primeflow publish` first)")
    # the configuration is locked after the lake tables (if any) are registered as datasets: a
    # registered table is all user SQL can reach of the lake (file readers stay disabled)
    unlocked = {k: v for k, v in SANDBOX_SETTINGS.items() if k != "lock_configuration"}
    try:
        con = duckdb.connect(str(p), read_only=True, config=unlocked)
    except duckdb.Error as exc:
        hint = ""
        if "different configuration" in str(exc):
            # DuckDB shares one database instance per file and process: it fails closed here
            hint = (" (this process already has the file open without the sandbox; open it only "
                    "through open_sandboxed_connection)")
        raise WarehouseError(f"cannot open {p} for a sandboxed query: {exc}{hint}") from None
    try:
        lake.attach(con, create=False)
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con


def statement_kind(sql: str) -> str:
    """The kind of one statement as a person would name it: its first keyword(s), upper case
    (``ATTACH``, ``COPY``, ``INSTALL``, ``SET VARIABLE``, ``CREATE SECRET``, ...)."""
    words = re.findall(r"[A-Za-z_]+", re.sub(r"--[^\n]*|/\*.*?\*/", " ", sql, flags=re.S))
    if not words:
        return "empty statement"
    first = words[0].upper()
    if first in ("SET", "CREATE", "DROP", "ALTER") and len(words) > 1:
        second = words[1].upper()
        if second in ("VARIABLE", "SECRET", "PERSISTENT", "TEMP", "TEMPORARY", "MACRO", "TABLE", "VIEW",
                      "SCHEMA", "SEQUENCE", "TYPE", "INDEX", "FUNCTION", "OR"):
            return f"{first} {second}"
    return first


def check_statements(con: duckdb.DuckDBPyConnection, sql: str) -> list[str]:
    """Parse ``sql`` and return the kind of each statement; raise :class:`QueryRefusedError` for
    the first one whose type is not in :data:`ALLOWED_STATEMENTS`."""
    try:
        stmts = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryRefusedError(f"query does not parse: {exc}") from None
    if not stmts:
        raise QueryRefusedError("query is empty")
    kinds = []
    for i, s in enumerate(stmts, start=1):
        kind = statement_kind(s.query)
        # CHECKPOINT parses as CALL and IMPORT DATABASE as PRAGMA: only the literal keywords pass
        bad = s.type.name not in ALLOWED_STATEMENTS or (
            s.type.name in ("PRAGMA", "CALL") and kind not in ("PRAGMA", "CALL"))
        if bad:
            where = f"statement {i} of {len(stmts)}" if len(stmts) > 1 else "the statement"
            raise QueryRefusedError(
                f"refused: {kind} ({where}) is not allowed in a sandboxed query; only read-only "
                "SELECT / EXPLAIN / PRAGMA / CALL statements run here (export with --csv)"
            )
        kinds.append(kind)
    return kinds


def explain_refusal(sql: str, exc: duckdb.Error) -> str:
    """A message for a statement DuckDB itself refused inside the sandbox, naming its kind."""
    text = str(exc).strip().splitlines()[0]
    kind = statement_kind(sql)
    if isinstance(exc, duckdb.PermissionException) or "disabled by configuration" in text:
        fn = _FILE_FN_RE.search(sql)
        what = f"file-reading function {fn.group(1).lower()}" if fn else f"{kind} touching a file"
        return f"refused: {what} is not allowed in a sandboxed query (no file access; export with --csv): {text}"
    if "configuration has been locked" in text:
        return f"refused: {kind} cannot change settings in a sandboxed query: {text}"
    if "read-only mode" in text:
        return f"refused: {kind} would write, and a sandboxed query is read-only: {text}"
    m = _MISSING_TABLE_RE.search(text)
    if m:
        name = m.group(1).strip("\"'!")
        if "/" in name or re.search(r"\.(csv|tsv|txt|parquet|json|ndjson|gz|zst)$", name, re.I):
            return f"refused: reading the file {name!r} is not allowed in a sandboxed query (no file access): {text}"
        if _python_variable(name):
            return (f"refused: replacement scan of the Python variable {name!r} is not allowed in a "
                    f"sandboxed query (only tables of the read copy): {text}")
        return f"{text} (only tables of the read copy can be queried)"
    return text


def _python_variable(name: str) -> bool:
    """Whether a frame on the current stack holds a data frame-like variable called ``name``
    (what a DuckDB replacement scan would have read)."""
    import inspect

    frame = inspect.currentframe()
    try:
        while frame is not None:
            for scope in (frame.f_locals, frame.f_globals):
                v = scope.get(name)
                if v is not None and type(v).__module__.split(".")[0] in ("pandas", "pyarrow", "polars", "numpy"):
                    return True
            frame = frame.f_back
    finally:
        del frame
    return False


def _query_timeout_s() -> float:
    """``limits.query_timeout_s`` of the config (the default when the config cannot be read:
    a broken config file is reported by the commands that need it)."""
    from primeflow_lib.config import ConfigError, load_config

    try:
        return float(load_config(with_api_keys=False)["limits"]["query_timeout_s"])
    except (ConfigError, KeyError, TypeError, ValueError):
        return DEFAULT_TIMEOUT_S


def _limited(con: duckdb.DuckDBPyConnection, stmt: Any, params: list, max_rows: int | None) -> pd.DataFrame:
    """Run one parsed statement; with ``max_rows`` never read more than ``max_rows + 1`` rows."""
    text = stmt.query.strip().rstrip(";").strip()
    if max_rows is None:
        return con.execute(text, params).df()
    if stmt.type.name == "CALL" and _CALL_RE.match(text):
        # CALL f(...) is SELECT * FROM f(...); as a SELECT the limit can stop it early (DuckDB
        # materialises a CALL's whole result before the first row can be fetched)
        text = _CALL_RE.sub("SELECT * FROM ", text, count=1)
        stmt = con.extract_statements(text)[0]
    if stmt.type.name == "SELECT":
        # the limit is part of the query: DuckDB stops producing rows at max_rows + 1
        df = con.execute(f"SELECT * FROM (\n{text}\n) AS _pf_query LIMIT {int(max_rows) + 1}", params).df()
    else:
        cur = con.execute(text, params)
        rows = cur.fetchmany(int(max_rows) + 1)
        df = pd.DataFrame.from_records(rows, columns=[d[0] for d in cur.description or []])
    truncated = len(df) > max_rows
    df = df.iloc[: int(max_rows)]
    df.attrs["truncated"] = truncated
    return df


def run_sandboxed(sql: str, params: Sequence[Any] | None = None, *,
                  path: str | os.PathLike | None = None, timeout_s: float | None = None,
                  max_rows: int | None = None) -> pd.DataFrame:
    """Run user SQL on a sandboxed connection and return the last statement's result.

    Args:
        sql: one or more statements (each must be SELECT / EXPLAIN / PRAGMA / CALL).
        params: bound values for ``?`` placeholders (they bind to the last statement when there
            are several).
        path: the DuckDB file; default the read copy. The live warehouse is refused.
        timeout_s: interrupt a statement after this many seconds (default the config's
            ``limits.query_timeout_s``, 30 s).
        max_rows: at most this many rows are produced (the limit is applied in the query);
            ``frame.attrs["truncated"]`` is True when the result had more. None: no limit.

    Raises:
        QueryRefusedError: a statement kind that is not allowed, or one DuckDB refused (file
            access, a locked setting, a write); the live warehouse; the message names the kind.
        QueryTimeoutError: a statement ran longer than ``timeout_s``.
        WarehouseError: any other query error (message includes the file).
    """
    p = Path(path) if path is not None else read_copy_path()
    if max_rows is not None and (isinstance(max_rows, bool) or int(max_rows) < 1):
        raise QueryRefusedError(f"max_rows {max_rows!r}: must be a whole number >= 1")
    limit_s = _query_timeout_s() if timeout_s is None else float(timeout_s)
    if not limit_s > 0:
        raise QueryRefusedError(f"timeout {timeout_s!r}: must be > 0 seconds")
    con = open_sandboxed_connection(p)
    fired = threading.Event()

    def interrupt() -> None:
        fired.set()
        con.interrupt()

    timer = threading.Timer(limit_s, interrupt)
    timer.daemon = True
    try:
        check_statements(con, sql)
        stmts = con.extract_statements(sql)
        timer.start()
        try:
            for s in stmts[:-1]:
                con.execute(s.query)
            return _limited(con, stmts[-1], list(params or []), max_rows)
        except duckdb.Error as exc:
            if fired.is_set() or isinstance(exc, duckdb.InterruptException):
                raise QueryTimeoutError(
                    f"query on {p} interrupted after {limit_s:g} s (limits.query_timeout_s; "
                    "`primeflow query --timeout SECONDS` for one query): narrow it with WHERE / LIMIT "
                    "or aggregate first") from None
            msg = explain_refusal(sql, exc)
            cls = QueryRefusedError if msg.startswith("refused:") else WarehouseError
            raise cls(f"query failed on {p}: {msg}" if cls is WarehouseError else msg) from None
    finally:
        timer.cancel()
        con.close()

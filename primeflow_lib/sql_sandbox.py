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
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from primeflow_lib.lake import delta as lake
from primeflow_lib.warehouse import WarehouseError, check_file, read_copy_path

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
_MISSING_TABLE_RE = re.compile(r"Table with name (\S+) does not exist")


class QueryRefusedError(WarehouseError):
    """A user statement the sandbox does not run; the message names the statement kind."""


def open_sandboxed_connection(path: str | os.PathLike | None = None) -> duckdb.DuckDBPyConnection:
    """Open ``path`` (default: the read copy, :func:`~primeflow_lib.warehouse.read_copy_path`)
    read-only with external access disabled and the configuration locked (settings in
    :data:`SANDBOX_SETTINGS`). The caller closes it (``with open_sandboxed_connection() as con``).

    Raises:
        WarehouseError: the file does not exist, is not a DuckDB file, or cannot be opened.
    """
    p = Path(path) if path is not None else read_copy_path()
    check_file(p)
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


def run_sandboxed(sql: str, params: Sequence[Any] | None = None, *,
                  path: str | os.PathLike | None = None) -> pd.DataFrame:
    """Run user SQL on a sandboxed connection and return the last statement's result.

    Args:
        sql: one or more statements (each must be SELECT / EXPLAIN / PRAGMA / CALL).
        params: bound values for ``?`` placeholders.
        path: the DuckDB file; default the read copy.

    Raises:
        QueryRefusedError: a statement kind that is not allowed, or one DuckDB refused (file
            access, a locked setting, a write); the message names the kind.
        WarehouseError: any other query error (message includes the file).
    """
    p = Path(path) if path is not None else read_copy_path()
    con = open_sandboxed_connection(p)
    try:
        check_statements(con, sql)
        try:
            return con.execute(sql, list(params or [])).df()
        except duckdb.Error as exc:
            msg = explain_refusal(sql, exc)
            cls = QueryRefusedError if msg.startswith("refused:") else WarehouseError
            raise cls(f"query failed on {p}: {msg}" if cls is WarehouseError else msg) from None
    finally:
        con.close()

"""The published read copy as the workbench sees it.

The app never holds a connection: each read opens the read copy read-only, runs one query and
closes it, so a republish (``os.replace`` of the file) or the pipeline's writer is never
blocked. A read copy that does not exist yet raises :class:`ReadCopyMissingError` whose message
tells the user to run ``make demo``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from primeflow_lib.warehouse import WarehouseError, connect, read_copy_path

#: vendor names whose rows are generated, not observed
SYNTHETIC_VENDORS = frozenset({"synthetic"})


class ReadCopyMissingError(WarehouseError):
    """The read copy has not been published yet (before the first ``make demo``)."""


def resolve(path: str | os.PathLike | None = None) -> Path:
    """The read copy file: ``path`` or :func:`primeflow_lib.warehouse.read_copy_path`."""
    return Path(path) if path is not None else read_copy_path()


def require(path: str | os.PathLike | None = None) -> Path:
    """The read copy path, or :class:`ReadCopyMissingError` when it does not exist yet."""
    p = resolve(path)
    if not p.is_file():
        raise ReadCopyMissingError(
            f"the read copy {p} does not exist yet: run `make demo` to build the demo warehouse "
            "(or materialize assets in `make ui`, then `primeflow publish`)"
        )
    return p


def version(path: str | os.PathLike | None = None) -> tuple[str, int]:
    """``(path, mtime in ns)`` of the read copy: a cache key that changes on every republish."""
    p = require(path)
    return str(p), p.stat().st_mtime_ns


def read_frame(sql: str, params: Sequence[Any] | None = None,
               path: str | os.PathLike | None = None) -> pd.DataFrame:
    """Run one read-only query on the read copy and return its rows (connection closed after)."""
    p = require(path)
    with connect(p, read_only=True) as con:
        try:
            return con.execute(sql, list(params or [])).df()
        except duckdb.Error as exc:
            raise WarehouseError(f"query failed on {p}: {exc}") from None


def existing_tables(path: str | os.PathLike | None = None) -> set[str]:
    """``schema.table`` of every table and view in the read copy."""
    df = read_frame("SELECT table_schema, table_name FROM information_schema.tables", path=path)
    return {f"{s}.{n}" for s, n in zip(df["table_schema"], df["table_name"], strict=True)}


def vendors(frame: pd.DataFrame) -> list[str]:
    """Distinct vendors of the rows in ``frame`` (empty when it has no ``vendor`` column)."""
    if "vendor" not in frame.columns or frame.empty:
        return []
    return sorted({str(v) for v in frame["vendor"].dropna().unique()})


def is_synthetic(vendor_names: Iterable[str]) -> bool:
    """True when any of ``vendor_names`` is a synthetic vendor."""
    return any(v in SYNTHETIC_VENDORS for v in vendor_names)


#: tables whose vendors say what kind of data the warehouse holds (the app's banner)
_VENDOR_TABLES = ("market.ohlcv_daily", "flow.option_prints", "flow.signals")


def warehouse_vendors(path: str | os.PathLike | None = None) -> dict[str, list[str]]:
    """``{table: [vendors]}`` for the main market and flow tables present in the read copy."""
    have = existing_tables(path)
    present = [t for t in _VENDOR_TABLES if t in have]
    if not present:
        return {}
    sql = " UNION ALL ".join(
        f"SELECT '{t}' AS tbl, vendor FROM (SELECT DISTINCT vendor FROM {t})" for t in present)
    df = read_frame(sql, path=path)
    return {t: sorted(df.loc[df["tbl"] == t, "vendor"].dropna().astype(str)) for t in present}

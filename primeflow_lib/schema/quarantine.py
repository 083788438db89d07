"""Quarantine: the table every schema keeps for rejected rows, and the one builder of its rows.

Every validation step (bars and chains in :mod:`primeflow_lib.market.quality`, option prints in
:mod:`primeflow_lib.flow.validate`, the classifier's late rejections in
:mod:`primeflow_lib.flow.engine`, chain rows GEX cannot use in :mod:`primeflow_lib.flow.gex`, the
near-live batches in :mod:`primeflow_lib.live.process`) builds its quarantine rows with
:func:`quarantine_rows`, so every rejected row is stored the same way: the table it was bound
for, the batch source, its row number in the batch as received, the field, the value, the rule
in words, and the whole row as JSON.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from primeflow_lib.schema.base import C, Table


def quarantine_table(schema: str) -> Table:
    """The quarantine table of a schema: rows that failed validation, with the rule they broke."""
    return Table(
        schema=schema,
        name="quarantine",
        columns=(
            C("target_table", "VARCHAR", "table the row was meant for (schema.table)"),
            C("trade_date", "DATE", "trading day of the batch the row came in", nullable=True),
            C("source", "VARCHAR", "where the batch came from (vendor name, file name)"),
            C("row_number", "BIGINT", "0-based row number in the batch as received"),
            C("field", "VARCHAR", "the field that broke the rule", nullable=True),
            C("value", "VARCHAR", "the offending value, as text", nullable=True),
            C("reason", "VARCHAR", "the rule the row broke, in words"),
            C("row_json", "JSON", "the whole row as received"),
            C("quarantined_at", "TIMESTAMP", "when the row was quarantined (UTC)"),
        ),
        key=("target_table", "source", "row_number", "reason"),
        partition_column="trade_date",
        doc=f"Rows bound for `{schema}.*` that failed validation. Nothing is silently dropped: "
        "every rejected row lands here with the field, value and rule.",
    )


#: the columns of every ``<schema>.quarantine`` table, in order
QUARANTINE_COLUMNS: list[str] = [c.name for c in quarantine_table("flow").columns]


def quarantine_rows(
    target: str,
    rows: pd.DataFrame,
    *,
    source: str,
    reason: Sequence[str] | str,
    field: Sequence[str | None] | str | None = None,
    value: Sequence[Any] | None = None,
    row_number: Sequence[int] | np.ndarray | None = None,
    trade_date: dt.date | Sequence[dt.date | None] | None = None,
    now: dt.datetime | None = None,
) -> pd.DataFrame:
    """Quarantine rows (the :data:`QUARANTINE_COLUMNS`) for rejected ``rows`` of a batch bound
    for ``target`` (``schema.table``).

    Args:
        target: the table the rows were meant for, e.g. ``flow.option_prints``.
        rows: the rejected rows as received (each is kept whole as JSON in ``row_json``).
        source: where the batch came from (vendor name, file name).
        reason: the rule each row broke, in words (one for all, or one per row).
        field / value: the field that broke the rule and its value (one for all, or per row);
            values are stored as text, None stays NULL.
        row_number: each row's 0-based number in the batch as received (default the index).
        trade_date: the session each row belongs to (one for all, or per row; None = unknown).
        now: the quarantine time stamp (UTC, naive); default the current time.
    """
    n = len(rows)
    stamp = now or pd.Timestamp.now(tz="UTC").tz_localize(None)
    if n == 0:  # the common case (a clean batch): no per-row work
        return empty_quarantine().assign(quarantined_at=stamp) if now else empty_quarantine().copy()

    def per_row(v: Any) -> list:
        if isinstance(v, (list, tuple, np.ndarray, pd.Series, pd.Index)):
            return list(v)
        return [v] * n

    row_json = [
        json.dumps({k: _jsonable(x) for k, x in rec.items()}, default=str)
        for rec in rows.to_dict(orient="records")
    ]
    numbers = per_row(row_number) if row_number is not None else list(rows.index)
    return pd.DataFrame(
        {
            "target_table": target,
            "trade_date": per_row(trade_date),
            "source": source,
            "row_number": np.asarray(numbers, dtype=np.int64),
            "field": per_row(field),
            "value": [None if v is None else str(v) for v in per_row(value)] if value is not None else [None] * n,
            "reason": per_row(reason),
            "row_json": row_json,
            "quarantined_at": stamp,
        }
    )[QUARANTINE_COLUMNS]


@functools.cache
def _empty() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "target_table": "", "trade_date": [], "source": "", "row_number": np.array([], np.int64),
            "field": [], "value": [], "reason": [], "row_json": [],
            "quarantined_at": pd.Timestamp.now(tz="UTC").tz_localize(None),
        }
    )[QUARANTINE_COLUMNS]


def empty_quarantine() -> pd.DataFrame:
    """No quarantine rows, with the :data:`QUARANTINE_COLUMNS` (a fresh copy)."""
    return _empty().copy()


def _jsonable(x: Any) -> Any:
    """A JSON-safe value: NumPy scalars as Python, non-finite floats as text, NaT as null."""
    if isinstance(x, float) and not np.isfinite(x):
        return str(x)
    if isinstance(x, (np.floating, np.integer)):
        return x.item() if np.isfinite(x) else str(x)
    if isinstance(x, np.bool_):
        return bool(x)
    if x is pd.NaT:
        return None
    return x

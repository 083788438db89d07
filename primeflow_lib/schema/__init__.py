"""The registry of every warehouse table (see :mod:`primeflow_lib.schema.base`).

Each schema's declarations live in a module of their own; ``ALL_TABLES`` collects them so there is
one place to look up a table's columns, key and partition column.
"""

from __future__ import annotations

from primeflow_lib.schema import alerts, desk, flow, live, market, nearlive, research, stream
from primeflow_lib.schema.base import Column, Table

SCHEMAS = ("market", "flow", "live", "stream", "research", "marts")


def _collect() -> dict[str, Table]:
    modules = [market, flow, live, nearlive, alerts, stream, research, desk]
    out: dict[str, Table] = {}
    for mod in modules:
        for t in mod.TABLES:
            if t.fqn in out:
                raise ValueError(f"table {t.fqn} declared twice")
            out[t.fqn] = t
    return out


ALL_TABLES: dict[str, Table] = _collect()


def table(fqn: str) -> Table:
    """Look up a declared table by ``schema.name``; a clear error names unknown tables."""
    try:
        return ALL_TABLES[fqn]
    except KeyError:
        raise KeyError(f"unknown warehouse table {fqn!r}; declared: {sorted(ALL_TABLES)}") from None


__all__ = ["ALL_TABLES", "SCHEMAS", "Column", "Table", "table"]

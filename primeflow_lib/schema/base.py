"""Declarations of warehouse tables: the one place that says what each column is.

Every table the pipeline writes is a :class:`Table`. ``primeflow_lib.warehouse`` creates them
from these declarations, asset checks read their keys from them, and
``docs/data-dictionary.md`` is generated from them (``primeflow docs``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# DuckDB types we allow in declarations (keeps DDL built from declarations safe).
ALLOWED_TYPES = frozenset(
    {
        "BOOLEAN",
        "INTEGER",
        "BIGINT",
        "DOUBLE",
        "VARCHAR",
        "DATE",
        "TIMESTAMP",
        "JSON",
    }
)


@dataclass(frozen=True)
class Column:
    """One column: name, DuckDB type, whether NULL is allowed, and what it means (with units)."""

    name: str
    type: str
    doc: str
    nullable: bool = False

    def __post_init__(self) -> None:
        if self.type not in ALLOWED_TYPES:
            raise ValueError(f"column {self.name!r}: type {self.type!r} not in {sorted(ALLOWED_TYPES)}")
        if not self.name.isidentifier():
            raise ValueError(f"column name {self.name!r} is not an identifier")


@dataclass(frozen=True)
class Table:
    """A warehouse table.

    Attributes:
        schema: DuckDB schema (``market``, ``flow``, ``live``, ``research``, ``marts``).
        name: table name inside the schema.
        columns: ordered columns.
        key: the logical unique key (checked by asset checks and tests).
        partition_column: the DATE/TIMESTAMP column a partition rewrite deletes by, or None
            for tables that are rewritten whole or appended to.
        doc: one paragraph for the data dictionary.
        enforce_key: create a real PRIMARY KEY (needed for ``ON CONFLICT``); off by default because
            an ART index slows bulk inserts of millions of rows and the key is checked anyway.
    """

    schema: str
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    doc: str
    partition_column: str | None = "trade_date"
    enforce_key: bool = False
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.fqn}: duplicate column names")
        for k in self.key:
            if k not in names:
                raise ValueError(f"{self.fqn}: key column {k!r} is not declared")
        if self.partition_column is not None and self.partition_column not in names:
            raise ValueError(f"{self.fqn}: partition column {self.partition_column!r} not declared")

    @property
    def fqn(self) -> str:
        """Fully-qualified name, ``schema.table``."""
        return f"{self.schema}.{self.name}"

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.fqn} has no column {name!r}")

    def cast_select(self) -> str:
        """The select list that casts a scanned frame's columns to the declared types, in
        declared order (JSON columns are inserted as text)."""
        return ", ".join(
            f'CAST("{c.name}" AS {"VARCHAR" if c.type == "JSON" else c.type}) AS "{c.name}"'
            for c in self.columns
        )

    def ddl(self) -> str:
        """CREATE TABLE IF NOT EXISTS statement (identifiers come only from declarations)."""
        cols = [
            f'"{c.name}" {c.type}{"" if c.nullable else " NOT NULL"}' for c in self.columns
        ]
        if self.enforce_key:
            cols.append("PRIMARY KEY (" + ", ".join(f'"{k}"' for k in self.key) + ")")
        return f"CREATE TABLE IF NOT EXISTS {self.fqn} (\n  " + ",\n  ".join(cols) + "\n)"


def C(name: str, type_: str, doc: str, nullable: bool = False) -> Column:  # noqa: N802
    """Short constructor used by the declaration modules."""
    return Column(name=name, type=type_, doc=doc, nullable=nullable)

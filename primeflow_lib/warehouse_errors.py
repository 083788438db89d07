"""The warehouse's error classes, in a module of their own so the storage back ends
(:mod:`primeflow_lib.warehouse`, :mod:`primeflow_lib.lake`) share them without importing each
other. ``primeflow_lib.warehouse`` re-exports them."""

from __future__ import annotations


class WarehouseError(RuntimeError):
    """A warehouse problem; the message names the file, table, column or row."""


class WarehouseLockedError(WarehouseError):
    """Another process holds the DuckDB write lock and did not release it in time."""


class SchemaMismatchError(WarehouseError):
    """A stored table's columns differ from its declaration."""

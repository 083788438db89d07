"""Declarations of the alert tables (``live.alert_outbox`` and friends)."""

from __future__ import annotations

from primeflow_lib.schema.base import Table

TABLES: tuple[Table, ...] = ()

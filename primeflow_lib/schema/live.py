"""Declarations of the ``live`` schema: paper positions, alert outbox, heartbeat."""

from __future__ import annotations

from primeflow_lib.schema.base import Table

TABLES: tuple[Table, ...] = ()

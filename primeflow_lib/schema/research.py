"""Declarations of the ``research`` schema: indicator signals, regimes, blends, backtests, tuning."""

from __future__ import annotations

from primeflow_lib.schema.base import Table

TABLES: tuple[Table, ...] = ()

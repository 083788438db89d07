"""Trading-day partitions: NYSE sessions only, from 2010-01-04.

Weekday partitions with NYSE holidays excluded. ``end_offset=1`` makes the current day's
partition available (Dagster would otherwise close Friday's window only on Monday, #17464).
"""

from __future__ import annotations

import datetime as dt

import dagster as dg

from primeflow_lib import calendar

TRADING_DAY_FMT = "%Y-%m-%d"


def _exclusions() -> list[dt.datetime]:
    lo, hi = calendar.calendar_bounds()
    return [dt.datetime.combine(d, dt.time()) for d in calendar.weekday_holidays(lo, hi)]


trading_days = dg.TimeWindowPartitionsDefinition(
    cron_schedule="0 0 * * 1-5",
    fmt=TRADING_DAY_FMT,
    start=dt.datetime.combine(calendar.FIRST_SESSION, dt.time()),
    timezone="America/New_York",
    end_offset=1,
    exclusions=_exclusions(),
)


def sessions_of(context: dg.AssetExecutionContext) -> list[dt.date]:
    """The trading sessions a run covers: one partition, or a range in a single-run backfill.
    Raises a clear error for a key that is not a session."""
    if context.has_partition_key_range:
        keys = context.partition_key_range
        start = calendar.require_session(keys.start)
        end = calendar.require_session(keys.end)
        return calendar.sessions(start, end)
    return [calendar.require_session(context.partition_key)]

"""Trading-day partitions: NYSE sessions only, from 2010-01-04.

Weekday partitions with NYSE holidays excluded. ``end_offset=1`` makes the current day's
partition available (Dagster would otherwise close Friday's window only on Monday, #17464).
"""

from __future__ import annotations

import datetime as dt
import os

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


#: the scale profile splits backfills into runs of this many sessions (unset: one run per range)
BACKFILL_ENV = "PRIMEFLOW_BACKFILL_SESSIONS_PER_RUN"


def backfill_sessions_per_run() -> int | None:
    """``PRIMEFLOW_BACKFILL_SESSIONS_PER_RUN`` as a whole number >= 1, or ``None`` when unset."""
    raw = os.environ.get(BACKFILL_ENV, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{BACKFILL_ENV}={raw!r}: expected a whole number of sessions >= 1")
    return int(raw)


def backfill_policy() -> dg.BackfillPolicy:
    """Single run per backfill range (the embedded default: one writer anyway), or runs of
    ``PRIMEFLOW_BACKFILL_SESSIONS_PER_RUN`` sessions that the scale profile runs side by side."""
    n = backfill_sessions_per_run()
    return dg.BackfillPolicy.single_run() if n is None else dg.BackfillPolicy.multi_run(n)

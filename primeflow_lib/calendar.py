"""The NYSE trading calendar (sessions, holidays, early closes), from ``exchange_calendars``.

Conventions: session dates are ``datetime.date``; open and close times are naive
America/New_York wall-clock datetimes (the same convention as every stored timestamp).
History starts at :data:`FIRST_SESSION` (2010-01-04) so years of data can be backfilled; the
package knows sessions up to about a year ahead of its release.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

import exchange_calendars as xc
import pandas as pd

NY = ZoneInfo("America/New_York")
FIRST_SESSION = dt.date(2010, 1, 4)


class NotASessionError(ValueError):
    """A date that is not an NYSE trading session (weekend, holiday, or outside the calendar)."""


@lru_cache(maxsize=1)
def _cal() -> xc.ExchangeCalendar:
    return xc.get_calendar("XNYS", start=pd.Timestamp(FIRST_SESSION) - pd.Timedelta(days=7))


@lru_cache(maxsize=1)
def _session_index() -> pd.DatetimeIndex:
    return _cal().sessions


def _as_date(d: dt.date | str | pd.Timestamp) -> dt.date:
    if isinstance(d, str):
        try:
            return dt.date.fromisoformat(d)
        except ValueError:
            raise NotASessionError(f"{d!r} is not a date in YYYY-MM-DD form") from None
    if isinstance(d, pd.Timestamp):
        return d.date()
    if isinstance(d, dt.datetime):
        return d.date()
    return d


def calendar_bounds() -> tuple[dt.date, dt.date]:
    """First and last session the calendar knows."""
    idx = _session_index()
    return max(idx[0].date(), FIRST_SESSION), idx[-1].date()


def is_session(d: dt.date | str) -> bool:
    """True when ``d`` is an NYSE trading session."""
    d = _as_date(d)
    lo, hi = calendar_bounds()
    return lo <= d <= hi and _cal().is_session(pd.Timestamp(d))


def require_session(d: dt.date | str) -> dt.date:
    """``d`` as a date if it is a session; otherwise :class:`NotASessionError` naming the date,
    why, and the nearest sessions on either side."""
    day = _as_date(d)
    if is_session(day):
        return day
    lo, hi = calendar_bounds()
    if day < lo or day > hi:
        raise NotASessionError(f"{day} is outside the trading calendar ({lo} .. {hi})")
    why = "a weekend" if day.weekday() >= 5 else "an NYSE holiday"
    raise NotASessionError(
        f"{day} is not a trading session ({why}); nearest sessions: "
        f"{previous_session(day)} and {next_session(day)}"
    )


def sessions(start: dt.date | str, end: dt.date | str) -> list[dt.date]:
    """Sessions from ``start`` to ``end`` inclusive (either end need not be a session)."""
    s, e = _as_date(start), _as_date(end)
    if e < s:
        return []
    idx = _session_index()
    sel = idx[(idx >= pd.Timestamp(s)) & (idx <= pd.Timestamp(e))]
    return [t.date() for t in sel if t.date() >= FIRST_SESSION]


def previous_session(d: dt.date | str) -> dt.date:
    """The last session strictly before ``d``."""
    day = _as_date(d)
    idx = _session_index()
    pos = idx.searchsorted(pd.Timestamp(day), side="left")
    if pos == 0:
        raise NotASessionError(f"no session before {day} in the calendar")
    return idx[pos - 1].date()


def next_session(d: dt.date | str) -> dt.date:
    """The first session strictly after ``d``."""
    day = _as_date(d)
    idx = _session_index()
    pos = idx.searchsorted(pd.Timestamp(day), side="right")
    if pos >= len(idx):
        raise NotASessionError(f"no session after {day} in the calendar")
    return idx[pos].date()


def sessions_before(d: dt.date | str, n: int) -> list[dt.date]:
    """The ``n`` sessions strictly before ``d``, oldest first (fewer near the calendar start)."""
    day = _as_date(d)
    idx = _session_index()
    pos = idx.searchsorted(pd.Timestamp(day), side="left")
    return [t.date() for t in idx[max(0, pos - n) : pos] if t.date() >= FIRST_SESSION]


def session_open_close(d: dt.date | str) -> tuple[dt.datetime, dt.datetime]:
    """Regular-session open and close of session ``d`` as naive America/New_York datetimes
    (09:30-16:00, or 13:00 on early-close days)."""
    day = require_session(d)
    cal = _cal()
    o = cal.session_open(pd.Timestamp(day)).tz_convert(NY).tz_localize(None).to_pydatetime()
    c = cal.session_close(pd.Timestamp(day)).tz_convert(NY).tz_localize(None).to_pydatetime()
    return o, c


def session_minutes(d: dt.date | str) -> int:
    """Length of the regular session in minutes (390, or 210 on early-close days)."""
    o, c = session_open_close(d)
    return int((c - o).total_seconds() // 60)


def is_early_close(d: dt.date | str) -> bool:
    return session_minutes(d) < 390


def weekday_holidays(start: dt.date | str, end: dt.date | str) -> list[dt.date]:
    """Monday-Friday dates in ``start``..``end`` that are not sessions (NYSE holidays and
    special closures). Used to exclude them from the weekday partition schedule."""
    s, e = _as_date(start), _as_date(end)
    days = pd.bdate_range(s, e)
    sess = set(sessions(s, e))
    return [d.date() for d in days if d.date() not in sess]


def latest_completed_session(now: dt.datetime | None = None) -> dt.date:
    """The most recent session whose close has passed at ``now`` (default: the current time).
    ``now`` may be naive (taken as America/New_York) or aware."""
    if now is None:
        now_ny = dt.datetime.now(NY).replace(tzinfo=None)
    elif now.tzinfo is not None:
        now_ny = now.astimezone(NY).replace(tzinfo=None)
    else:
        now_ny = now
    today = now_ny.date()
    if is_session(today) and now_ny >= session_open_close(today)[1]:
        return today
    return previous_session(today)

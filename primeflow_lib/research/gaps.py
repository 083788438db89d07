"""Gaps in a bar series: NYSE sessions missing *inside* its range.

A series from a store that only kept some days (a ticker ingested only while it was in the
universe, a vendor outage) still backtests, but every lookback then spans more time than it
says and trades jump over the holes. :func:`find_gaps` counts the sessions of the NYSE calendar
(:mod:`primeflow_lib.calendar`) between the first and the last bar that have no bar, and finds
the longest run of consecutive missing sessions. Days the calendar does not know (weekends,
holidays, dates before 2010-01-04 or past the calendar's end) are never gaps; extra bars on
such days (a 7-day crypto CSV) are ignored. Intraday bars count per session: a session with at
least one bar is present.

The backtest reports the gaps as a warning (CLI output, the run summary, the asset metadata);
with ``strict`` (``primeflow backtest --strict``) a series with gaps is an error.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from primeflow_lib import calendar
from primeflow_lib.research.errors import DataSourceError


@dataclass(frozen=True)
class GapReport:
    """Missing sessions inside a series' range.

    Attributes:
        source: what the bars are (``market.ohlcv_daily META``), for messages.
        missing_sessions: sessions with no bar between the first and the last bar.
        expected_sessions: sessions of the calendar in that range.
        largest_gap: length of the longest run of consecutive missing sessions.
        largest_from / largest_to: first and last missing session of that run (None without gaps).
    """

    source: str
    missing_sessions: int
    expected_sessions: int
    largest_gap: int
    largest_from: str | None = None
    largest_to: str | None = None

    @property
    def has_gaps(self) -> bool:
        return self.missing_sessions > 0

    def message(self) -> str:
        """One line for people: count, share and the largest gap."""
        return (
            f"{self.source}: {self.missing_sessions} of {self.expected_sessions} NYSE sessions in its "
            f"range have no bar; largest gap {self.largest_gap} sessions ({self.largest_from} .. "
            f"{self.largest_to})"
        )

    def to_dict(self) -> dict:
        return {
            "source": self.source, "missing_sessions": self.missing_sessions,
            "expected_sessions": self.expected_sessions, "largest_gap_sessions": self.largest_gap,
            "largest_gap_from": self.largest_from, "largest_gap_to": self.largest_to,
        }  # fmt: skip


def _expected_and_missing(days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The calendar's sessions between the first and last of ``days`` (sorted unique
    ``datetime64[D]``, not empty) and a mask of those with no day."""
    expected = calendar.sessions(pd.Timestamp(days[0]).date(), pd.Timestamp(days[-1]).date())
    exp = np.array(expected, dtype="datetime64[D]")
    return exp, ~np.isin(exp, days)


def missing_sessions(dates: Iterable[object]) -> list[dt.date]:
    """NYSE sessions between the first and the last of ``dates`` (dates or timestamps) that are
    not among them, oldest first."""
    days = np.unique(pd.DatetimeIndex(list(dates)).normalize().to_numpy(dtype="datetime64[D]"))
    if len(days) == 0:
        return []
    exp, missing = _expected_and_missing(days)
    return [pd.Timestamp(d).date() for d in exp[missing]]


def find_gaps(index: pd.DatetimeIndex, source: str = "bars") -> GapReport:
    """The :class:`GapReport` of bars whose ``ts`` index is ``index`` (daily or intraday)."""
    if len(index) == 0:
        return GapReport(source, 0, 0, 0)
    days = np.unique(index.normalize().to_numpy(dtype="datetime64[D]"))
    exp, missing = _expected_and_missing(days)
    n = int(missing.sum())
    if not n:
        return GapReport(source, 0, len(exp), 0)
    # runs of consecutive missing sessions (consecutive in the calendar, not in days)
    edges = np.diff(np.r_[0, missing.astype(np.int8), 0])
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    k = int(np.argmax(ends - starts))
    return GapReport(source, n, len(exp), int(ends[k] - starts[k]),
                     str(exp[starts[k]]), str(exp[ends[k] - 1]))


def panel_gaps(panel: pd.DataFrame, source: str = "panel") -> GapReport:
    """Gaps of a long panel (``ticker, ts``): missing sessions summed over tickers, the largest
    gap of any ticker (named in ``source``)."""
    reports = [find_gaps(pd.DatetimeIndex(g["ts"]), f"{source} {t}") for t, g in panel.groupby("ticker", sort=True)]
    worst = max(reports, key=lambda r: r.largest_gap, default=GapReport(source, 0, 0, 0))
    return GapReport(worst.source if worst.has_gaps else source,
                     sum(r.missing_sessions for r in reports), sum(r.expected_sessions for r in reports),
                     worst.largest_gap, worst.largest_from, worst.largest_to)


def check_gaps(report: GapReport, strict: bool) -> None:
    """Raise :class:`DataSourceError` for a series with gaps when ``strict``."""
    if strict and report.has_gaps:
        raise DataSourceError(f"{report.message()} (--strict: refusing to backtest a series with gaps; "
                              "fill the history first, e.g. `primeflow fetch`)")


def after_last_hole(index: pd.DatetimeIndex, min_sessions: int) -> tuple[int, list[dt.date]]:
    """Where the latest stretch of a series without a hole of ``min_sessions`` or more missing
    NYSE sessions starts: ``(position of its first bar, [first, last] missing session of the
    hole before it])``; ``(0, [])`` when there is no such hole.

    A backfill of an old range (``--partition-range 2024-01-02...2024-01-31`` into a warehouse
    whose history starts later) leaves such a hole; a backtest without ``dataset.start`` then
    starts after it instead of spanning it (:func:`primeflow_lib.research.dataset.load_bars`)."""
    if len(index) < 2 or min_sessions < 1:
        return 0, []
    days = np.unique(index.normalize().to_numpy(dtype="datetime64[D]"))
    exp, miss = _expected_and_missing(days)
    if not miss.any():
        return 0, []
    # runs of consecutive missing sessions, latest first
    idx = np.flatnonzero(miss)
    breaks = np.flatnonzero(np.diff(idx) > 1)
    starts = np.r_[idx[0], idx[breaks + 1]]
    ends = np.r_[idx[breaks], idx[-1]]
    for a, b in zip(starts[::-1], ends[::-1], strict=True):
        if b - a + 1 >= min_sessions:
            resume = exp[b] + np.timedelta64(1, "D")
            pos = int(np.searchsorted(index.normalize().to_numpy(dtype="datetime64[D]"), resume))
            return pos, [pd.Timestamp(exp[a]).date(), pd.Timestamp(exp[b]).date()]
    return 0, []

"""Contracts that exist: listed expiries from the NYSE calendar and strikes on a listed grid.

Expiries
--------
``weekly``: every Friday; ``monthly``: the third Friday of each month. When that Friday is not
an NYSE session (Good Friday, Juneteenth or Independence Day on a Friday, ...) the expiry moves
to the previous session (:func:`primeflow_lib.calendar.previous_session`). An option expires at
the close (16:00 New York) of its expiry session.

The expiry for an entry decided at the close of session ``d`` and filled at the next session
``f`` is chosen among listed expiries *after* ``f`` (a contract must live at least one session)
by ``dte_rule``: ``nearest`` = the expiry whose calendar-day distance from ``d`` is nearest the
target DTE (ties go to the earlier one), ``first_after`` = the first expiry at or after
``d + dte`` days.

Strikes
-------
The increment depends on the price level: ``strike_grid`` is a list of ``[upper_price,
increment]`` rows (the last row's upper price may be null = no limit); the default
``[[25, 0.5], [200, 1.0], [null, 5.0]]`` lists 0.50 strikes below 25 USD, 1.00 up to 200 USD
and 5.00 above. A strike is snapped to the nearest multiple of the increment at the decision
bar's spot.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
from scipy.special import ndtri

from primeflow_lib import calendar
from primeflow_lib.research.errors import RunConfigError

DAY_NS = 86_400_000_000_000
CLOSE_NS = 16 * 3_600_000_000_000  # an option expires at 16:00 of its expiry session
DEFAULT_GRID = ((25.0, 0.5), (200.0, 1.0), (None, 5.0))


def _third_friday(year: int, month: int) -> dt.date:
    first = dt.date(year, month, 1)
    return first + dt.timedelta(days=(4 - first.weekday()) % 7 + 14)


def listed_expiries(start: dt.date, end: dt.date, cycle: str = "monthly") -> np.ndarray:
    """Expiry sessions from ``start`` to ``end`` inclusive as ``datetime64[D]`` (sorted).

    Raises :class:`RunConfigError` when a needed Friday is beyond the trading calendar (its
    holidays are unknown, so the expiry session cannot be known either)."""
    if cycle not in ("weekly", "monthly"):
        raise RunConfigError(f"options.expiry_cycle: {cycle!r} is not one of ['weekly', 'monthly']")
    lo, hi = calendar.calendar_bounds()
    if cycle == "monthly":
        fridays = []
        y, m = start.year, start.month
        while dt.date(y, m, 1) <= end:
            fridays.append(_third_friday(y, m))
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    else:
        f = start + dt.timedelta(days=(4 - start.weekday()) % 7)
        fridays = [f + dt.timedelta(weeks=i) for i in range((end - f).days // 7 + 1)]
    out = []
    for f in fridays:
        if f > hi:
            raise RunConfigError(
                f"options: expiry Friday {f} is beyond the trading calendar (last known session "
                f"{hi}); shorten dataset.end or options.dte"
            )
        if f < lo:
            continue
        out.append(f if calendar.is_session(f) else calendar.previous_session(f))
    arr = np.array(sorted(set(out)), dtype="datetime64[D]")
    return arr[(arr >= np.datetime64(start)) & (arr <= np.datetime64(end))]


def choose_expiry(
    decision: np.ndarray, fill: np.ndarray, dte: int, rule: str, expiries: np.ndarray
) -> np.ndarray:
    """Expiry (``datetime64[D]``) for each decision session (vectorised; see the module doc).

    ``decision``/``fill``: ``datetime64[D]`` arrays of the decision and fill sessions. NaT where
    no listed expiry qualifies (the expiry list is too short)."""
    dec = decision.astype("datetime64[D]")
    first_ok = np.searchsorted(expiries, fill.astype("datetime64[D]"), side="right")
    target = dec + np.timedelta64(int(dte), "D")
    n = len(expiries)
    if rule == "first_after":
        i = np.maximum(np.searchsorted(expiries, target, side="left"), first_ok)
    elif rule == "nearest":
        j = np.maximum(np.searchsorted(expiries, target, side="left"), first_ok)
        prev = np.maximum(j - 1, first_ok)
        e_j = expiries[np.minimum(j, n - 1)] if n else target
        e_p = expiries[np.minimum(prev, n - 1)] if n else target
        d_j = np.abs((e_j - target).astype(np.int64))
        d_p = np.abs((e_p - target).astype(np.int64))
        i = np.where((j >= n) | (d_p <= d_j), prev, j)
    else:
        raise RunConfigError(f"options.dte_rule: {rule!r} is not one of ['nearest', 'first_after']")
    out = np.full(len(dec), np.datetime64("NaT"), dtype="datetime64[D]")
    ok = i < n
    out[ok] = expiries[i[ok]]
    return out


def strike_increment(spot: np.ndarray, grid=DEFAULT_GRID) -> np.ndarray:
    """Listed strike increment (USD) at each spot: the first grid row whose upper price is
    above the spot."""
    s = np.asarray(spot, dtype=np.float64)
    out = np.full(s.shape, float(grid[-1][1]))
    for upper, inc in reversed(grid[:-1]):
        out = np.where(s < float(upper), float(inc), out)
    return out


def snap(strike: np.ndarray, increment: np.ndarray) -> np.ndarray:
    """``strike`` rounded to the nearest multiple of ``increment`` (at least one increment)."""
    k = np.round(np.asarray(strike, dtype=np.float64) / increment) * increment
    return np.maximum(k, increment)


def strike_for_delta(spot, delta, years, vol, rate, div_yield, is_call) -> np.ndarray:
    """Strike whose Black-Scholes-Merton delta is ``delta`` (``|delta|`` in (0, 1); calls
    positive, puts negative delta), from ``N(d1) = |delta| e^{qT}``:
    ``K = S exp(-(+/-)d1 sigma sqrt(T) + (r - q + sigma^2 / 2) T)``. Not snapped."""
    s = np.asarray(spot, dtype=np.float64)
    t = np.asarray(years, dtype=np.float64)
    v = np.asarray(vol, dtype=np.float64)
    q = np.asarray(div_yield, dtype=np.float64)
    a = np.clip(np.abs(delta) * np.exp(q * t), 1e-12, 1 - 1e-12)
    d1 = np.where(is_call, ndtri(a), -ndtri(a))
    sq = v * np.sqrt(t)
    return s * np.exp(-d1 * sq + (np.asarray(rate) - q + 0.5 * v * v) * t)


def years_between(expiry_ns: np.ndarray, t_ns: np.ndarray) -> np.ndarray:
    """ACT/365 years from ``t_ns`` to the 16:00 close of the expiry session (<= 0 = expired)."""
    return (expiry_ns + CLOSE_NS - t_ns) / (365.0 * DAY_NS)

"""Synthetic vendor, part 2: the intraday price path and 1-minute bars of one ticker-session.

The path is built on a fine grid (``SUBSTEPS`` points per minute, i.e. every 15 s) as a Brownian
bridge from the daily open to the daily close, with U-shaped volatility (busy open, calmer
midday, busier close), 15-minute volatility clusters and, on intraday informed-flow days, a
ramp of the event's size starting 15-90 minutes after the flow. The excursions above
``max(open, close)`` and below ``min(open, close)`` are then rescaled so the path's maximum is
exactly the daily high and its minimum exactly the daily low. Prices are rounded to cents, which
keeps those extremes (rounding is monotone).

1-minute bars: bar ``j`` covers fine points ``j*S+1 .. (j+1)*S`` (bar 0 also the opening point),
so the first bar opens at the daily open, the last closes at the daily close, and the bars'
highest high / lowest low are the daily high / low. Volumes follow a U-shaped profile with noise
and more volume on bigger bars, allocated in whole shares that add up to the daily volume
exactly. A bar's ``vwap`` is the mean of its fine points (rounded to 4 decimals).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from primeflow_lib.vendors.synthetic.market import rng_for

SUBSTEPS = 4  # fine points per minute
STEP_NS = 60_000_000_000 // SUBSTEPS


@dataclass(frozen=True)
class IntradayEvent:
    """Timing of an informed-flow event inside one session, in minutes from the open."""

    kind: int  # 1 intraday, 2 multi-day
    direction: int  # +1 up, -1 down
    magnitude: float  # log-return of the move (signed)
    flow_start: float
    flow_end: float
    move_start: float  # intraday events only (nan for multi-day)
    move_end: float
    horizon: int  # multi-day events: sessions over which the move happens (0 for intraday)


def event_timing(
    kind: int, direction: int, magnitude: float, u: np.ndarray, minutes: int
) -> IntradayEvent:
    """Place an event's flow window (and intraday move) inside a session of ``minutes`` minutes
    from its four uniforms ``u`` = (start, window, lead, duration/horizon)."""
    ua, ub, uc, ud = (float(x) for x in u)
    if kind == 1:
        window = 5.0 + 15.0 * ub
        lead = 15.0 + 60.0 * uc
        dur = 10.0 + 20.0 * ud
        room = minutes - 15.0 - window - lead - dur
        if room < 0:  # only on very short sessions
            lead = max(15.0, lead + room)
            room = max(0.0, minutes - 15.0 - window - lead - dur)
        start = 10.0 + ua * room
        return IntradayEvent(
            kind,
            direction,
            magnitude,
            start,
            start + window,
            start + window + lead,
            start + window + lead + dur,
            0,
        )
    window = 20.0 + 40.0 * ub
    start = 30.0 + ua * max(0.0, minutes - 40.0 - window)
    return IntradayEvent(
        kind, direction, magnitude, start, start + window, math.nan, math.nan, 1 + int(ud * 5.0)
    )


@dataclass(frozen=True)
class IntradayDay:
    """The fine path and 1-minute bars of one ticker-session (prices USD, volumes shares)."""

    minutes: int
    path: np.ndarray  # minutes*SUBSTEPS + 1 fine prices, point j at j*15 s after the open
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    vwap: np.ndarray


def _profile(minutes: int) -> tuple[np.ndarray, np.ndarray]:
    m = np.arange(minutes, dtype=np.float64)
    vol_sd = 1.0 + 1.2 * np.exp(-m / 25.0) + 0.5 * np.exp(-(minutes - 1 - m) / 30.0)
    volume = 0.6 + 2.2 * np.exp(-m / 18.0) + 1.8 * np.exp(-(minutes - 1 - m) / 15.0)
    return vol_sd, volume


def build_intraday(
    seed: int,
    ticker: str,
    day_ordinal: int,
    o: float,
    h: float,
    lo: float,
    c: float,
    volume: float,
    minutes: int,
    event: IntradayEvent | None,
) -> IntradayDay:
    """Intraday path and bars consistent with the daily bar ``(o, h, lo, c, volume)``."""
    rng = rng_for(seed, "intraday", ticker, day_ordinal)
    s = SUBSTEPS
    n = minutes * s
    vol_sd, vol_prof = _profile(minutes)
    blocks = np.exp(0.3 * rng.standard_normal(minutes // 15 + 1))
    sd_min = vol_sd * blocks[np.arange(minutes) // 15]
    sd = np.repeat(sd_min, s)
    z = rng.standard_normal(n)
    lo_, lh, ll, lc = math.log(o), math.log(h), math.log(lo), math.log(c)
    # intraday variance from the daily range (Parkinson), so rescaling factors stay near 1
    s2 = max((lh - ll) ** 2 / (4.0 * math.log(2.0)), 1e-10)
    var = sd * sd
    scale = math.sqrt(s2 / var.sum())
    inc = sd * scale * z
    if event is not None and event.kind == 1:
        a = int(round(event.move_start * s))
        b = max(a + 1, int(round(event.move_end * s)))
        a, b = min(a, n - 1), min(b, n)
        inc[a:b] += event.magnitude / (b - a)
    w = np.cumsum(inc)
    cv = np.cumsum(var)
    x = np.empty(n + 1)
    x[0] = lo_
    x[1:] = lo_ + w - (cv / cv[-1]) * (w[-1] - (lc - lo_))
    x[-1] = lc
    top, bot = max(lo_, lc), min(lo_, lc)
    inner = x[1:-1]
    # rescale excursions so that max == high and min == low exactly
    if lh > top and n > 1:
        mx = inner.max()
        if mx <= top:
            j = 1 + int(np.argmax(inner))
            x[j] = top + 1e-9
            mx = x[j]
        up = x > top
        x[up] = top + (x[up] - top) * ((lh - top) / (mx - top))
    else:
        np.minimum(x, top, out=x)
    inner = x[1:-1]
    if ll < bot and n > 1:
        mn = inner.min()
        if mn >= bot:
            j = 1 + int(np.argmin(inner))
            if x[j] >= lh - 1e-12 and n > 2:  # do not move the high point
                j = 1 + int(np.argsort(inner)[1])
            x[j] = bot - 1e-9
            mn = x[j]
        dn = x < bot
        x[dn] = bot - (bot - x[dn]) * ((bot - ll) / (bot - mn))
    else:
        np.maximum(x, bot, out=x)
    p = np.round(np.exp(x), 2)
    p[0], p[-1] = o, c
    p = np.clip(p, lo, h)
    # bars
    rows = p[1:].reshape(minutes, s)
    bo = rows[:, 0].copy()
    bo[0] = p[0]
    bc = rows[:, -1].copy()
    bh = rows.max(axis=1)
    bl = rows.min(axis=1)
    bh[0] = max(bh[0], p[0])
    bl[0] = min(bl[0], p[0])
    vw = rows.mean(axis=1)
    vw[0] = (rows[0].sum() + p[0]) / (s + 1)
    vw = np.round(vw, 4)
    # volumes: U-shape x noise x bar activity, integer shares summing to the daily volume
    ret = np.abs(np.diff(np.log(np.concatenate(([p[0]], bc)))))
    act = 1.0 + 1.5 * ret / max(ret.mean(), 1e-12)
    wts = vol_prof * np.exp(0.35 * rng.standard_normal(minutes)) * act
    raw = volume * wts / wts.sum()
    bv = np.floor(raw)
    short = int(round(volume - bv.sum()))
    if short > 0:
        bv[np.argsort(-(raw - bv), kind="stable")[:short]] += 1.0
    return IntradayDay(minutes, p, bo, bh, bl, bc, bv, vw)

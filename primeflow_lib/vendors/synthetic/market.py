"""Synthetic vendor, part 1: the ticker pool and the daily market model.

Everything here is invented data. Nothing is fetched; nothing is real. Well-known symbols are
used so the demo reads naturally, but their prices, volumes and flows are simulated.

Random streams are derived from ``(seed, purpose, ticker[, date])`` only (numpy ``SeedSequence``
+ ``Philox``), never from the order of calls, so any request gives byte-identical results
whatever was asked before. Daily paths are drawn as rows of one stream per ticker; numpy's
``Generator.random`` fills row after row, so extending the horizon appends rows and never changes
the earlier ones.

Daily model (one session = one step, from :data:`FIRST_SESSION`):

* **Market factor**: a 4-state Markov regime chain (bull, bear, range, high-vol), each with its
  own drift and long-run volatility, times a GARCH(1,1) multiplier on standardized shocks (vol
  clustering); split into an overnight gap part and an intraday part.
* **Tickers**: ``beta * market + idiosyncratic`` (own GARCH multiplier), a weak Ornstein-Uhlenbeck
  pull of the log price towards a per-ticker trend line (keeps 16 years of prices in a plausible
  range), quarterly earnings gaps for single stocks, overnight gaps, and informed-flow events
  (see below). High and low are drawn from the distribution of the extremes of a Brownian bridge
  between open and close, so intraday paths can be built to hit them exactly. Volume is
  lognormal around a heavy-tailed per-ticker base, persistent (AR(1) in logs), higher on big
  moves, earnings and high-vol regimes.
* **Informed-flow events** (hidden from the output tables): on about 4 % of ticker-sessions an
  *intraday* event (aggressive flow, then 15-90 minutes later a move in its direction) and on
  about 2 % a *multi-day* event (flow today, move over the next 1-5 sessions). Their timing is
  stored as fractions of the session so early closes need no special case.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import threading
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numba import njit
from scipy.special import ndtri

from primeflow_lib import calendar as pf_calendar

FIRST_SESSION = dt.date(2010, 1, 4)
#: sessions between a single stock's quarterly reports: session t (counted from FIRST_SESSION)
#: is a report day when (t + earn_phase) % EARNINGS_CYCLE == 0 (the gap is at its open)
EARNINGS_CYCLE = 63
TRADING_DAYS = 252.0

# regimes
BULL, BEAR, RANGE, HIGH_VOL = 0, 1, 2, 3
REGIME_NAMES = ("bull", "bear", "range", "high_vol")
#: annual drift and long-run annual volatility of the market factor per regime
REGIME_DRIFT = np.array([0.20, -0.25, 0.0, -0.15])
REGIME_VOL = np.array([0.11, 0.22, 0.13, 0.38])
#: daily transition probabilities (rows: from, columns: to)
REGIME_TRANSITIONS = np.array(
    [
        [0.985, 0.003, 0.009, 0.003],
        [0.008, 0.975, 0.007, 0.010],
        [0.010, 0.006, 0.980, 0.004],
        [0.015, 0.020, 0.015, 0.950],
    ]
)
REGIME_VOLUME = np.array([0.95, 1.2, 0.85, 1.45])
GARCH_ALPHA, GARCH_BETA = 0.08, 0.90
MARKET_GAP_FRACTION = 0.2

#: probability per ticker-session of an intraday / multi-day informed-flow event
P_INTRADAY_EVENT = 0.04
P_MULTIDAY_EVENT = 0.02

# event kinds
EVENT_NONE, EVENT_INTRADAY, EVENT_MULTIDAY = 0, 1, 2

# Per ticker three streams, each filled row by row so a longer horizon only appends rows: one
# row of 4 normals per session (gap, intraday, volume and earnings shocks), one row of 3
# uniforms per session (high and low extremes, the event lottery), and one row of 6 uniforms
# per informed-flow event (direction, size, flow start, flow window, lead, duration/horizon; the
# k-th event of a ticker uses row k).
_N_EVENT_DRAWS = 6

# ----------------------------------------------------------------------------- the pool

# ticker, price 2010, price 2025 (anchor of the trend line, USD), beta, idiosyncratic annual
# vol, base volume (million shares/day), dividend yield, ETF. Loosely inspired by the real
# names' scale; the simulated paths are not the real history.
WELL_KNOWN: tuple[tuple[str, float, float, float, float, float, float, bool], ...] = (
    ("SPY", 112, 600, 1.00, 0.02, 80, 0.013, True),
    ("QQQ", 46, 520, 1.15, 0.06, 45, 0.006, True),
    ("IWM", 63, 220, 1.20, 0.08, 30, 0.012, True),
    ("NVDA", 12, 180, 1.70, 0.45, 250, 0.000, False),
    ("TSLA", 20, 350, 1.60, 0.55, 100, 0.000, False),
    ("AAPL", 30, 230, 1.15, 0.22, 60, 0.005, False),
    ("AMD", 9, 150, 1.70, 0.50, 50, 0.000, False),
    ("AMZN", 30, 210, 1.20, 0.28, 45, 0.000, False),
    ("MSFT", 30, 450, 1.05, 0.20, 22, 0.008, False),
    ("META", 38, 600, 1.25, 0.35, 15, 0.004, False),
    ("GOOGL", 15, 180, 1.10, 0.25, 30, 0.004, False),
    ("PLTR", 10, 100, 1.80, 0.65, 70, 0.000, False),
    ("NFLX", 20, 700, 1.30, 0.40, 5, 0.000, False),
    ("INTC", 20, 25, 1.10, 0.30, 50, 0.015, False),
    ("BAC", 15, 45, 1.30, 0.25, 40, 0.022, False),
    ("F", 10, 11, 1.20, 0.30, 60, 0.050, False),
    ("SOFI", 8, 15, 1.80, 0.60, 60, 0.000, False),
    ("MU", 10, 100, 1.50, 0.42, 20, 0.004, False),
    ("COIN", 50, 250, 2.00, 0.75, 10, 0.000, False),
    ("BABA", 90, 100, 0.90, 0.40, 15, 0.010, False),
    ("JPM", 42, 250, 1.10, 0.20, 10, 0.022, False),
    ("XOM", 68, 110, 0.80, 0.25, 15, 0.034, False),
    ("DIS", 30, 110, 1.05, 0.25, 10, 0.008, False),
    ("PFE", 18, 25, 0.65, 0.22, 40, 0.060, False),
    ("UBER", 30, 75, 1.40, 0.40, 20, 0.000, False),
    ("NIO", 10, 5, 1.80, 0.75, 50, 0.000, False),
    ("T", 25, 25, 0.60, 0.20, 35, 0.045, False),
    ("C", 35, 80, 1.40, 0.28, 15, 0.030, False),
    ("WFC", 27, 75, 1.20, 0.25, 18, 0.020, False),
    ("KO", 28, 70, 0.60, 0.15, 14, 0.029, False),
    ("BA", 55, 200, 1.30, 0.35, 8, 0.000, False),
    ("SNAP", 15, 10, 1.60, 0.65, 25, 0.000, False),
    ("RIVN", 30, 15, 1.90, 0.70, 35, 0.000, False),
    ("MARA", 6, 18, 2.20, 0.90, 40, 0.000, False),
    ("SMCI", 10, 40, 1.80, 0.80, 40, 0.000, False),
    ("AVGO", 20, 250, 1.30, 0.35, 25, 0.012, False),
    ("ORCL", 25, 200, 1.00, 0.28, 10, 0.010, False),
    ("CRM", 20, 270, 1.20, 0.32, 6, 0.006, False),
    ("SHOP", 10, 110, 1.70, 0.55, 10, 0.000, False),
    ("PYPL", 40, 70, 1.30, 0.38, 12, 0.000, False),
    ("WMT", 18, 95, 0.55, 0.16, 15, 0.010, False),
    ("GME", 5, 25, 1.50, 0.95, 10, 0.000, False),
    ("AMC", 5, 4, 1.60, 0.95, 30, 0.000, False),
    ("DIA", 104, 440, 0.95, 0.03, 4, 0.016, True),
    ("XLF", 14, 50, 1.15, 0.05, 40, 0.016, True),
    ("XLE", 57, 88, 0.95, 0.18, 20, 0.032, True),
    ("GLD", 110, 250, 0.05, 0.15, 8, 0.000, True),
    ("SLV", 17, 30, 0.20, 0.28, 20, 0.000, True),
    ("TLT", 90, 90, -0.25, 0.14, 25, 0.035, True),
    ("EEM", 41, 45, 1.00, 0.12, 30, 0.022, True),
    ("HYG", 86, 80, 0.35, 0.05, 30, 0.055, True),
    ("XLK", 23, 230, 1.10, 0.07, 6, 0.007, True),
    ("SMH", 30, 250, 1.45, 0.12, 6, 0.005, True),
)
_KNOWN_INDEX = {row[0]: i for i, row in enumerate(WELL_KNOWN)}
_ANCHOR_YEARS = 15.5  # 2010-01-04 -> mid 2025
_ALPHABET = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))


def stable_u64(*parts: object) -> int:
    """A 64-bit integer hash of ``parts`` that is the same on every machine and run."""
    h = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8)
    return int.from_bytes(h.digest(), "little")


def rng_for(seed: int, *parts: object) -> np.random.Generator:
    """An independent random stream for ``(seed, *parts)`` (Philox, seeded via SeedSequence)."""
    return np.random.Generator(
        np.random.Philox(np.random.SeedSequence([int(seed) & (2**63 - 1), stable_u64(*parts)]))
    )


def _fast_rng(seed: int, *parts: object) -> np.random.Generator:
    """Like :func:`rng_for` with the faster SFC64 bit generator, for the long daily streams of
    the whole pool (same seeding: SeedSequence of ``(seed, hash(parts))``)."""
    return np.random.Generator(
        np.random.SFC64(np.random.SeedSequence([int(seed) & (2**63 - 1), stable_u64(*parts)]))
    )


@lru_cache(maxsize=8)
def _generated_names(seed: int, count: int) -> tuple[str, ...]:
    """``count`` invented 3-4 letter symbols, in a fixed order for the seed (prefix-stable: a
    bigger ``count`` only appends names)."""
    rng = rng_for(seed, "pool-names")
    out: list[str] = []
    seen = set(_KNOWN_INDEX)
    while len(out) < count:
        letters = _ALPHABET[rng.integers(0, 26, size=(1000, 4))]
        four = rng.random(1000) < 0.5
        for row, is4 in zip(letters, four, strict=True):
            name = "".join(row[: 4 if is4 else 3])
            if name not in seen:
                seen.add(name)
                out.append(name)
    return tuple(out[:count])


@dataclass(frozen=True)
class Pool:
    """The tickers the synthetic vendor knows and their fixed parameters (arrays aligned with
    ``tickers``)."""

    seed: int
    tickers: tuple[str, ...]
    beta: np.ndarray
    idio_vol: np.ndarray  # annual
    anchor0: np.ndarray  # log price of the trend line at FIRST_SESSION
    anchor_slope: np.ndarray  # log price change per year of the trend line
    base_volume: np.ndarray  # shares/day
    div_yield: np.ndarray
    is_etf: np.ndarray
    earn_phase: np.ndarray  # sessions offset of the quarterly earnings cycle
    gap_frac: np.ndarray  # share of idiosyncratic variance realised overnight
    skew: np.ndarray  # IV skew slope (per unit of normalised moneyness)
    smile: np.ndarray  # IV smile curvature
    volume_rank: np.ndarray  # 1 = highest base volume in the pool

    @property
    def index(self) -> dict[str, int]:
        return _pool_index(self.tickers)

    @property
    def total_vol(self) -> np.ndarray:
        """Typical annual volatility of each ticker (market part at 16 % plus idiosyncratic)."""
        return np.sqrt((self.beta * 0.16) ** 2 + self.idio_vol**2)


@lru_cache(maxsize=8)
def _pool_index(tickers: tuple[str, ...]) -> dict[str, int]:
    return {t: i for i, t in enumerate(tickers)}


@lru_cache(maxsize=8)
def build_pool(seed: int, pool_size: int) -> Pool:
    """The first ``pool_size`` tickers: the well-known list, then invented names."""
    if pool_size < 1:
        raise ValueError(f"synthetic.pool_size must be >= 1, got {pool_size}")
    known = [row[0] for row in WELL_KNOWN]
    names = (known + list(_generated_names(seed, max(0, pool_size - len(known)))))[:pool_size]
    n = len(names)
    beta = np.empty(n)
    idio = np.empty(n)
    a0 = np.empty(n)
    slope = np.empty(n)
    base_v = np.empty(n)
    divy = np.empty(n)
    etf = np.zeros(n, dtype=bool)
    phase = np.empty(n, dtype=np.int64)
    gapf = np.empty(n)
    skew = np.empty(n)
    smile = np.empty(n)
    for i, name in enumerate(names):
        u = rng_for(seed, "params", name).random(12)
        if name in _KNOWN_INDEX:
            _, p0, p1, b, iv, vol_m, dy, is_etf = WELL_KNOWN[_KNOWN_INDEX[name]]
            beta[i], idio[i], base_v[i], divy[i], etf[i] = b, iv, vol_m * 1e6, dy, is_etf
            a0[i] = math.log(p0)
            slope[i] = (math.log(p1) - math.log(p0)) / _ANCHOR_YEARS
        else:
            beta[i] = 0.6 + 1.1 * u[0]
            idio[i] = float(np.clip(0.32 * math.exp(0.35 * ndtri(0.001 + 0.998 * u[1])), 0.12, 1.2))
            a0[i] = float(
                np.clip(
                    math.log(30.0) + 0.9 * ndtri(0.001 + 0.998 * u[2]),
                    math.log(4.0),
                    math.log(600.0),
                )
            )
            slope[i] = float(np.clip(0.05 + 0.08 * ndtri(0.001 + 0.998 * u[3]), -0.08, 0.2))
            base_v[i] = float(
                np.clip(1.5e6 * math.exp(1.3 * ndtri(0.001 + 0.998 * u[4])), 5e4, 1.5e8)
            )
            divy[i] = 0.0 if u[5] < 0.4 else 0.005 + 0.035 * u[6]
        phase[i] = int(u[7] * EARNINGS_CYCLE)
        gapf[i] = 0.15 + 0.2 * u[8]
        skew[i] = (0.16 if etf[i] else 0.07) + 0.05 * u[9]
        smile[i] = 0.03 + 0.03 * u[10]
    order = np.argsort(-base_v, kind="stable")
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(1, n + 1)
    return Pool(
        seed=seed,
        tickers=tuple(names),
        beta=beta,
        idio_vol=idio,
        anchor0=a0,
        anchor_slope=slope,
        base_volume=base_v,
        div_yield=divy,
        is_etf=etf,
        earn_phase=phase,
        gap_frac=gapf,
        skew=skew,
        smile=smile,
        volume_rank=rank,
    )


# ----------------------------------------------------------------------------- calendar


@dataclass(frozen=True)
class Sessions:
    """NYSE sessions from FIRST_SESSION to ``dates[-1]`` as numpy arrays."""

    dates: np.ndarray  # datetime64[D]
    years: np.ndarray  # years since FIRST_SESSION (ACT/365.25)

    def index_of(self, d: dt.date) -> int:
        """Position of session ``d`` (must be a session inside the range)."""
        i = int(np.searchsorted(self.dates, np.datetime64(d, "D")))
        if i >= len(self.dates) or self.dates[i] != np.datetime64(d, "D"):
            raise KeyError(d)
        return i

    def date(self, i: int) -> dt.date:
        return self.dates[i].astype(object)


@lru_cache(maxsize=4)
def sessions_until(end_year: int) -> Sessions:
    """All sessions from FIRST_SESSION to Dec 31 of ``end_year`` (or the calendar's end)."""
    days = pf_calendar.sessions(FIRST_SESSION, dt.date(end_year, 12, 31))
    dates = np.array(days, dtype="datetime64[D]")
    years = (dates - np.datetime64(FIRST_SESSION, "D")).astype(np.float64) / 365.25
    return Sessions(dates=dates, years=years)


@lru_cache(maxsize=4096)
def open_close_ns(d: dt.date) -> tuple[int, int, np.datetime64]:
    """(open, close) of session ``d`` as UTC nanoseconds, and the naive ET open as
    ``datetime64[us]``."""
    o, c = pf_calendar.session_open_close(d)
    from zoneinfo import ZoneInfo

    ny = ZoneInfo("America/New_York")
    o_ns = int(o.replace(tzinfo=ny).timestamp()) * 1_000_000_000
    c_ns = int(c.replace(tzinfo=ny).timestamp()) * 1_000_000_000
    return o_ns, c_ns, np.datetime64(o, "us")


@lru_cache(maxsize=8192)
def is_expiry_day(d: dt.date) -> bool:
    """True when ``d`` can be an option expiry: an NYSE session, or any weekday past the
    calendar's known range (holidays there are unknown)."""
    lo, hi = pf_calendar.calendar_bounds()
    if d > hi:
        return d.weekday() < 5
    return pf_calendar.is_session(d)


# ----------------------------------------------------------------------------- kernels


@njit(cache=True)
def _market_kernel(
    u_reg, z_gap, z_intra, trans_cum, drift, lrv, alpha, beta, gap_frac
):  # pragma: no cover
    n = u_reg.shape[0]
    regime = np.empty(n, dtype=np.int8)
    m_gap = np.empty(n)
    m_intra = np.empty(n)
    m_var = np.empty(n)
    s = 0
    g = 1.0
    z2_prev = 1.0
    for t in range(n):
        if t > 0:
            u = u_reg[t]
            ns = 3
            for j in range(4):
                if u < trans_cum[s, j]:
                    ns = j
                    break
            s = ns
        g = (1.0 - alpha - beta) + alpha * z2_prev * g + beta * g
        h = lrv[s] * lrv[s] / 252.0 * g
        mu = drift[s] / 252.0 - 0.5 * h
        m_gap[t] = gap_frac * mu + math.sqrt(gap_frac * h) * z_gap[t]
        m_intra[t] = (1.0 - gap_frac) * mu + math.sqrt((1.0 - gap_frac) * h) * z_intra[t]
        zt = math.sqrt(gap_frac) * z_gap[t] + math.sqrt(1.0 - gap_frac) * z_intra[t]
        z2_prev = min(zt * zt, 25.0)
        regime[t] = s
        m_var[t] = h
    return regime, m_gap, m_intra, m_var


@njit(cache=True)
def _ticker_kernel(  # pragma: no cover - compiled
    z_gap,
    z_intra,
    z_vol,
    z_earn,
    log_uh,
    log_ul,
    u_event,
    evd,
    m_gap,
    m_intra,
    m_var,
    regime,
    years,
    regime_volume,
    beta,
    idio_var,
    anchor0,
    slope,
    gap_frac,
    base_volume,
    earn_phase,
    has_earnings,
    p_intra,
    p_multi,
    gm,
):
    n = z_gap.shape[0]
    n_ev = evd.shape[0]
    o = np.empty(n)
    h = np.empty(n)
    lo = np.empty(n)
    c = np.empty(n)
    v = np.empty(n)
    ev_kind = np.zeros(n, dtype=np.int8)
    ev_dir = np.zeros(n, dtype=np.int8)
    ev_mag = np.zeros(n)
    ev_u = np.zeros((n, 4))
    extra_gap = np.zeros(n + 8)
    extra_intra = np.zeros(n + 8)
    kappa = 0.35
    a, b = 0.06, 0.90
    g = 1.0
    z2_prev = 1.0
    lc = anchor0 + 0.1 * z_vol[0]
    lv = 0.0
    k_ev = 0
    log2 = math.log(2.0)
    for t in range(n):
        z_g = z_gap[t]
        z_i = z_intra[t]
        g = (1.0 - a - b) + a * z2_prev * g + b * g
        hi_var = idio_var / 252.0 * g
        sd_day = math.sqrt(beta * beta * m_var[t] + hi_var)
        anchor = anchor0 + slope * years[t]
        pull = kappa / 252.0 * (anchor - lc) + 0.05 * max(0.0, log2 - lc)
        gap = beta * m_gap[t] + math.sqrt(gap_frac * hi_var) * z_g + extra_gap[t]
        earn = has_earnings and ((t + earn_phase) % EARNINGS_CYCLE == 0)
        if earn:
            gap += 2.5 * sd_day * z_earn[t]
        intra = (
            beta * m_intra[t] + math.sqrt((1.0 - gap_frac) * hi_var) * z_i + extra_intra[t] + pull
        )
        # informed-flow events
        ue = u_event[t]
        if ue < p_intra + p_multi:
            row = k_ev % n_ev
            k_ev += 1
            direction = 1 if evd[row, 0] < 0.5 else -1
            for j in range(4):
                ev_u[t, j] = evd[row, 2 + j]
            if ue < p_intra:
                mag = max(0.004, sd_day * (0.5 + 0.6 * evd[row, 1]))
                intra += direction * mag
                ev_kind[t] = 1
            else:
                horizon = 1 + int(evd[row, 5] * 5.0)
                mag = max(0.015, sd_day * math.sqrt(horizon) * (1.5 + 1.5 * evd[row, 1]))
                extra_gap[t + 1] += 0.4 * direction * mag
                for k in range(1, horizon + 1):
                    extra_intra[t + k] += 0.6 * direction * mag / horizon
                ev_kind[t] = 2
            ev_dir[t] = direction
            ev_mag[t] = direction * mag
        zt = math.sqrt(gap_frac) * z_g + math.sqrt(1.0 - gap_frac) * z_i
        z2_prev = min(zt * zt, 25.0)
        lo_t = lc + gap
        lc_t = lo_t + intra
        # extremes of a Brownian bridge from 0 to `intra` with the intraday variance
        s2 = beta * beta * (1.0 - gm) * m_var[t] + (1.0 - gap_frac) * hi_var
        s2 = max(s2, 1e-8)
        bb = intra
        y_hi = 0.5 * (bb + math.sqrt(bb * bb - 2.0 * s2 * log_uh[t]))
        y_lo = 0.5 * (bb - math.sqrt(bb * bb - 2.0 * s2 * log_ul[t]))
        op = max(round(math.exp(lo_t), 2), 0.01)
        cp = max(round(math.exp(lc_t), 2), 0.01)
        hp = max(round(math.exp(lo_t + y_hi), 2), op, cp)
        lp = max(min(round(math.exp(lo_t + y_lo), 2), op, cp), 0.01)
        o[t] = op
        c[t] = cp
        h[t] = hp
        lo[t] = lp
        # volume: persistent lognormal, more on big moves, earnings, events, stressed regimes
        lv = 0.75 * lv + 0.19843134832984430 * z_vol[t]  # sqrt(1 - 0.75^2) * 0.3
        move = (abs(gap) + abs(intra)) / max(sd_day, 1e-6)
        mult = (0.55 + 0.45 * move / 1.1) * regime_volume[regime[t]]
        if earn:
            mult *= 2.0
        if ev_kind[t] != 0:
            mult *= 1.3
        v[t] = max(1000.0, round(base_volume * math.exp(lv - 0.045) * mult))
        lc = lc_t
    return o, h, lo, c, v, ev_kind, ev_dir, ev_mag, ev_u


# ----------------------------------------------------------------------------- the model


@dataclass
class TickerDaily:
    """Daily bars and events of one ticker, aligned with :class:`Sessions` ``dates``."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    ev_kind: np.ndarray
    ev_dir: np.ndarray
    ev_mag: np.ndarray
    #: the raw uniforms of the event columns (timing of the flow window and the move)
    ev_u: np.ndarray  # (n, 4): flow start, window, lead, duration/horizon


class DailyModel:
    """Market factor and every pool ticker's daily path up to a horizon year (cached)."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.seed = pool.seed
        self._lock = threading.RLock()
        self._year = 0
        self._sessions: Sessions | None = None
        self._market: tuple[np.ndarray, ...] | None = None
        self._tickers: dict[str, TickerDaily] = {}
        self._close_panel: np.ndarray | None = None  # (n_pool, n) float64
        self._volume_panel: np.ndarray | None = None  # (n_pool, n) float64

    # horizon ------------------------------------------------------------------
    def ensure(self, last: dt.date) -> Sessions:
        """Make sure paths cover ``last`` (extends to the end of its year)."""
        with self._lock:
            if last.year > self._year:
                self._year = last.year
                self._sessions = sessions_until(last.year)
                self._market = None
                self._tickers = {}
                self._close_panel = None
                self._volume_panel = None
            assert self._sessions is not None
            return self._sessions

    @property
    def sessions(self) -> Sessions:
        assert self._sessions is not None
        return self._sessions

    def market(self) -> tuple[np.ndarray, ...]:
        """(regime, gap return, intraday return, daily variance) of the market factor."""
        with self._lock:
            if self._market is None:
                n = len(self.sessions.dates)
                u = rng_for(self.seed, "market").random((n, 3))
                z_gap = ndtri(np.clip(u[:, 1], 1e-16, 1 - 1e-16))
                z_intra = ndtri(np.clip(u[:, 2], 1e-16, 1 - 1e-16))  # once per process: cheap
                trans_cum = np.cumsum(REGIME_TRANSITIONS, axis=1)
                trans_cum[:, -1] = 1.0
                self._market = _market_kernel(
                    np.ascontiguousarray(u[:, 0]),
                    z_gap,
                    z_intra,
                    trans_cum,
                    REGIME_DRIFT,
                    REGIME_VOL,
                    GARCH_ALPHA,
                    GARCH_BETA,
                    MARKET_GAP_FRACTION,
                )
            return self._market

    def _draws(self, ticker: str, n: int) -> tuple[np.ndarray, ...]:
        """Shock arrays of one ticker: (z_gap, z_intra, z_vol, z_earn, log(1-u_high),
        log(1-u_low), u_event, event rows)."""
        z = _fast_rng(self.seed, "daily-z", ticker).standard_normal((n, 4)).T
        u = _fast_rng(self.seed, "daily-u", ticker).random((n, 3)).T
        ev = rng_for(self.seed, "events", ticker).random((n // 8 + 16, _N_EVENT_DRAWS))
        return (
            np.ascontiguousarray(z[0]),
            np.ascontiguousarray(z[1]),
            np.ascontiguousarray(z[2]),
            np.ascontiguousarray(z[3]),
            np.log1p(-u[0]),
            np.log1p(-u[1]),
            np.ascontiguousarray(u[2]),
            ev,
        )

    def ticker(self, ticker: str) -> TickerDaily:
        """Full daily path of one pool ticker (cached)."""
        with self._lock:
            got = self._tickers.get(ticker)
            if got is not None:
                return got
            regime, m_gap, m_intra, m_var = self.market()
            p = self.pool
            i = p.index[ticker]
            n = len(self.sessions.dates)
            o, h, lo, c, v, kind, direction, mag, ev_u = _ticker_kernel(
                *self._draws(ticker, n),
                m_gap,
                m_intra,
                m_var,
                regime,
                self.sessions.years,
                REGIME_VOLUME,
                float(p.beta[i]),
                float(p.idio_vol[i] ** 2),
                float(p.anchor0[i]),
                float(p.anchor_slope[i]),
                float(p.gap_frac[i]),
                float(p.base_volume[i]),
                int(p.earn_phase[i]),
                not bool(p.is_etf[i]),
                P_INTRADAY_EVENT,
                P_MULTIDAY_EVENT,
                MARKET_GAP_FRACTION,
            )
            td = TickerDaily(o, h, lo, c, v, kind, direction, mag, ev_u)
            if len(self._tickers) > 256:
                self._tickers.clear()
            self._tickers[ticker] = td
            return td

    def panels(self) -> tuple[np.ndarray, np.ndarray]:
        """(close, volume) for every pool ticker, shape (n_pool, n_sessions)."""
        with self._lock:
            if self._close_panel is None:
                n = len(self.sessions.dates)
                m = len(self.pool.tickers)
                close = np.empty((m, n))
                vol = np.empty((m, n))
                keep = dict(self._tickers)
                for j, t in enumerate(self.pool.tickers):
                    td = self.ticker(t)
                    close[j] = td.close
                    vol[j] = td.volume
                    if t not in keep:
                        self._tickers.pop(t, None)
                self._close_panel, self._volume_panel = close, vol
            assert self._volume_panel is not None
            return self._close_panel, self._volume_panel


_MODELS: dict[tuple[int, int], DailyModel] = {}
_MODELS_LOCK = threading.Lock()


def daily_model(seed: int, pool_size: int) -> DailyModel:
    """The process-wide cached model for ``(seed, pool_size)``."""
    key = (int(seed), int(pool_size))
    with _MODELS_LOCK:
        m = _MODELS.get(key)
        if m is None:
            m = _MODELS[key] = DailyModel(build_pool(*key))
        return m


def risk_free_rate(d: dt.date) -> float:
    """A plausible short rate for date ``d`` (continuous, annual), stepping roughly like US
    3-month bills since 2010. Synthetic; not a data source."""
    i = int(np.searchsorted(_RATE_DATES, np.datetime64(d, "D"), side="right")) - 1
    return float(_RATE_VALUES[max(i, 0)])


_RATE_STEPS = (
    ("2010-01-01", 0.0015),
    ("2015-12-17", 0.004),
    ("2016-12-15", 0.0065),
    ("2017-06-15", 0.011),
    ("2017-12-14", 0.0145),
    ("2018-06-14", 0.019),
    ("2018-12-20", 0.024),
    ("2019-08-01", 0.019),
    ("2019-10-31", 0.0155),
    ("2020-03-16", 0.001),
    ("2022-03-17", 0.004),
    ("2022-05-05", 0.009),
    ("2022-06-16", 0.016),
    ("2022-07-28", 0.024),
    ("2022-09-22", 0.031),
    ("2022-11-03", 0.039),
    ("2022-12-15", 0.044),
    ("2023-02-02", 0.047),
    ("2023-03-23", 0.049),
    ("2023-05-04", 0.051),
    ("2023-07-27", 0.0535),
    ("2024-09-19", 0.049),
    ("2024-11-08", 0.046),
    ("2024-12-19", 0.043),
    ("2025-09-18", 0.041),
    ("2025-10-30", 0.039),
    ("2025-12-11", 0.037),
)
_RATE_DATES = np.array([s for s, _ in _RATE_STEPS], dtype="datetime64[D]")
_RATE_VALUES = np.array([v for _, v in _RATE_STEPS])

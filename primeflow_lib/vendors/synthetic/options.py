"""Synthetic vendor, part 3: option chains and option prints of one ticker-session.

Listed contracts (per underlying and session):

* expiries: the next 4 weekly Fridays (Thursday when the Friday is a holiday), the next 3 monthly
  third-Fridays, the first quarterly (Mar/Jun/Sep/Dec) third-Friday at least 150 days out and the
  first January third-Friday at least 300 days out (LEAPS). An expiry on the session itself is
  listed (0DTE);
* strikes: a grid around the session's opening price, wider for longer expiries (about +-2.5
  standard deviations, at least +-6 %), in steps of 0.5 / 1 / 2.5 / 5 / 10 USD by price level
  (ETFs: 1), coarser for the far expiries, at most ~30 strikes per side;
* implied volatility: a per-ticker base level (its typical volatility plus a premium) blended
  with 20-session realised volatility at the short end, with put skew and a smile
  (``iv = atm * (1 - skew * x + smile * x^2)``, ``x = ln(K/F) / (atm * sqrt(T))``);
* quotes: bid/ask around the Black-Scholes value (:mod:`primeflow_lib.pricing`), wider for less
  liquid names and far wings, on 0.01 (under 3 USD) / 0.05 ticks;
* open interest: larger near the money and on monthlies (deterministic per contract symbol).

Prints: see :func:`build_prints` for the order mix. Exchange ids are Massive/Polygon options
participant ids (:data:`EXCHANGES`).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np
from scipy.special import ndtri

from primeflow_lib.pricing import bs_greeks, bs_price
from primeflow_lib.symbols import format_occ
from primeflow_lib.vendors.synthetic.intraday import STEP_NS, IntradayDay, IntradayEvent
from primeflow_lib.vendors.synthetic.market import is_expiry_day, rng_for, stable_u64

NY = ZoneInfo("America/New_York")
YEAR_NS = 365.0 * 86400e9
MIN_YEARS = 30.0 / (365.0 * 24 * 60)  # time to expiry floor: 30 minutes

#: Massive (Polygon) options participant ids used by the synthetic feed, with the venue each
#: stands for and the share of prints routed there. Ids are in the 300-330 range of
#: ``/v3/reference/exchanges?asset_class=options`` (300 is OPRA itself, never an execution
#: venue); the ids match those in the Massive trade fixtures, but the id -> venue names are our
#: reading of that list and were not checked against a live call.
EXCHANGES: dict[int, tuple[str, float]] = {
    301: ("NYSE American Options", 0.06),
    302: ("Cboe Options", 0.14),
    303: ("MIAX Emerald", 0.05),
    304: ("Cboe EDGX Options", 0.05),
    307: ("Nasdaq GEMX", 0.04),
    308: ("Nasdaq ISE", 0.09),
    309: ("Nasdaq MRX", 0.02),
    312: ("MIAX Options", 0.06),
    313: ("NYSE Arca Options", 0.08),
    315: ("MIAX Pearl", 0.07),
    316: ("Nasdaq Options Market", 0.07),
    319: ("Nasdaq BX Options", 0.02),
    322: ("Cboe C2", 0.04),
    323: ("Nasdaq PHLX", 0.11),
    325: ("Cboe BZX Options", 0.10),
}
_EX_IDS = np.array(list(EXCHANGES), dtype=np.int32)
_EX_W = np.array([w for _, w in EXCHANGES.values()])
_EX_W = _EX_W / _EX_W.sum()
_EX_CUM = np.cumsum(_EX_W)
# venues with floors / auction mechanisms, for blocks and crosses
_FLOOR_IDS = np.array([302, 323, 308, 313, 301], dtype=np.int32)
_FLOOR_CUM = np.cumsum([0.35, 0.3, 0.15, 0.12, 0.08])

# order types
SINGLE, SWEEP, SPLIT, BLOCK, MULTI, STOCKOPT, COMPRESSION = range(7)
ORDER_NAMES = ("single", "sweep", "split", "block", "multi_leg", "stock_option", "compression")
_ORDER_P = np.array([0.75, 0.045, 0.04, 0.015, 0.07, 0.012, 0.002])
_ORDER_P = _ORDER_P / _ORDER_P.sum()
_ORDER_CUM = np.cumsum(_ORDER_P)
# expected legs per order type (sweep 2 + min(Poisson(2), 6), split 2 + min(Poisson(1), 4))
_MEAN_LEGS = np.array([1.0, 3.99, 2.99, 1.0, 2.0, 1.0, 1.0])
MEAN_PRINTS_PER_ORDER = float((_ORDER_P * _MEAN_LEGS).sum())

_BLOCK_CONDS = np.array([229, 227, 231, 228, 230])
_BLOCK_CUM = np.cumsum([0.45, 0.15, 0.30, 0.05, 0.05])
_MULTI_CONDS = np.array([232, 233, 234, 235, 236, 238, 239])
_MULTI_CUM = np.cumsum([0.45, 0.15, 0.10, 0.10, 0.08, 0.06, 0.06])
_STOCKOPT_CONDS = np.array([237, 240, 241, 242, 243, 244, 245])
_STOCKOPT_CUM = np.cumsum([0.30, 0.20, 0.15, 0.10, 0.10, 0.10, 0.05])
_COND_STR = np.array([str(c) for c in range(200, 250)], dtype=object)
P_LATE = 0.004
P_CANCEL = 0.004
MAX_PRINT_PREMIUM = 25e6  # USD

_LADDER = (0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0)


# ----------------------------------------------------------------------------- expiries


def _third_friday(y: int, m: int) -> dt.date:
    first = dt.date(y, m, 1)
    return first + dt.timedelta(days=(4 - first.weekday()) % 7 + 14)


def _listed(fri: dt.date) -> dt.date:
    """The expiry for a Friday: the Friday, or the last session before it if it is a holiday."""
    d = fri
    while not is_expiry_day(d):
        d -= dt.timedelta(days=1)
    return d


def _add_months(y: int, m: int, k: int) -> tuple[int, int]:
    m0 = m - 1 + k
    return y + m0 // 12, m0 % 12 + 1


@lru_cache(maxsize=4096)
def expiries(d: dt.date) -> tuple[tuple[dt.date, int], ...]:
    """Listed expiries on session ``d``: ``(expiry, kind)`` sorted, kind 0 weekly, 1 monthly,
    2 far (quarterly / LEAPS)."""
    out: dict[dt.date, int] = {}
    f0 = d + dt.timedelta(days=(4 - d.weekday()) % 7)
    for k in range(4):
        e = _listed(f0 + dt.timedelta(weeks=k))
        if e >= d:
            out[e] = 0
    found, k = 0, 0
    while found < 3:
        y, m = _add_months(d.year, d.month, k)
        e = _listed(_third_friday(y, m))
        if e >= d:
            out[e] = 1
            found += 1
        k += 1
    k = 0
    while True:
        y, m = _add_months(d.year, d.month, k)
        e = _listed(_third_friday(y, m))
        if m in (3, 6, 9, 12) and (e - d).days >= 150:
            out.setdefault(e, 2)
            break
        k += 1
    y = d.year
    while True:
        e = _listed(_third_friday(y, 1))
        if (e - d).days >= 300:
            out.setdefault(e, 2)
            break
        y += 1
    return tuple(sorted(out.items()))


@lru_cache(maxsize=4096)
def _expiry_close_ns(e: dt.date) -> int:
    return int(dt.datetime(e.year, e.month, e.day, 16, 0, tzinfo=NY).timestamp()) * 1_000_000_000


def strike_step(spot: float, is_etf: bool) -> float:
    """Base strike increment (USD) for an underlying at ``spot``."""
    if spot < 25:
        return 0.5
    if is_etf and spot < 1000:
        return 1.0
    if spot < 100:
        return 1.0
    if spot < 250:
        return 2.5
    if spot < 1000:
        return 5.0
    return 10.0


def _next_step(step: float) -> float:
    for s in _LADDER:
        if s > step:
            return s
    return step * 2


@lru_cache(maxsize=200_000)
def _occ(root: str, expiry: dt.date, right: str, strike_milli: int) -> str:
    return format_occ(root, expiry, right, strike_milli / 1000.0)


@lru_cache(maxsize=4096)
def _root_hash(root: str) -> int:
    return stable_u64("occ-root", root)


def _contract_hash(
    root: str, expiry_ordinal: np.ndarray, is_call: np.ndarray, strike_milli: np.ndarray
) -> np.ndarray:
    """64-bit hash of an option symbol's parts (root, expiry, right, strike): a function of the
    symbol only, computed without building strings."""
    h = np.full(len(strike_milli), _root_hash(root), dtype=np.uint64)
    for f in (expiry_ordinal, is_call, strike_milli):
        h = _mix64(h ^ np.asarray(f).astype(np.int64).astype(np.uint64))
    return h


# ----------------------------------------------------------------------------- contracts


@dataclass(frozen=True)
class Contracts:
    """Listed contracts of one underlying on one session, ordered by (expiry, right C then P,
    strike). ``block_lo/block_hi`` bound each contract's (expiry, right) block."""

    expiry: np.ndarray  # object: datetime.date
    kind: np.ndarray  # 0 weekly, 1 monthly, 2 far
    dte: np.ndarray  # calendar days to expiry
    exp_close_ns: np.ndarray  # UTC ns of 16:00 ET on the expiry
    strike: np.ndarray
    is_call: np.ndarray
    symbol: np.ndarray  # object: OCC compact symbol
    sym_hash: np.ndarray  # uint64
    block_lo: np.ndarray
    block_hi: np.ndarray
    opposite: np.ndarray  # same expiry and strike, other right
    calendar: np.ndarray  # same strike and right, next expiry (or -1)

    def __len__(self) -> int:
        return len(self.strike)


def build_contracts(
    ticker: str, d: dt.date, spot_ref: float, atm_iv: float, is_etf: bool
) -> Contracts:
    """The contract list of ``ticker`` on session ``d`` (see module doc)."""
    base = strike_step(spot_ref, is_etf)
    exp_l, kind_l, strikes_l = [], [], []
    for e, kind in expiries(d):
        tau = max((e - d).days, 1) / 365.0
        w = min(max(2.5 * atm_iv * math.sqrt(tau), 0.06), 0.8)
        step = _next_step(base) if kind == 2 else base
        while spot_ref * w / step > 30:
            step = _next_step(step)
        k_lo = max(1, math.ceil(spot_ref * (1 - w) / step))
        k_hi = max(k_lo, math.floor(spot_ref * (1 + w) / step))
        exp_l.append(e)
        kind_l.append(kind)
        strikes_l.append(np.round(np.arange(k_lo, k_hi + 1) * step, 3))
    parts_e, parts_k, parts_s, parts_c = [], [], [], []
    lo_l, hi_l, opp_l, cal_l = [], [], [], []
    offset = 0
    offsets = []
    for e, kind, ks in zip(exp_l, kind_l, strikes_l, strict=True):
        m = len(ks)
        offsets.append(offset)
        parts_e.append(np.full(2 * m, e, dtype=object))
        parts_k.append(np.full(2 * m, kind, dtype=np.int8))
        parts_s.append(np.concatenate([ks, ks]))
        parts_c.append(np.repeat([True, False], m))
        lo_l.append(np.repeat([offset, offset + m], m))
        hi_l.append(np.repeat([offset + m, offset + 2 * m], m))
        opp_l.append(np.concatenate([np.arange(m) + offset + m, np.arange(m) + offset]))
        offset += 2 * m
    for j, ks in enumerate(strikes_l):
        m = len(ks)
        cal = np.full(2 * m, -1, dtype=np.int64)
        if j + 1 < len(strikes_l):
            nxt = strikes_l[j + 1]
            pos = np.searchsorted(nxt, ks)
            ok = (pos < len(nxt)) & (nxt[np.minimum(pos, len(nxt) - 1)] == ks)
            base_next = offsets[j + 1]
            cal[:m] = np.where(ok, base_next + pos, -1)
            cal[m:] = np.where(ok, base_next + len(nxt) + pos, -1)
        cal_l.append(cal)
    expiry = np.concatenate(parts_e)
    strike = np.concatenate(parts_s)
    is_call = np.concatenate(parts_c)
    milli = np.round(strike * 1000).astype(np.int64)
    symbols = np.array(
        [
            _occ(ticker, e, "C" if c else "P", int(k))
            for e, c, k in zip(expiry, is_call, milli, strict=True)
        ],
        dtype=object,
    )
    dte = np.array([(e - d).days for e in exp_l], dtype=np.int64)
    counts = np.array([2 * len(ks) for ks in strikes_l])
    ordinals = np.repeat(np.array([e.toordinal() for e in exp_l], dtype=np.int64), counts)
    hashes = _contract_hash(ticker, ordinals, is_call, milli)
    close_ns = np.array([_expiry_close_ns(e) for e in exp_l], dtype=np.int64)
    return Contracts(
        expiry=expiry,
        kind=np.concatenate(parts_k),
        dte=np.repeat(dte, counts),
        exp_close_ns=np.repeat(close_ns, counts),
        strike=strike,
        is_call=is_call,
        symbol=symbols,
        sym_hash=hashes,
        block_lo=np.concatenate(lo_l),
        block_hi=np.concatenate(hi_l),
        opposite=np.concatenate(opp_l),
        calendar=np.concatenate(cal_l),
    )


# ----------------------------------------------------------------------------- surface


@dataclass(frozen=True)
class Surface:
    """Implied-volatility surface parameters of one ticker-session."""

    atm_short: float
    atm_long: float
    skew: float
    smile: float
    rate: float
    div_yield: float

    def atm(self, tau: np.ndarray) -> np.ndarray:
        return self.atm_long + (self.atm_short - self.atm_long) * np.exp(-tau / 0.25)

    def iv(self, strike: np.ndarray, spot: np.ndarray | float, tau: np.ndarray) -> np.ndarray:
        """IV of strikes at ``spot`` and times ``tau`` (years)."""
        atm = self.atm(tau)
        fwd = spot * np.exp((self.rate - self.div_yield) * tau)
        x = np.log(strike / fwd) / (atm * np.sqrt(np.maximum(tau, 1.0 / 365.0)))
        x = np.clip(x, -4.0, 4.0)
        return np.clip(atm * (1.0 - self.skew * x + self.smile * x * x), 0.4 * atm, 4.0 * atm)


def quotes(theo: np.ndarray, rel_half: float, wing: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """NBBO bid/ask (USD) around theoretical values: half-spread ``rel_half`` of the value
    (wider in the wings), at least half a tick; ticks 0.01 under 3 USD, else 0.05."""
    tick = np.where(theo < 3.0, 0.01, 0.05)
    half = np.maximum(0.5 * tick, theo * rel_half * (1.0 + 0.3 * wing)) + 0.004
    bid = np.maximum(np.floor((theo - half) / tick + 1e-9) * tick, 0.0)
    ask = np.ceil((theo + half) / tick - 1e-9) * tick
    ask = np.maximum(ask, bid + tick)
    return np.round(bid, 2), np.round(ask, 2)


def _wing(
    strike: np.ndarray, spot: np.ndarray | float, atm: np.ndarray, tau: np.ndarray
) -> np.ndarray:
    return np.minimum(
        np.abs(np.log(strike / spot)) / (atm * np.sqrt(np.maximum(tau, 1.0 / 365.0))), 4.0
    )


def _uniform_from_hash(h: np.ndarray, salt: int) -> np.ndarray:
    z = h ^ np.uint64(salt & 0xFFFFFFFFFFFFFFFF)
    z = _mix64(z)
    return ((z >> np.uint64(11)).astype(np.float64) + 0.5) * (1.0 / 9007199254740992.0)


def _mix64(z: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser (vectorised, wrapping uint64 arithmetic)."""
    z = z.astype(np.uint64, copy=True)
    z ^= z >> np.uint64(30)
    z *= np.uint64(0xBF58476D1CE4E5B9)
    z ^= z >> np.uint64(27)
    z *= np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    return z


def open_interest(
    c: Contracts, spot_ref: float, surface: Surface, scale: float, seed: int
) -> np.ndarray:
    """Open interest (contracts) at the start of the session."""
    tau = np.maximum(c.dte, 0) / 365.0
    atm = surface.atm(tau)
    x = np.abs(np.log(c.strike / spot_ref)) / (atm * np.sqrt(np.maximum(tau, 7.0 / 365.0)))
    w = np.exp(-0.5 * (x / 1.2) ** 2) + 0.04 * np.exp(-x / 2.0)
    kindf = np.array([1.0, 2.5, 1.8])[c.kind]
    kindf = np.where(c.kind == 0, kindf * np.clip((c.dte + 2) / 12.0, 0.25, 1.0), kindf)
    u = _uniform_from_hash(c.sym_hash, seed * 7919 + 11)
    noise = np.exp(0.6 * ndtri(u) - 0.18)
    return np.floor(scale * w * kindf * noise).astype(np.int64)


# ----------------------------------------------------------------------------- prints


@dataclass(frozen=True)
class DayInputs:
    """Everything the chain and print generators need about one ticker-session."""

    seed: int
    ticker: str
    day: dt.date
    is_etf: bool
    liquidity: float  # 0 (most liquid) .. 1
    open: float
    close: float
    prev_close: float
    sd_day: float  # typical daily return std
    open_ns: int  # UTC ns of the session open
    close_ns: int
    n_prints: float  # expected prints for the day
    size_scale: float
    surface: Surface
    intraday: IntradayDay
    events: tuple[IntradayEvent, ...]


@dataclass(frozen=True)
class PrintsDay:
    """Raw prints of one ticker-session in received order (arrays aligned)."""

    contract: np.ndarray  # index into Contracts
    t_ns: np.ndarray  # ns after the open (the SIP timestamp of the trade)
    exchange: np.ndarray
    price: np.ndarray
    size: np.ndarray
    cond: np.ndarray  # condition id
    correction: np.ndarray
    bid: np.ndarray
    ask: np.ndarray
    seq: np.ndarray
    order_type: np.ndarray  # internal: ORDER_NAMES index
    informed: np.ndarray  # internal: part of an informed-flow order


def _cat(cum: np.ndarray, u: np.ndarray) -> np.ndarray:
    return np.minimum(np.searchsorted(cum, u * cum[-1], side="right"), len(cum) - 1)


def _pareto(u: np.ndarray, xm: float, alpha: float, cap: float) -> np.ndarray:
    return np.minimum(np.floor(xm * (1.0 - u) ** (-1.0 / alpha)), cap)


def _segment_starts(nlegs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    order = np.repeat(np.arange(len(nlegs)), nlegs)
    starts = np.cumsum(nlegs) - nlegs
    leg = np.arange(order.shape[0]) - starts[order]
    return order, starts, leg


def _contract_weights(c: Contracts, inp: DayInputs) -> np.ndarray:
    tau = np.maximum(c.dte, 0) / 365.0
    atm = inp.surface.atm(tau)
    x = np.abs(np.log(c.strike / inp.open)) / (atm * np.sqrt(np.maximum(tau, 2.0 / 365.0)))
    mw = np.exp(-0.5 * (x / 0.9) ** 2) + 0.03 * np.exp(-x / 3.0)
    ew = np.exp(-c.dte / 10.0) + 0.15 * np.exp(-c.dte / 60.0)
    ew = np.where(c.kind == 1, ew * 1.5, ew)
    ew = np.where(c.dte == 0, ew * (2.0 if inp.is_etf else 0.8), ew)
    prev_ret = math.log(inp.open / inp.prev_close) if inp.prev_close > 0 else 0.0
    call_share = 0.55 + 0.08 * math.tanh(prev_ret / max(inp.sd_day, 1e-4))
    rw = np.where(c.is_call, call_share, 1.0 - call_share)
    return mw * ew * rw


def _informed_orders(
    rng: np.random.Generator, c: Contracts, inp: DayInputs, ev: IntradayEvent
) -> dict[str, np.ndarray]:
    """Aggressive buy-side sweeps and blocks in the event's direction inside its flow window."""
    n_sw = 5 + int(rng.integers(0, 10)) if ev.kind == 1 else 4 + int(rng.integers(0, 7))
    n_bl = 1 + int(rng.integers(0, 2)) if ev.kind == 1 else 1 + int(rng.integers(0, 3))
    n = n_sw + n_bl
    t = (ev.flow_start + (ev.flow_end - ev.flow_start) * rng.random(n)) * 60e9
    j0 = min(int(ev.flow_start * 60e9 // STEP_NS), len(inp.intraday.path) - 1)
    spot = float(inp.intraday.path[j0])
    want_call = ev.direction > 0
    mny = c.strike / spot
    if ev.kind == 1:
        dte_ok = c.dte <= max(10, int(c.dte.min()))
        lo, hi = (1.0, 1.05) if want_call else (0.95, 1.0)
    else:
        dte_ok = (c.dte >= 7) & (c.dte <= 60)
        lo, hi = (1.02, 1.10) if want_call else (0.90, 0.98)
    cand = np.flatnonzero((c.is_call == want_call) & dte_ok & (mny >= lo) & (mny <= hi))
    if cand.size == 0:
        side = np.flatnonzero((c.is_call == want_call) & dte_ok)
        if side.size == 0:
            side = np.flatnonzero(c.is_call == want_call)
        cand = side[np.argsort(np.abs(mny[side] - (lo + hi) / 2), kind="stable")[:4]]
    w = 1.0 / (1.0 + c.dte[cand])
    pick = cand[_cat(np.cumsum(w), rng.random(n))]
    otype = np.concatenate([np.full(n_sw, SWEEP), np.full(n_bl, BLOCK)])
    u = rng.random(n)
    total = np.where(
        otype == SWEEP,
        _pareto(u, 300.0 * inp.size_scale, 1.4, 8000.0),
        _pareto(u, 800.0 * inp.size_scale, 1.6, 15000.0),
    )
    return {"otype": otype, "t": t, "contract": pick, "total": total}


def build_prints(c: Contracts, inp: DayInputs) -> PrintsDay:
    """Every option print of one ticker-session (see module doc and the vendor doc).

    Orders are drawn first (type, time from the intraday volume profile, contract from weights
    concentrated near the money and near expiry, side, total size from heavy-tailed laws), then
    expanded into prints (legs): sweeps over 2-8 distinct exchanges within a few ms at/through the
    quote (condition 219), splits on one exchange, blocks/crosses (227-231), two-contract
    multi-leg prints (232-239), stock-option prints (237, 240-245) and compression (247). Informed
    flow adds aggressive sweeps and blocks. Then some single prints become late reports (204,
    received up to 12 minutes later) and some prints are cancelled by a mirror print (201/203,
    correction 1) seconds to minutes later.
    """
    rng = rng_for(inp.seed, "prints", inp.ticker, inp.day.toordinal())
    day = inp.intraday
    session_ns = inp.close_ns - inp.open_ns
    n_orders = int(rng.poisson(max(inp.n_prints, 0.0) / MEAN_PRINTS_PER_ORDER))
    # ---- regular orders
    otype = _cat(_ORDER_CUM, rng.random(n_orders)).astype(np.int64)
    mw = np.cumsum(day.volume + 1.0)
    minute = _cat(mw, rng.random(n_orders))
    t0 = (minute + rng.random(n_orders)) * 60e9
    contract = _cat(np.cumsum(_contract_weights(c, inp)), rng.random(n_orders))
    u_size = rng.random(n_orders)
    scale = inp.size_scale
    total = np.select(
        [
            otype == SINGLE,
            otype == SWEEP,
            otype == SPLIT,
            otype == BLOCK,
            otype == MULTI,
            otype == STOCKOPT,
        ],
        [
            _pareto(u_size, 1.0 * scale, 1.3, 2000.0),
            _pareto(u_size, 10.0 * scale, 1.2, 20000.0),
            _pareto(u_size, 5.0 * scale, 1.3, 5000.0),
            _pareto(u_size, 100.0 * scale, 1.8, 10000.0),
            _pareto(u_size, 5.0 * scale, 1.3, 5000.0),
            _pareto(u_size, 20.0 * scale, 1.4, 10000.0),
        ],
        _pareto(u_size, 300.0, 1.6, 20000.0),
    )
    informed = np.zeros(n_orders, dtype=bool)
    for ev in inp.events:
        extra = _informed_orders(rng, c, inp, ev)
        k = len(extra["otype"])
        otype = np.concatenate([otype, extra["otype"]])
        t0 = np.concatenate([t0, extra["t"]])
        contract = np.concatenate([contract, extra["contract"]])
        total = np.concatenate([total, extra["total"]])
        informed = np.concatenate([informed, np.ones(k, dtype=bool)])
    n_orders = len(otype)
    buy = np.where(informed, True, rng.random(n_orders) < np.where(otype == SWEEP, 0.53, 0.5))
    # ---- legs
    nlegs = np.ones(n_orders, dtype=np.int64)
    sw = otype == SWEEP
    sp = otype == SPLIT
    nlegs[sw] = 2 + np.minimum(rng.poisson(2.0, sw.sum()), 6)
    nlegs[sp] = 2 + np.minimum(rng.poisson(1.0, sp.sum()), 4)
    nlegs[otype == MULTI] = 2
    order, starts, leg = _segment_starts(nlegs)
    n_legs = len(order)
    lt = otype[order]
    # partner contract of multi-leg orders
    u_p = rng.random(n_orders)
    k_off = 1 + (rng.random(n_orders) * 3).astype(np.int64)
    up_ok = contract + k_off < c.block_hi[contract]
    vert = np.where(up_ok, contract + k_off, np.maximum(contract - k_off, c.block_lo[contract]))
    vert = np.where(vert == contract, c.opposite[contract], vert)
    cal = np.where(c.calendar[contract] >= 0, c.calendar[contract], vert)
    partner = np.where(u_p < 0.6, vert, np.where(u_p < 0.8, c.opposite[contract], cal))
    leg_contract = np.where((lt == MULTI) & (leg == 1), partner[order], contract[order])
    # leg timing: sweeps 0.05-1.5 ms apart, splits 2-250 ms apart
    gap = np.zeros(n_legs)
    u_g = rng.random(n_legs)
    gap = np.where(lt == SWEEP, (0.05 + 1.45 * u_g) * 1e6, gap)
    gap = np.where(lt == SPLIT, (2.0 + 248.0 * u_g) * 1e6, gap)
    gap[starts] = 0.0
    cs = np.cumsum(gap)
    offset = cs - cs[starts][order]
    t_leg = np.minimum(t0[order] + offset, session_ns - 1e6 * (8 - leg)).astype(np.int64)
    t_leg = np.maximum(t_leg, 0)
    # exchanges
    ex_single = _EX_IDS[_cat(_EX_CUM, rng.random(n_orders))]
    ex_floor = _FLOOR_IDS[_cat(_FLOOR_CUM, rng.random(n_orders))]
    exch = ex_single[order]
    floor_like = (lt == BLOCK) | (lt == COMPRESSION)
    exch = np.where(floor_like, ex_floor[order], exch)
    sw_orders = np.flatnonzero(sw)
    if sw_orders.size:
        keys = np.log(rng.random((sw_orders.size, _EX_IDS.size))) / _EX_W[None, :]
        perm = np.argsort(-keys, axis=1, kind="stable")
        row = np.full(n_orders, -1, dtype=np.int64)
        row[sw_orders] = np.arange(sw_orders.size)
        is_sw_leg = lt == SWEEP
        exch[is_sw_leg] = _EX_IDS[perm[row[order[is_sw_leg]], leg[is_sw_leg]]]
    # sizes: split the order total over its legs (exponential weights)
    w_leg = -np.log(1.0 - rng.random(n_legs))
    wsum = np.bincount(order, weights=w_leg, minlength=n_orders)
    split_size = np.maximum(1.0, np.round(total[order] * w_leg / wsum[order]))
    ratio = np.where(rng.random(n_orders) < 0.2, 2.0, 1.0)
    size = np.where((lt == SWEEP) | (lt == SPLIT), split_size, np.maximum(total[order], 1.0))
    size = np.where((lt == MULTI) & (leg == 1), np.maximum(1.0, total[order] * ratio[order]), size)
    size = size.astype(np.int64)
    # market at the print: underlying from the intraday path, value from the surface
    j = np.minimum(t_leg // STEP_NS, len(day.path) - 1)
    spot = day.path[j]
    k = c.strike[leg_contract]
    tau = np.maximum((c.exp_close_ns[leg_contract] - (inp.open_ns + t_leg)) / YEAR_NS, MIN_YEARS)
    iv = inp.surface.iv(k, spot, tau)
    calls = c.is_call[leg_contract]
    theo = bs_price(spot, k, tau, iv, inp.surface.rate, inp.surface.div_yield, calls)
    rel_half = 0.012 + 0.03 * inp.liquidity
    bid, ask = quotes(theo, rel_half, _wing(k, spot, inp.surface.atm(tau), tau))
    mid = 0.5 * (bid + ask)
    tick = np.where(ask < 3.0, 0.01, 0.05)
    # prices by order type and side
    u1 = rng.random(n_legs)
    u2 = rng.random(n_legs)
    b_leg = buy[order]
    inf_leg = informed[order]
    # single: at the quote 55 %, between mid and quote 25 %, mid 20 %
    toward = np.where(u1 < 0.55, 1.0, np.where(u1 < 0.8, 0.3 + 0.6 * u2, 0.0))
    px_single = np.where(b_leg, mid + (ask - mid) * toward, mid - (mid - bid) * toward)
    # sweep: at the quote, later legs sometimes through it by 1-2 ticks
    through_reg = np.where((leg > 0) & (u1 < 0.35), 1.0 + (u2 < 0.3), 0.0)
    through_inf = np.where(u1 < 0.6, 0.0, 1.0 + (u2 < 0.4))
    through = np.where(inf_leg, through_inf, through_reg)
    px_sweep = np.where(b_leg, ask + through * tick, bid - through * tick)
    # split: at the quote 70 % else near mid, same price on every leg of the order
    u_o = rng.random(n_orders)
    at_quote = (u_o < 0.7)[order]
    px_split = np.where(at_quote, np.where(b_leg, ask, bid), mid)
    # block / cross: near mid; informed blocks between mid and ask
    px_block = np.where(
        inf_leg, mid + (ask - mid) * (0.5 + 0.5 * u1), mid + (ask - bid) * (u1 - 0.5) * 0.6
    )
    px_mid = mid + (ask - bid) * (u1 - 0.5) * 0.5
    price = np.select(
        [lt == SINGLE, lt == SWEEP, lt == SPLIT, lt == BLOCK],
        [px_single, px_sweep, px_split, px_block],
        px_mid,
    )
    price = np.where(lt == SPLIT, price[starts][order], price)
    price = np.maximum(np.round(price, 2), 0.01)
    # no single print above MAX_PRINT_PREMIUM (deep in-the-money blocks would dwarf everything)
    size = np.maximum(np.minimum(size, (MAX_PRINT_PREMIUM / (100.0 * price)).astype(np.int64)), 1)
    # conditions
    cond = np.full(n_legs, 209, dtype=np.int64)
    cond[lt == SWEEP] = 219
    u_c = rng.random(n_orders)
    cond = np.where(lt == BLOCK, _BLOCK_CONDS[_cat(_BLOCK_CUM, u_c)][order], cond)
    cond = np.where(lt == MULTI, _MULTI_CONDS[_cat(_MULTI_CUM, u_c)][order], cond)
    cond = np.where(lt == STOCKOPT, _STOCKOPT_CONDS[_cat(_STOCKOPT_CUM, u_c)][order], cond)
    cond = np.where(lt == COMPRESSION, 247, cond)
    # late reports: received 20 s - 12 min after the trade time
    u_l = rng.random(n_legs)
    late = (lt == SINGLE) & (u_l < P_LATE)
    cond = np.where(late, 204, cond)
    receipt = t_leg.copy()
    receipt[late] += ((20.0 + 700.0 * rng.random(int(late.sum()))) * 1e9).astype(np.int64)
    # cancels: a mirror print (201/203, correction 1) 0.3 s - 3 min later
    u_x = rng.random(n_legs)
    can = np.flatnonzero(~late & np.isin(lt, (SINGLE, SWEEP, SPLIT, BLOCK)) & (u_x < P_CANCEL))
    n_can = can.size
    t_can = np.minimum(
        t_leg[can] + ((0.3 + 180.0 * rng.random(n_can)) * 1e9).astype(np.int64), session_ns - 1
    )
    cond_can = np.where(rng.random(n_can) < 0.75, 201, 203)

    def cat(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.concatenate([a, b])

    all_contract = cat(leg_contract, leg_contract[can])
    all_t = cat(t_leg, t_can)
    all_receipt = cat(receipt, t_can)
    all_ex = cat(exch, exch[can]).astype(np.int32)
    all_price = cat(price, price[can])
    all_size = cat(size, size[can])
    all_cond = cat(cond, cond_can)
    all_corr = cat(np.zeros(n_legs, dtype=np.int32), np.ones(n_can, dtype=np.int32))
    all_bid = cat(bid, bid[can])
    all_ask = cat(ask, ask[can])
    all_type = cat(lt, lt[can])
    all_inf = cat(inf_leg, inf_leg[can])
    tie = np.arange(len(all_t))
    ordr = np.lexsort((tie, all_receipt))
    cc = all_contract[ordr]
    by_c = np.argsort(cc, kind="stable")
    sorted_c = cc[by_c]
    first = np.r_[0, np.flatnonzero(np.diff(sorted_c)) + 1]
    run_start = np.repeat(first, np.diff(np.r_[first, len(sorted_c)]))
    seq = np.empty(len(cc), dtype=np.int64)
    seq[by_c] = np.arange(len(cc)) - run_start
    return PrintsDay(
        contract=cc,
        t_ns=all_t[ordr],
        exchange=all_ex[ordr],
        price=all_price[ordr],
        size=all_size[ordr],
        cond=all_cond[ordr],
        correction=all_corr[ordr],
        bid=all_bid[ordr],
        ask=all_ask[ordr],
        seq=seq,
        order_type=all_type[ordr],
        informed=all_inf[ordr],
    )


@dataclass(frozen=True)
class ChainDay:
    """End-of-day snapshot arrays aligned with :class:`Contracts`."""

    bid: np.ndarray
    ask: np.ndarray
    last: np.ndarray
    volume: np.ndarray
    open_interest: np.ndarray
    iv: np.ndarray
    delta: np.ndarray
    gamma: np.ndarray
    theta: np.ndarray
    vega: np.ndarray


def build_chain(c: Contracts, inp: DayInputs, prints: PrintsDay, oi_scale: float) -> ChainDay:
    """Closing snapshot: quotes, IV and greeks at the close; the session's volume and last
    price from ``prints`` (cancelled prints and their cancels excluded)."""
    tau = np.maximum((c.exp_close_ns - inp.close_ns) / YEAR_NS, MIN_YEARS)
    spot = inp.close
    iv = inp.surface.iv(c.strike, spot, tau)
    g = bs_greeks(spot, c.strike, tau, iv, inp.surface.rate, inp.surface.div_yield, c.is_call)
    rel_half = 0.012 + 0.03 * inp.liquidity
    bid, ask = quotes(g.price, rel_half, _wing(c.strike, spot, inp.surface.atm(tau), tau))
    n = len(c)
    signed = np.where(prints.correction == 1, -prints.size, prints.size).astype(np.float64)
    vol = np.maximum(np.bincount(prints.contract, weights=signed, minlength=n), 0.0)
    last = np.full(n, np.nan)
    regular = np.flatnonzero(prints.correction == 0)
    if regular.size:
        order = regular[np.lexsort((prints.t_ns[regular], prints.contract[regular]))]
        cc = prints.contract[order]
        ends = np.r_[np.flatnonzero(np.diff(cc)), len(cc) - 1]
        last[cc[ends]] = prints.price[order[ends]]
    oi = open_interest(c, inp.open, inp.surface, oi_scale, inp.seed)
    return ChainDay(bid, ask, last, vol, oi, iv, g.delta, g.gamma, g.theta, g.vega)


def print_ids(
    sym_hash: np.ndarray,
    sip_ns: np.ndarray,
    exchange: np.ndarray,
    price: np.ndarray,
    size: np.ndarray,
    cond: np.ndarray,
    seq: np.ndarray,
) -> np.ndarray:
    """Stable 32-hex-character ids from (option symbol, sip_timestamp, exchange, price, size,
    conditions, seq): two independent 64-bit splitmix chains."""
    cents = np.round(price * 10000).astype(np.int64).astype(np.uint64)
    fields = (
        sym_hash.astype(np.uint64),
        sip_ns.astype(np.int64).astype(np.uint64),
        exchange.astype(np.uint64),
        cents,
        size.astype(np.int64).astype(np.uint64),
        cond.astype(np.uint64),
        seq.astype(np.int64).astype(np.uint64),
    )
    out = np.empty((len(cents), 2), dtype=">u8")
    for col, salt in enumerate((0x9E3779B97F4A7C15, 0xD1B54A32D192ED03)):
        h = np.full(len(cents), salt, dtype=np.uint64)
        for f in fields:
            h = _mix64(h ^ f)
            h = h + np.uint64(salt)
        out[:, col] = h
    hexed = out.tobytes().hex().encode("ascii")
    return np.frombuffer(hexed, dtype="S32").astype("U32").astype(object)

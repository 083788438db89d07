"""The compiled options backtest loop (numba): entries, fills, marks and exits of one run.

Everything that needs no path dependence (expiry and strike of the structure each bar would
open, the vol inputs, the signal classes) is precomputed by :mod:`.simulate` with numpy; this
loop only walks the bars. The timing and the same-bar rule are documented in ``docs/options.md``
and :mod:`primeflow_lib.research.options.simulate`.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from primeflow_lib.pricing import bs_price_one
from primeflow_lib.research.options.vol import surface_iv

DAY_NS = 86_400_000_000_000
CLOSE_NS = 16 * 3_600_000_000_000
YEAR_NS = 365.0 * DAY_NS

# exit reason codes (index into EXIT_REASONS)
NONE, SIGNAL, STOP, PROFIT_TAKE, DTE, EXPIRY, TIME, OPEN = range(8)
EXIT_REASONS = ("none", "signal", "stop", "profit_take", "dte", "expiry", "time", "open")

# per-leg float fields of the leg output array, in this order
LEG_FIELDS = (
    "strike", "entry_spot", "entry_iv", "entry_years", "entry_mid", "entry_fill",
    "exit_spot", "exit_iv", "exit_years", "exit_mid", "exit_fill", "rate", "div_yield",
)  # fmt: skip
(F_K, F_ES, F_EIV, F_EY, F_EM, F_EF, F_XS, F_XIV, F_XY, F_XM, F_XF, F_R, F_Q) = range(13)


@nb.njit(cache=True)
def _iv(vol_mode, base_vol, skew, snap, idx, s, k, e_ns, sx, se, st, sk, ss, si):
    if vol_mode == 0:
        return base_vol[idx] + skew * max(0.0, math.log(s / k))
    return surface_iv(snap[idx], k, e_ns, sx, se, st, sk, ss, si)


@nb.njit(cache=True)
def _half_spread(mid, s, k, v, years, sp_min, sp_pct, sp_otm, sp_dte):
    hs = max(sp_min, sp_pct * mid)
    if years > 0.0 and v > 0.0:
        hs *= 1.0 + sp_otm * abs(math.log(k / s)) / (v * math.sqrt(years))
    hs *= 1.0 + sp_dte * max(0.0, 1.0 - years * 365.0 / 30.0)
    return hs


@nb.njit(cache=True)
def _fill(mid, signed_close, hs, frac):
    """Fill price per share: buying (signed_close > 0) pays mid + frac*hs; selling gets
    mid - frac*hs, never below 0."""
    if signed_close > 0:
        return mid + frac * hs
    return max(mid - frac * hs, 0.0)


@nb.njit(cache=True)
def _max_loss(nl, call, signed, ks, premium, calendar):
    """Max loss per share of one structure at expiry (inf when unbounded)."""
    if calendar:
        return max(premium, 0.0)
    slope = 0.0
    for j in range(nl):
        if call[j]:
            slope += signed[j]
    if slope < 0:
        return np.inf
    worst = np.inf
    for g in range(nl + 1):
        x = 0.0 if g == nl else ks[g]
        v = 0.0
        for j in range(nl):
            v += signed[j] * (max(x - ks[j], 0.0) if call[j] else max(ks[j] - x, 0.0))
        worst = min(worst, v - premium)
    return max(-worst, 0.0)


@nb.njit(cache=True)
def simulate_kernel(
    open_, close, t_open, t_close, day_ns, cls, exit_flag,
    nlegs, call, signed, cand_k, cand_e, is_calendar, vpairs,
    vol_mode, base_vol, skew, snap, sx, se, st, sk, ss, si,
    rate, div, fill_frac, sp_min, sp_pct, sp_otm, sp_dte, commission,
    size_mode, n_contracts, risk_frac, profit_take, stop, dte_exit, max_bars, capital,
):  # fmt: skip  # pragma: no cover - compiled
    """One pass over the bars. Returns (equity, position, trade ints [m, 6] = class, entry bar,
    exit bar, qty, reason, is_open; trade floats [m, 4] = entry premium, exit premium, pnl,
    fees; legs [m, 4, 13] (LEG_FIELDS); leg expiries [m, 4] ns; trade times [m, 2] ns;
    n_trades, skipped entries, vertical-bound violations, final cash)."""
    n = open_.shape[0]
    m = n + 1  # a trade can close and the next open at every bar
    equity = np.empty(n)
    position = np.zeros(n)
    ti = np.zeros((m, 6), dtype=np.int64)
    tf = np.zeros((m, 4))
    legs = np.full((m, 4, 13), np.nan)
    lexp = np.zeros((m, 4), dtype=np.int64)
    tts = np.zeros((m, 2), dtype=np.int64)
    cash = capital
    nt = 0
    skipped = 0
    violations = 0
    is_open = False
    pc = -1  # class of the open position
    qty = 0
    prem = 0.0
    pend_exit = NONE
    pend_entry = -1
    blocked = -1
    mids = np.zeros(4)
    for t in range(n):
        # ---- fills at the open of t (decided at the close of t - 1)
        if t > 0 and pend_exit != NONE and is_open:
            k = nt - 1
            fees = 0.0
            xprem = 0.0
            for j in range(nlegs[pc]):
                kk = legs[k, j, F_K]
                e = lexp[k, j]
                yrs = (e + CLOSE_NS - t_open[t]) / YEAR_NS
                v = _iv(vol_mode, base_vol, skew, snap, t - 1, open_[t], kk, e,
                        sx, se, st, sk, ss, si)  # fmt: skip
                r = legs[k, j, F_R]
                q = legs[k, j, F_Q]
                mid = bs_price_one(open_[t], kk, yrs, v, r, q, call[pc, j])
                hs = _half_spread(mid, open_[t], kk, v, yrs, sp_min, sp_pct, sp_otm, sp_dte)
                f = _fill(mid, -signed[pc, j], hs, fill_frac)
                legs[k, j, F_XS] = open_[t]
                legs[k, j, F_XIV] = v
                legs[k, j, F_XY] = yrs
                legs[k, j, F_XM] = mid
                legs[k, j, F_XF] = f
                xprem += signed[pc, j] * f
                fees += commission * abs(signed[pc, j]) * qty
            cash += qty * 100.0 * xprem - fees
            tf[k, 1] = xprem
            tf[k, 2] = qty * 100.0 * (xprem - prem) - tf[k, 3] - fees
            tf[k, 3] += fees
            ti[k, 2] = t
            ti[k, 4] = pend_exit
            tts[k, 1] = t_open[t]
            is_open = False
            pend_exit = NONE
        if t > 0 and pend_entry >= 0 and not is_open:
            c = pend_entry
            d = t - 1
            nl = nlegs[c]
            ks = cand_k[c, d]
            premium = 0.0
            tmp = np.zeros((4, 6))
            for j in range(nl):
                e = cand_e[c, d, j]
                yrs = (e + CLOSE_NS - t_open[t]) / YEAR_NS
                v = _iv(vol_mode, base_vol, skew, snap, d, open_[t], ks[j], e,
                        sx, se, st, sk, ss, si)  # fmt: skip
                mid = bs_price_one(open_[t], ks[j], yrs, v, rate[d], div[d], call[c, j])
                hs = _half_spread(mid, open_[t], ks[j], v, yrs, sp_min, sp_pct, sp_otm, sp_dte)
                f = _fill(mid, signed[c, j], hs, fill_frac)
                tmp[j, 0] = v
                tmp[j, 1] = yrs
                tmp[j, 2] = mid
                tmp[j, 3] = f
                premium += signed[c, j] * f
            per_struct_fees = 0.0
            for j in range(nl):
                per_struct_fees += commission * abs(signed[c, j])
            ml = _max_loss(nl, call[c], signed[c], ks, premium, is_calendar[c])
            if size_mode == 0:
                q_n = n_contracts
            elif ml > 0 and math.isfinite(ml):
                q_n = int(math.floor(risk_frac * equity[t - 1] / (ml * 100.0 + per_struct_fees)))
            else:
                q_n = 0
            if q_n < 1:
                skipped += 1
            else:
                k = nt
                nt += 1
                qty = q_n
                prem = premium
                pc = c
                fees = per_struct_fees * qty
                for j in range(nl):
                    legs[k, j, F_K] = ks[j]
                    legs[k, j, F_ES] = open_[t]
                    legs[k, j, F_EIV] = tmp[j, 0]
                    legs[k, j, F_EY] = tmp[j, 1]
                    legs[k, j, F_EM] = tmp[j, 2]
                    legs[k, j, F_EF] = tmp[j, 3]
                    legs[k, j, F_R] = rate[d]
                    legs[k, j, F_Q] = div[d]
                    lexp[k, j] = cand_e[c, d, j]
                cash -= qty * 100.0 * premium + fees
                ti[k, 0] = c
                ti[k, 1] = t
                ti[k, 3] = qty
                tf[k, 0] = premium
                tf[k, 3] = fees
                tts[k, 0] = t_open[t]
                is_open = True
        pend_entry = -1
        # ---- the close of t: mark, expiry, exit decisions
        value = 0.0
        if is_open:
            k = nt - 1
            nl = nlegs[pc]
            expired = False
            front = np.int64(2**62)
            for j in range(nl):
                if lexp[k, j] + CLOSE_NS <= t_close[t]:
                    expired = True
                front = min(front, lexp[k, j])
            if expired:
                fees = 0.0
                xprem = 0.0
                for j in range(nl):
                    kk = legs[k, j, F_K]
                    e = lexp[k, j]
                    yrs = (e + CLOSE_NS - t_close[t]) / YEAR_NS
                    if yrs <= 0.0:
                        # cash-settled at intrinsic from the expiry session's close, no costs
                        mid = max(close[t] - kk, 0.0) if call[pc, j] else max(kk - close[t], 0.0)
                        f = mid
                        v = np.nan
                        yrs = 0.0
                    else:
                        v = _iv(vol_mode, base_vol, skew, snap, t, close[t], kk, e,
                                sx, se, st, sk, ss, si)  # fmt: skip
                        mid = bs_price_one(close[t], kk, yrs, v, legs[k, j, F_R],
                                           legs[k, j, F_Q], call[pc, j])  # fmt: skip
                        hs = _half_spread(mid, close[t], kk, v, yrs, sp_min, sp_pct, sp_otm,
                                          sp_dte)  # fmt: skip
                        f = _fill(mid, -signed[pc, j], hs, fill_frac)
                        fees += commission * abs(signed[pc, j]) * qty
                    legs[k, j, F_XS] = close[t]
                    legs[k, j, F_XIV] = v
                    legs[k, j, F_XY] = yrs
                    legs[k, j, F_XM] = mid
                    legs[k, j, F_XF] = f
                    xprem += signed[pc, j] * f
                cash += qty * 100.0 * xprem - fees
                tf[k, 1] = xprem
                tf[k, 2] = qty * 100.0 * (xprem - prem) - tf[k, 3] - fees
                tf[k, 3] += fees
                ti[k, 2] = t
                ti[k, 4] = EXPIRY
                tts[k, 1] = t_close[t]
                is_open = False
                pend_exit = NONE
            else:
                smark = 0.0
                for j in range(nl):
                    kk = legs[k, j, F_K]
                    e = lexp[k, j]
                    yrs = (e + CLOSE_NS - t_close[t]) / YEAR_NS
                    v = _iv(vol_mode, base_vol, skew, snap, t, close[t], kk, e,
                            sx, se, st, sk, ss, si)  # fmt: skip
                    mids[j] = bs_price_one(close[t], kk, yrs, v, legs[k, j, F_R],
                                           legs[k, j, F_Q], call[pc, j])  # fmt: skip
                    smark += signed[pc, j] * mids[j]
                    if t == n - 1:
                        legs[k, j, F_XS] = close[t]
                        legs[k, j, F_XIV] = v
                        legs[k, j, F_XY] = yrs
                        legs[k, j, F_XM] = mids[j]
                        legs[k, j, F_XF] = mids[j]
                for p in range(2):
                    a = vpairs[pc, p, 0]
                    b = vpairs[pc, p, 1]
                    if a >= 0:
                        w = abs(legs[k, a, F_K] - legs[k, b, F_K])
                        vv = abs(signed[pc, a] * mids[a] + signed[pc, b] * mids[b])
                        if vv > w + 1e-9:
                            violations += 1
                value = qty * 100.0 * smark
                pnl = qty * 100.0 * (smark - prem)
                basis = abs(prem) * qty * 100.0
                reason = NONE
                if stop == stop and -pnl >= stop * basis:
                    reason = STOP
                elif profit_take == profit_take and pnl >= profit_take * basis:
                    reason = PROFIT_TAKE
                elif dte_exit >= 0 and (front - day_ns[t]) // DAY_NS <= dte_exit:
                    reason = DTE
                elif exit_flag[pc, t]:
                    reason = SIGNAL
                elif max_bars >= 0 and t - ti[k, 1] >= max_bars:
                    reason = TIME
                if t == n - 1:
                    tf[k, 1] = smark
                    tf[k, 2] = pnl - tf[k, 3]
                    ti[k, 2] = t
                    ti[k, 4] = OPEN
                    ti[k, 5] = 1
                    tts[k, 1] = t_close[t]
                elif reason != NONE:
                    pend_exit = reason
                    if reason == STOP:
                        blocked = pc
        equity[t] = cash + value
        if is_open:
            position[t] = -qty if prem < 0 else qty
        # ---- entry decision at the close of t (fills at the open of t + 1)
        c = cls[t]
        if blocked >= 0 and c != blocked:
            blocked = -1
        free = (not is_open) or pend_exit != NONE
        if free and t < n - 1 and c >= 0 and nlegs[c] > 0 and c != blocked:
            pend_entry = c
    return (equity, position, ti[:nt], tf[:nt], legs[:nt], lexp[:nt], tts[:nt], nt, skipped,
            violations, cash)  # fmt: skip

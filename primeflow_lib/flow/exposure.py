"""Dealer exposure beyond gamma: delta (DEX), vanna and charm exposure by strike and expiry,
next to GEX and under the same sign convention (:func:`primeflow_lib.flow.gex.convention_signs`:
``dealer_long_calls_short_puts`` counts calls +, puts -; ``dealer_short_all`` both -; an
assumption, since dealer books are not public).

Per contract, with the snapshot's spot ``S``, the contract's IV, ``T`` = calendar days from the
snapshot to expiry / 365, ``OI`` its open interest and ``sign`` the convention's sign of its
right (units of every output column):

==========  =================================================  ==============================
exposure    per contract                                       unit
==========  =================================================  ==============================
``gex``     sign x gamma x OI x 100 x S^2 x 0.01               USD of dealer delta per 1 % move
``dex``     sign x delta x OI x 100 x S                        USD of underlying dealers hold
``vanna``   sign x vanna x 0.01 x OI x 100 x S                 USD of dealer delta per +1 vol
                                                               point
``charm``   sign x charm x OI x 100 x S                        USD of dealer delta per calendar
                                                               day that passes
==========  =================================================  ==============================

``vanna`` = dDelta/dVol (per unit of volatility) and ``charm`` = dDelta/dt (as time passes,
per calendar day) are Black-Scholes (:func:`bs_vanna`, :func:`bs_charm`, no dividend yield).
Rows are summed per (snapshot, underlying, expiry, strike) into ``market.greek_exposure``;
``zero_dte`` marks contracts that expire in the session after the snapshot: the session whose
0DTE flow they are, kept apart so the exposure that vanishes that day can be read alone.

Rows that cannot carry exposure (the rules of :mod:`primeflow_lib.flow.gex`: no OI, no IV, bad
strike or right, no spot) and contracts expiring at or before the snapshot are left out; the
counts say how many (``market/gamma_exposure`` quarantines the same rows).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from primeflow_lib import calendar
from primeflow_lib.flow.gex import MOVE, MULTIPLIER, GexInputError, convention_signs
from primeflow_lib.pricing import bs_greeks
from primeflow_lib.schema.desk import GREEK_EXPOSURE

REQUIRED_COLUMNS = ("trade_date", "underlying", "expiry", "right", "strike", "open_interest", "iv",
                    "underlying_price", "vendor")
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _d1_d2(s, k, t, v, r):
    sq = v * np.sqrt(t)
    d1 = (np.log(s / k) + (r + 0.5 * v * v) * t) / sq
    return d1, d1 - sq


def bs_vanna(spot, strike, years, vol, rate=0.0) -> np.ndarray:
    """dDelta/dVol of a European option (the same for calls and puts), per unit of volatility
    (multiply by 0.01 for one volatility point); NaN where ``years`` or ``vol`` is not > 0."""
    s, k, t, v = (np.asarray(x, dtype=np.float64) for x in (spot, strike, years, vol))
    with np.errstate(invalid="ignore", divide="ignore"):
        d1, d2 = _d1_d2(s, k, t, v, rate)
        out = -np.exp(-0.5 * d1 * d1) * _INV_SQRT_2PI * d2 / v
    return np.where((t > 0) & (v > 0), out, np.nan)


def bs_charm(spot, strike, years, vol, rate=0.0) -> np.ndarray:
    """dDelta/dt of a European option as time passes, **per calendar day** (the same for calls
    and puts without dividends); NaN where ``years`` or ``vol`` is not > 0."""
    s, k, t, v = (np.asarray(x, dtype=np.float64) for x in (spot, strike, years, vol))
    with np.errstate(invalid="ignore", divide="ignore"):
        d1, d2 = _d1_d2(s, k, t, v, rate)
        sq = v * np.sqrt(t)
        per_year = -np.exp(-0.5 * d1 * d1) * _INV_SQRT_2PI * (2.0 * rate * t - d2 * sq) / (2.0 * t * sq)
    return np.where((t > 0) & (v > 0), per_year / 365.0, np.nan)


def compute_exposure(chain: pd.DataFrame, *, convention: str, rate: float = 0.0) -> tuple[pd.DataFrame, dict[str, int]]:
    """``(market.greek_exposure rows, counts)`` from ``market.option_chain`` rows (one or several
    snapshots). ``counts``: ``contracts_used``, ``contracts_expired``, ``contracts_unusable``.

    Raises:
        GexInputError: an unknown convention or a missing column.
    """
    call_sign, put_sign = convention_signs(convention)
    missing = [c for c in REQUIRED_COLUMNS if c not in chain.columns]
    if missing:
        raise GexInputError(f"chain frame lacks the column(s) {missing} (market.option_chain columns)")
    counts = {"contracts_used": 0, "contracts_expired": 0, "contracts_unusable": 0}
    if chain.empty:
        return pd.DataFrame(columns=GREEK_EXPOSURE.column_names), counts
    df = chain[list(REQUIRED_COLUMNS)].copy()
    df["trade_date"] = pd.to_datetime(df["trade_date"], errors="coerce")
    df["expiry"] = pd.to_datetime(df["expiry"], errors="coerce")
    for c in ("strike", "open_interest", "iv", "underlying_price"):
        df[c] = pd.to_numeric(df[c], errors="coerce")
    df["right"] = df["right"].astype(str).str.strip().str.upper().str[0]
    spot = df.groupby(["trade_date", "underlying"])["underlying_price"].median().rename("spot")
    df = df.join(spot, on=["trade_date", "underlying"])
    ok = (df["underlying"].notna() & df["trade_date"].notna() & df["right"].isin(["C", "P"])
          & np.isfinite(df["strike"]) & (df["strike"] > 0) & df["expiry"].notna()
          & df["open_interest"].notna() & (df["open_interest"] >= 0)
          & np.isfinite(df["iv"]) & (df["iv"] > 0) & np.isfinite(df["spot"]) & (df["spot"] > 0))
    counts["contracts_unusable"] = int((~ok).sum())
    df = df[ok].copy()
    days = (df["expiry"] - df["trade_date"]).dt.days.to_numpy()
    alive = days > 0
    counts["contracts_expired"] = int((~alive).sum())
    df, days = df[alive].copy(), days[alive]
    counts["contracts_used"] = len(df)
    if df.empty:
        return pd.DataFrame(columns=GREEK_EXPOSURE.column_names), counts
    S, K = df["spot"].to_numpy(np.float64), df["strike"].to_numpy(np.float64)
    T, V = days / 365.0, df["iv"].to_numpy(np.float64)
    call = (df["right"] == "C").to_numpy()
    g = bs_greeks(S, K, T, V, rate, 0.0, call)
    w = np.where(call, call_sign, put_sign) * df["open_interest"].to_numpy(np.float64) * MULTIPLIER
    df["gex"] = w * g.gamma * S * S * MOVE
    df["dex"] = w * g.delta * S
    df["vanna"] = w * bs_vanna(S, K, T, V, rate) * 0.01 * S
    df["charm"] = w * bs_charm(S, K, T, V, rate) * S
    df["call_oi"] = np.where(call, df["open_interest"], 0)
    df["put_oi"] = np.where(call, 0, df["open_interest"])
    day = df["trade_date"].dt.date
    nxt = {d: calendar.next_session(d) for d in day.unique()}
    df["zero_dte"] = df["expiry"].dt.date <= day.map(nxt)
    out = (df.groupby(["trade_date", "underlying", "expiry", "strike"], sort=True)
           .agg(spot=("spot", "first"), zero_dte=("zero_dte", "first"), gex=("gex", "sum"),
                dex=("dex", "sum"), vanna=("vanna", "sum"), charm=("charm", "sum"),
                call_oi=("call_oi", "sum"), put_oi=("put_oi", "sum"), contracts=("gex", "size"),
                vendor=("vendor", lambda x: "+".join(sorted(set(map(str, x))))))
           .reset_index())
    out["trade_date"] = out["trade_date"].dt.date
    out["expiry"] = out["expiry"].dt.date
    out["convention"] = convention
    for c in ("call_oi", "put_oi", "contracts"):
        out[c] = out[c].astype(np.int64)
    return out[GREEK_EXPOSURE.column_names], counts

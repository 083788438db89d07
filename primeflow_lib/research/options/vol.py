"""Volatility for pricing option legs: the stored chain's IV, or a realised-volatility proxy.

``iv_source: chain``
    The IV of the newest ``market.option_chain`` snapshot of the underlying dated no later than
    the bar whose close is being priced (a fill at the open of bar ``t`` uses the snapshot of
    bar ``t - 1`` or earlier: the fill bar's own snapshot is taken at its close). Per
    (expiry, strike) the IV is the mean of the call and put IVs that are present and > 0 (rows
    without an IV are ignored and counted in the run's note). Between listed strikes the IV is
    linear in strike (flat beyond the first / last); between expiries it is linear in total
    variance ``iv^2 * tau`` in ``tau`` (years from the snapshot date to each expiry), flat IV
    beyond the first / last. A snapshot older than ``chain_max_age_days`` calendar days at a
    bar that needs it, or no snapshot at all, is an error naming ``options.iv_source``.
``iv_source: realized``
    ``sigma_t`` = annualised standard deviation (ddof = 1) of the last ``vol_window`` log
    returns up to the close of bar ``t`` (``sqrt(periods per year)`` scaling), times
    ``vol_premium`` (1.0 = none), plus ``put_skew`` vol points per unit of log-moneyness below
    the spot: ``iv(K) = sigma_t * vol_premium + put_skew * max(0, ln(S / K))`` (calls and puts of
    one strike get the same vol, so put-call parity holds).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba as nb
import numpy as np
import pandas as pd

from primeflow_lib.research.errors import RunConfigError

DAY_NS = 86_400_000_000_000


def realized_vol(close: np.ndarray, window: int, periods_per_year: float) -> np.ndarray:
    """Annualised realised volatility at each bar (NaN for the first ``window`` bars).

    Raises :class:`RunConfigError` naming ``options.vol_window`` when the series has fewer than
    ``window + 1`` closes."""
    c = np.asarray(close, dtype=np.float64)
    if len(c) < window + 1:
        raise RunConfigError(
            f"options.vol_window: {window} needs at least {window + 1} bars; "
            f"the series has {len(c)}"
        )
    r = pd.Series(np.log(c[1:] / c[:-1]))
    sd = r.rolling(window, min_periods=window).std(ddof=1).to_numpy()
    return np.concatenate([[np.nan], sd]) * math.sqrt(periods_per_year)


@dataclass(frozen=True)
class Surface:
    """Packed IV snapshots (see :func:`build_surface`); the arrays feed :func:`surface_iv`."""

    dates: np.ndarray  # datetime64[D] per snapshot, sorted
    snap_exp: np.ndarray  # int64 offsets: snapshot i owns expiry slots [snap_exp[i], snap_exp[i+1])
    exp_ns: np.ndarray  # int64 expiry date ns per slot
    exp_tau: np.ndarray  # years from snapshot date to expiry per slot
    exp_k: np.ndarray  # int64 offsets into strikes/ivs per slot
    strikes: np.ndarray
    ivs: np.ndarray
    ignored: int  # quotes without a usable IV


def build_surface(chain: pd.DataFrame, underlying: str) -> Surface:
    """Pack the ``market.option_chain`` rows of ``underlying`` (columns trade_date, underlying,
    expiry, right, strike, iv) into a :class:`Surface`. Expiries at or before the snapshot date
    are left out. Raises :class:`RunConfigError` naming ``options.iv_source`` when there are no
    rows with an IV for the underlying."""
    need = {"trade_date", "expiry", "strike", "iv"}
    missing = need - set(chain.columns)
    if missing:
        raise RunConfigError(f"options.iv_source: chain rows lack columns {sorted(missing)}")
    df = chain
    if "underlying" in df.columns:
        df = df[df["underlying"].astype(str).str.upper() == underlying.upper()]
    td = pd.to_datetime(df["trade_date"]).to_numpy("datetime64[D]")
    ex = pd.to_datetime(df["expiry"]).to_numpy("datetime64[D]")
    iv = pd.to_numeric(df["iv"], errors="coerce").to_numpy(np.float64)
    k = pd.to_numeric(df["strike"], errors="coerce").to_numpy(np.float64)
    ok = np.isfinite(iv) & (iv > 0) & np.isfinite(k) & (k > 0) & (ex > td)
    ignored = int((~ok).sum())
    if not ok.any():
        raise RunConfigError(
            f"options.iv_source: 'chain' but market.option_chain has no snapshot with an IV for "
            f"{underlying!r}; load the chain or set iv_source: realized"
        )
    g = (
        pd.DataFrame({"d": td[ok], "e": ex[ok], "k": k[ok], "iv": iv[ok]})
        .groupby(["d", "e", "k"], sort=True)["iv"]
        .mean()
        .reset_index()
    )
    d = g["d"].to_numpy("datetime64[D]")
    e = g["e"].to_numpy("datetime64[D]")
    new_slot = np.ones(len(g), dtype=bool)
    new_slot[1:] = (d[1:] != d[:-1]) | (e[1:] != e[:-1])
    slot_start = np.flatnonzero(new_slot)
    slot_d = d[slot_start]
    new_snap = np.ones(len(slot_start), dtype=bool)
    new_snap[1:] = slot_d[1:] != slot_d[:-1]
    snap_start = np.flatnonzero(new_snap)
    exp_ns = e[slot_start].astype("datetime64[ns]").view(np.int64)
    tau = (e[slot_start] - slot_d).astype(np.int64) / 365.0
    return Surface(
        dates=slot_d[snap_start],
        snap_exp=np.append(snap_start, len(slot_start)).astype(np.int64),
        exp_ns=exp_ns.astype(np.int64),
        exp_tau=tau.astype(np.float64),
        exp_k=np.append(slot_start, len(g)).astype(np.int64),
        strikes=g["k"].to_numpy(np.float64),
        ivs=g["iv"].to_numpy(np.float64),
        ignored=ignored,
    )


def snapshot_index(surface: Surface, bar_days: np.ndarray) -> np.ndarray:
    """Index of the newest snapshot dated on or before each bar's session (-1 = none)."""
    return np.searchsorted(surface.dates, bar_days.astype("datetime64[D]"), side="right") - 1


@nb.njit(cache=True)
def _strike_iv(strikes, ivs, a, b, k):  # pragma: no cover - compiled
    if k <= strikes[a]:
        return ivs[a]
    if k >= strikes[b - 1]:
        return ivs[b - 1]
    j = a + np.searchsorted(strikes[a:b], k)
    w = (k - strikes[j - 1]) / (strikes[j] - strikes[j - 1])
    return ivs[j - 1] + w * (ivs[j] - ivs[j - 1])


@nb.njit(cache=True)
def surface_iv(snap, k, expiry_ns, snap_exp, exp_ns, exp_tau, exp_k, strikes, ivs):
    """IV of snapshot ``snap`` at strike ``k`` and expiry ``expiry_ns`` (see the module doc);
    NaN when ``snap < 0``."""  # pragma: no cover - compiled
    if snap < 0:
        return np.nan
    a = snap_exp[snap]
    b = snap_exp[snap + 1]
    j = a + np.searchsorted(exp_ns[a:b], expiry_ns)
    if j <= a:
        return _strike_iv(strikes, ivs, exp_k[a], exp_k[a + 1], k)
    if j >= b:
        return _strike_iv(strikes, ivs, exp_k[b - 1], exp_k[b], k)
    if exp_ns[j] == expiry_ns:
        return _strike_iv(strikes, ivs, exp_k[j], exp_k[j + 1], k)
    v0 = _strike_iv(strikes, ivs, exp_k[j - 1], exp_k[j], k)
    v1 = _strike_iv(strikes, ivs, exp_k[j], exp_k[j + 1], k)
    t0 = exp_tau[j - 1]
    t1 = exp_tau[j]
    tau = t0 + (expiry_ns - exp_ns[j - 1]) / (exp_ns[j] - exp_ns[j - 1]) * (t1 - t0)
    w = (v0 * v0 * t0 + (tau - t0) / (t1 - t0) * (v1 * v1 * t1 - v0 * v0 * t0)) / tau
    return math.sqrt(max(w, 0.0))


@nb.njit(cache=True)
def surface_iv_many(snaps, ks, expiries, snap_exp, exp_ns, exp_tau, exp_k, strikes, ivs):
    """:func:`surface_iv` over arrays."""  # pragma: no cover - compiled
    out = np.empty(len(ks))
    for i in range(len(ks)):
        out[i] = surface_iv(
            snaps[i], ks[i], expiries[i], snap_exp, exp_ns, exp_tau, exp_k, strikes, ivs
        )
    return out


def surface_arrays(s: Surface) -> tuple[np.ndarray, ...]:
    """The arrays :func:`surface_iv` takes after ``snap, k, expiry_ns``."""
    return (s.snap_exp, s.exp_ns, s.exp_tau, s.exp_k, s.strikes, s.ivs)


def empty_surface_arrays() -> tuple[np.ndarray, ...]:
    """Placeholder arrays of the right types for runs with ``iv_source: realized``."""
    z = np.zeros(1, dtype=np.int64)
    return (z, z, np.zeros(1), z, np.zeros(1), np.zeros(1))
